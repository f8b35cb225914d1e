"""A sandbox learner studies a reading in Chromium, drops offline, comes back.

Time on the page is measured by the page's own tracker (static/js/study.js).
Playwright's fake clock fast-forwards the page's timers, so a minute and a half
of study takes seconds; the tool sees the page's heartbeats as they are, and
its clamp (never more than 120 s ahead of the server) is respected because the
run stays under that. The heartbeat interval is shortened to 5 s and the
credit step to 1 minute through settings, so the first credited minute comes
within that time.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Request,
    expect,
    sync_playwright,
)
from sqlalchemy import Engine, func, select

from lti_tool.models import ActivityProgress, HoursEntry
from tests.live import LiveSetup, live_tool_and_sandbox

HEARTBEAT_SECONDS = 5
CHROMIUM = "/usr/bin/chromium"
# The longest any single browser wait may take, in milliseconds.
WAIT_MS = 15_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Debian's Chromium, stopped when this module's tests end."""
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"Debian's Chromium is missing at {CHROMIUM}: run `make chromium`")
    with sync_playwright() as driver:
        chromium = driver.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-background-networking"],
            timeout=WAIT_MS,
        )
        yield chromium
        chromium.close()


def new_context(chromium: Browser) -> BrowserContext:
    context = chromium.new_context()
    context.set_default_timeout(WAIT_MS)
    context.set_default_navigation_timeout(WAIT_MS)
    return context


@pytest.fixture
def study_live(database_url: str, keys_dir: Path, tmp_path: Path) -> Iterator[Any]:
    with live_tool_and_sandbox(
        database_url,
        keys_dir,
        tmp_path,
        heartbeat_seconds=HEARTBEAT_SECONDS,
        credit_step_minutes=1,
    ) as setup:
        yield setup


def wait_for(check: Callable[[], bool], what: str, seconds: float = 15.0) -> None:
    """Poll `check` for at most `seconds`; fail naming `what`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    pytest.fail(f"timed out waiting for {what}")


def measured_seconds(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(
            connection.scalar(
                select(func.coalesce(func.sum(ActivityProgress.active_seconds), 0))
            )
            or 0
        )


def ledger(engine: Engine) -> list[tuple[str, int, str]]:
    with engine.connect() as connection:
        rows = connection.execute(
            select(HoursEntry.activity_id, HoursEntry.minutes, HoursEntry.source)
        )
        return [(str(a), int(m), str(s)) for a, m, s in rows]


def rewind_counted_until(engine: Engine, seconds: int) -> None:
    """Tell the server `seconds` more have passed, as the page's fake clock will."""
    from datetime import timedelta

    from sqlalchemy.orm import Session

    from lti_tool.models import StudyClock

    with Session(engine) as session:
        for clock in session.scalars(select(StudyClock)):
            if clock.counted_until is not None:
                clock.counted_until -= timedelta(seconds=seconds)
        session.commit()


def capture_beats(context: BrowserContext) -> list[dict[str, Any]]:
    """Every heartbeat the page tried to send, duplicates and failures included."""
    sent: list[dict[str, Any]] = []

    def on_request(request: Request) -> None:
        if "/study/heartbeat" in request.url and request.method == "POST":
            sent.extend(json.loads(request.post_data or "{}").get("beats", []))

    context.on("request", on_request)
    return sent


@pytest.mark.browser
def test_offline_study_is_credited_exactly_once(
    study_live: LiveSetup, browser: Browser, engine: Engine
) -> None:
    context = new_context(browser)
    beats = capture_beats(context)
    posts: list[str] = []
    context.on(
        "request",
        lambda r: posts.append(r.url) if "/study/heartbeat" in r.url else None,
    )
    course_page = context.new_page()
    try:
        course_page.goto(
            f"{study_live.sandbox_url}/courses/pss-cohort/links/pss-program/launch"
            "?user=learner&storage=1&frame=iframe"
        )
        frame = course_page.frame_locator("iframe[name='tool_frame']")
        start = frame.get_by_role("link", name="Start", exact=True)
        # The fake clock is installed once the launch is done, for the study page.
        expect(start).to_be_visible()
        context.clock.install()
        start.click()
        expect(frame.get_by_role("heading", level=1)).to_have_text(
            "Welcome to the course", timeout=WAIT_MS
        )
        tracker = frame.locator("#activity")
        expect(tracker).to_have_attribute("data-interval", str(HEARTBEAT_SECONDS))

        # Online: half a minute of study reaches the tool as it happens. The fake
        # clock moves the page's time; the server's mark of counted time is moved
        # back by as much, so both sides agree that the time really passed.
        rewind_counted_until(engine, 30)
        context.clock.run_for(30_000)
        wait_for(lambda: measured_seconds(engine) >= 25, "online heartbeats")
        online = measured_seconds(engine)

        # Offline: the page keeps measuring and holds on to what it cannot send.
        context.set_offline(True)
        rewind_counted_until(engine, 45)
        context.clock.run_for(45_000)
        time.sleep(1)
        assert measured_seconds(engine) == online
        assert ledger(engine) == []

        # Back online: the held heartbeats go out and the first minute is credited.
        context.set_offline(False)
        context.clock.run_for(1_000)
        wait_for(lambda: measured_seconds(engine) >= online + 40, "held heartbeats")
        wait_for(lambda: len(ledger(engine)) == 1, "the credited minute")
    finally:
        # pagehide: the page hands anything pending to sendBeacon. Closing the page
        # before the context keeps the request listener alive to see that beacon.
        course_page.close()
        time.sleep(0.5)
        context.close()

    # Each heartbeat counts once. Only the one sent as the page closed may be cut
    # short (it claims more seconds than passed since the one before), or, on a
    # loaded machine, reach the server without the listener seeing it: at most
    # one interval either way, where counting anything twice would add far more.
    unique = {(b["page"], b["seq"]): b["active"] for b in beats}
    measured = measured_seconds(engine)
    assert sum(unique.values()) - HEARTBEAT_SECONDS <= measured
    assert measured <= sum(unique.values()) + HEARTBEAT_SECONDS
    assert 70 <= measured < 120
    assert ledger(engine) == [("getting-started-intro", 1, "tracked_study")]

    # Replaying everything the page ever sent changes nothing.
    replay = study_live.tool_app.test_client()
    token = posts[0].split("ls=", 1)[1]
    answer = replay.post(
        f"/study/heartbeat?ls={token}",
        json={"program": "pss", "beats": beats[:200]},
    )
    assert answer.status_code == 200
    assert answer.get_json() == {
        "accepted": 0,
        "ignored": len(beats[:200]),
        "credited_minutes": 0,
    }
    assert measured_seconds(engine) == measured
    assert ledger(engine) == [("getting-started-intro", 1, "tracked_study")]
