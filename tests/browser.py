"""Playwright fixtures and helpers for the browser tests: Debian's Chromium only.

A test module gets the fixtures by importing their `*_fixture` functions; pytest
knows them by the names given in `name=` (playwright_session, browser,
frame_cookieless_browser).
Every wait is bounded by WAIT_MS; browsers never leave the loopback interface
because the only pages opened are the live tool and sandbox on 127.0.0.1/localhost.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    FrameLocator,
    Page,
    Playwright,
    sync_playwright,
)

CHROMIUM = "/usr/bin/chromium"
# --disable-site-isolation-trials keeps the tool's cross-site frame in the page's
# renderer process. With site isolation on, the frame swaps processes on each
# hop of the launch (tool, platform /auth, tool) and Playwright now and then
# loses track of it under load: the page is served but the frame stays empty to
# Playwright (about one launch in 15 to 30 here, once followed by a hang).
# Cookie rules (third-party blocking, CHIPS partitions, per-site cookie settings)
# are applied by the browser's network service from the frame tree's sites,
# whatever process renders the frame, so they are the same either way. Do not
# pass --disable-features: Playwright does not merge it, Chromium keeps only the
# last one, and Playwright's own list would be dropped.
LAUNCH_ARGS = (
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-site-isolation-trials",
)
# The longest any single wait may take, in milliseconds.
WAIT_MS = 15_000

# The sandbox names the frame it launches the tool into like Canvas does.
TOOL_FRAME = "tool_frame"

# Chromium's per-site cookie rule, as Preferences stores it: "primary,secondary"
# where primary is the cookie's site and secondary the top-level site. Blocking
# the tool's host (any port) only when the page on top is the sandbox's host
# refuses every cookie of the tool inside the course frame, partitioned (CHIPS)
# or not, while the tool keeps its cookies as a first party in its own window.
TOOL_IN_SANDBOX_COOKIES_BLOCKED = {
    "profile": {
        "content_settings": {
            "exceptions": {"cookies": {"[*.]localhost,127.0.0.1": {"setting": 2}}}
        }
    }
}

# "Block third-party cookies" as the settings page stores it.
THIRD_PARTY_COOKIES_BLOCKED = {
    "profile": {"cookie_controls_mode": 1, "block_third_party_cookies": True}
}


# Module scope, not session: only one sync Playwright driver can run per thread,
# and other test modules (tests/test_sandbox.py) start their own, so ours must be
# stopped when the module that uses it ends.
@pytest.fixture(scope="module", name="playwright_session")
def playwright_fixture() -> Iterator[Playwright]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"Debian's Chromium is missing at {CHROMIUM}: run `make chromium`")
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module", name="browser")
def browser_fixture(playwright_session: Playwright) -> Iterator[Browser]:
    """Chromium with its default cookie settings."""
    chromium = launch_chromium(playwright_session)
    yield chromium
    chromium.close()


@pytest.fixture(scope="module", name="frame_cookieless_browser")
def frame_cookieless_browser_fixture(
    playwright_session: Playwright, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Browser]:
    """Chromium that keeps no cookie of the tool inside the sandbox's frame.

    The rule lives in a real profile's Preferences; contexts made with
    `new_context()` on this browser inherit it (checked by the tests that use it:
    the browser ends up holding no cookie of the tool).
    """
    profile = launch_profile(
        playwright_session,
        tmp_path_factory.mktemp("chromium-profile"),
        TOOL_IN_SANDBOX_COOKIES_BLOCKED,
    )
    chromium = profile.browser
    assert chromium is not None, "a persistent Chromium context had no browser"
    yield chromium
    profile.close()


def launch_chromium(driver: Playwright, *extra_args: str) -> Browser:
    return driver.chromium.launch(
        executable_path=CHROMIUM,
        args=[*LAUNCH_ARGS, *extra_args],
        timeout=WAIT_MS,
    )


def launch_profile(
    driver: Playwright,
    user_data_dir: Path,
    preferences: dict[str, Any],
    *extra_args: str,
) -> BrowserContext:
    """Chromium on a fresh profile whose Preferences file says `preferences`."""
    default = user_data_dir / "Default"
    default.mkdir(parents=True, exist_ok=True)
    (default / "Preferences").write_text(json.dumps(preferences))
    context = driver.chromium.launch_persistent_context(
        str(user_data_dir),
        executable_path=CHROMIUM,
        args=[*LAUNCH_ARGS, *extra_args],
        headless=True,
        timeout=WAIT_MS,
    )
    bound(context)
    return context


def bound(context: BrowserContext) -> BrowserContext:
    context.set_default_timeout(WAIT_MS)
    context.set_default_navigation_timeout(WAIT_MS)
    return context


def new_context(chromium: Browser) -> BrowserContext:
    """A fresh context (its own cookie jar) whose waits all end within WAIT_MS."""
    return bound(chromium.new_context())


def sandbox_launch_url(
    sandbox_url: str,
    course: str,
    link: str,
    *,
    user: str,
    storage: bool,
    frame: str = "iframe",
) -> str:
    """The sandbox course page that launches `link` for `user`."""
    return (
        f"{sandbox_url}/courses/{course}/links/{link}/launch"
        f"?user={user}&storage={int(storage)}&frame={frame}"
    )


def open_launch(context: BrowserContext, url: str) -> tuple[Page, FrameLocator]:
    """Open a sandbox launch page; returns it and the frame the tool opens in."""
    page = context.new_page()
    page.goto(url)
    return page, page.frame_locator(f"iframe[name='{TOOL_FRAME}']")


_PATH = re.compile(r"\bpath=(\w+)")


def launch_paths(records: list[Any]) -> list[str]:
    """How each accepted launch bound the browser, from the tool's log records."""
    paths = []
    for record in records:
        message = record.getMessage()
        if record.name == "lti_tool.web.lti" and message.startswith("launch accepted"):
            found = _PATH.search(message)
            paths.append(found.group(1) if found else "")
    return paths


def tool_cookies(context: BrowserContext, tool_url: str) -> list[dict[str, Any]]:
    """The cookies this context holds for the tool's host, partitioned or not."""
    host = tool_url.split("://", 1)[1].split(":", 1)[0]
    return [
        dict(cookie)
        for cookie in context.cookies()
        if cookie["domain"].lstrip(".") == host
    ]


# Tries to set one unpartitioned and one partitioned cookie from the page it runs
# in, then reads back which ones the browser kept.
COOKIE_PROBE_JS = """() => {
  const common = "; SameSite=None; Secure; Path=/; Max-Age=60";
  document.cookie = "probe_unpartitioned=1" + common;
  document.cookie = "probe_partitioned=1" + common + "; Partitioned";
  const names = document.cookie.split(";").map((part) => part.trim().split("=")[0]);
  return names.filter(Boolean);
}"""
