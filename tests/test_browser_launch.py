"""Launches from the sandbox LMS in real Chromium, inside its course iframe.

The tool runs on http://localhost:<port> and the sandbox on http://127.0.0.1:<port>,
two different sites, so inside the sandbox's `tool_frame` the tool is a third
party and Chromium's third-party cookie rules apply to it.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Playwright, expect

from tests.browser import (  # noqa: F401  (the *_fixture imports register fixtures)
    COOKIE_PROBE_JS,
    THIRD_PARTY_COOKIES_BLOCKED,
    WAIT_MS,
    browser_fixture,
    frame_cookieless_browser_fixture,
    launch_chromium,
    launch_paths,
    launch_profile,
    new_context,
    open_launch,
    playwright_fixture,
    sandbox_launch_url,
    tool_cookies,
)

LEARNER_NAME = "Alex Rivera"
COORDINATOR_NAME = "Jordan Lee"


@pytest.fixture
def tool_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.INFO, logger="lti_tool.web.lti")
    return caplog


def pss_title(live: Any) -> str:
    return str(live.tool_app.extensions["catalog"].programs["pss"].title)


@pytest.mark.browser
def test_learner_lands_through_platform_storage_when_frame_keeps_no_cookie(
    live: Any, frame_cookieless_browser: Browser, tool_log: pytest.LogCaptureFixture
) -> None:
    """No cookie of the tool survives in the frame: platform storage binds the launch.

    How the frame is kept cookieless: Chromium's own per-site cookie rule, set in
    the profile's Preferences, blocks the tool's host whenever the sandbox's host
    is the top-level site (see TOOL_IN_SANDBOX_COOKIES_BLOCKED in tests/browser.py).
    Blocking third-party cookies is not enough: Chromium 156 keeps Partitioned
    (CHIPS) cookies with third-party cookies blocked, so the state cookie would
    still come back (see the third-party-blocking test below). The per-site rule
    is chosen over a Playwright route that strips Set-Cookie because Chromium's
    real cookie machinery does the refusing, for headers and document.cookie
    alike, and the tool gets its cookies back as a first party in its own window.
    """
    context = new_context(frame_cookieless_browser)
    posts: list[str] = []
    context.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    try:
        _, frame = open_launch(
            context,
            sandbox_launch_url(
                live.sandbox_url,
                "pss-cohort",
                "pss-program",
                user="learner",
                storage=True,
            ),
        )
        expect(frame.get_by_role("heading", level=1)).to_have_text(
            pss_title(live), timeout=WAIT_MS
        )
        expect(frame.locator("body")).to_contain_text(LEARNER_NAME, timeout=WAIT_MS)

        # The browser really kept nothing for the tool inside the frame...
        assert tool_cookies(context, live.tool_url) == []
        assert frame.locator("body").evaluate(COOKIE_PROBE_JS) == []
    finally:
        context.close()

    # ...so the launch went through the platform-storage page.
    assert launch_paths(tool_log.records) == ["platform_storage"]
    assert f"{live.tool_url}/lti/launch/storage" in posts


@pytest.mark.browser
@pytest.mark.parametrize("blocking", ["profile-preference", "phaseout-switch"])
def test_learner_lands_with_third_party_cookies_blocked(
    live: Any,
    playwright_session: Playwright,
    tmp_path: Path,
    tool_log: pytest.LogCaptureFixture,
    blocking: str,
) -> None:
    """Real third-party cookie blocking: the learner lands whichever path binds.

    "profile-preference" is the settings page's "Block third-party cookies"
    (cookie_controls_mode=1, block_third_party_cookies) in a profile's
    Preferences; "phaseout-switch" is --test-third-party-cookie-phaseout. The
    frame probe shows the blocking is in force (an unpartitioned cookie is
    refused) and that Partitioned cookies are still kept, which is why the launch
    is expected to bind through the cookie; the test only requires it to land.
    Chromium 156 refuses unpartitioned third-party cookies by default already
    (only cookie_controls_mode=0 lets them through), so the probe shows that the
    blocking is in force, not that these settings alone caused it.
    """
    if blocking == "profile-preference":
        context = launch_profile(
            playwright_session, tmp_path / "profile", THIRD_PARTY_COOKIES_BLOCKED
        )
        owner = None
    else:
        owner = launch_chromium(
            playwright_session, "--test-third-party-cookie-phaseout"
        )
        context = new_context(owner)
    try:
        _, frame = open_launch(
            context,
            sandbox_launch_url(
                live.sandbox_url,
                "pss-cohort",
                "pss-program",
                user="learner",
                storage=True,
            ),
        )
        expect(frame.get_by_role("heading", level=1)).to_have_text(
            pss_title(live), timeout=WAIT_MS
        )
        expect(frame.locator("body")).to_contain_text(LEARNER_NAME, timeout=WAIT_MS)
        kept = frame.locator("body").evaluate(COOKIE_PROBE_JS)
    finally:
        context.close()
        if owner is not None:
            owner.close()

    assert "probe_unpartitioned" not in kept, "third-party cookies were not blocked"
    assert "probe_partitioned" in kept
    paths = launch_paths(tool_log.records)
    assert len(paths) == 1 and paths[0] in {"cookie", "platform_storage"}, paths


@pytest.mark.browser
def test_without_storage_or_cookies_learner_opens_new_window(
    live: Any, frame_cookieless_browser: Browser, tool_log: pytest.LogCaptureFixture
) -> None:
    """No platform storage and no cookie in the frame: the tool offers its own
    window, where it is the first party and its cookie binds the launch."""
    context = new_context(frame_cookieless_browser)
    try:
        page, frame = open_launch(
            context,
            sandbox_launch_url(
                live.sandbox_url,
                "pss-cohort",
                "pss-program",
                user="learner",
                storage=False,
            ),
        )
        open_window = frame.get_by_role("link", name="Open in a new window")
        expect(open_window).to_be_visible(timeout=WAIT_MS)
        assert launch_paths(tool_log.records) == []

        with page.expect_popup(timeout=WAIT_MS) as popup_info:
            open_window.click()
        popup = popup_info.value
        expect(popup.get_by_role("heading", level=1)).to_have_text(
            pss_title(live), timeout=WAIT_MS
        )
        expect(popup.locator("body")).to_contain_text(LEARNER_NAME, timeout=WAIT_MS)
        assert popup.url.startswith(f"{live.tool_url}/program")
        # The frame itself still only offers the new window.
        expect(open_window).to_be_visible(timeout=WAIT_MS)
    finally:
        context.close()

    assert launch_paths(tool_log.records) == ["cookie"]


@pytest.mark.browser
def test_cookies_allowed_launch_binds_by_cookie(
    live: Any, browser: Browser, tool_log: pytest.LogCaptureFixture
) -> None:
    """Default Chromium, no platform storage: the state cookie comes back."""
    context = new_context(browser)
    try:
        _, frame = open_launch(
            context,
            sandbox_launch_url(
                live.sandbox_url,
                "pss-cohort",
                "pss-program",
                user="learner",
                storage=False,
            ),
        )
        expect(frame.get_by_role("heading", level=1)).to_have_text(
            pss_title(live), timeout=WAIT_MS
        )
        expect(frame.locator("body")).to_contain_text(LEARNER_NAME, timeout=WAIT_MS)
        kept = {c["name"]: c for c in tool_cookies(context, live.tool_url)}
    finally:
        context.close()

    assert launch_paths(tool_log.records) == ["cookie"]
    # The tool's cookies live in the sandbox's partition (CHIPS).
    assert kept["lti_cookies_ok"].get("partitionKey") == "http://127.0.0.1"


@pytest.mark.browser
def test_coordinator_chooses_program_for_unset_link(
    live: Any, browser: Browser, tool_log: pytest.LogCaptureFixture
) -> None:
    title = pss_title(live)
    context = new_context(browser)
    try:
        _, frame = open_launch(
            context,
            sandbox_launch_url(
                live.sandbox_url,
                "pss-cohort",
                "not-set-up",
                user="coordinator",
                storage=True,
            ),
        )
        expect(frame.get_by_role("heading", level=1)).to_have_text(
            "Choose what this link opens", timeout=WAIT_MS
        )
        frame.get_by_label(f"{title} (whole program)").check()
        frame.get_by_role("button", name="Use this for the link").click()

        expect(frame.get_by_role("heading", level=1)).to_have_text(
            title, timeout=WAIT_MS
        )
        expect(frame.locator("body")).to_contain_text(COORDINATOR_NAME, timeout=WAIT_MS)
    finally:
        context.close()

    assert len(launch_paths(tool_log.records)) == 1
