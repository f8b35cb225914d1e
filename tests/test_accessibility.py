"""WCAG 2.1 AA checks of the main pages with axe-core in Debian's Chromium."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.browser import (  # noqa: F401  (fixtures by name)
    TOOL_FRAME,
    bound,
    browser_fixture,
    playwright_fixture,
    sandbox_launch_url,
)

AXE = Path(__file__).resolve().parents[1] / "node_modules/axe-core/axe.min.js"
pytestmark = pytest.mark.browser


def axe_context(browser):  # type: ignore[no-untyped-def]
    # axe is injected as a script; our CSP (script-src 'self') would refuse it.
    return bound(browser.new_context(bypass_csp=True))


def serious_violations(page) -> list[str]:  # type: ignore[no-untyped-def]
    """Run axe with the WCAG 2.1 A/AA rules; list serious and critical failures."""
    if not AXE.exists():
        pytest.fail("axe-core is missing: run `npm ci` (make test does)")
    page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        """() => axe.run(document, {runOnly: {type: 'tag',
             values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})"""
    )
    return [
        f"{v['id']} ({v['impact']}): {v['nodes'][0]['target']}"
        for v in result["violations"]
        if v["impact"] in {"serious", "critical"}
    ]


def tool_session_url(context, live, user: str, link: str) -> str:  # type: ignore[no-untyped-def]
    """Launch through the sandbox and return the tool page the frame landed on."""
    page = context.new_page()
    page.goto(sandbox_launch_url(live.sandbox_url, "pss-cohort", link, user=user,
                                 storage=False))  # fmt: skip
    frame = page.frame(name=TOOL_FRAME)
    assert frame is not None
    page.frame_locator(f"iframe[name='{TOOL_FRAME}']").locator("h1").wait_for()
    frame = page.frame(name=TOOL_FRAME)
    url = frame.url
    page.close()
    return url


def test_learner_pages_have_no_serious_violations(browser, live):
    context = axe_context(browser)
    landing = tool_session_url(context, live, "learner", "pss-program")
    page = context.new_page()
    catalog = live.tool_app.extensions["catalog"]
    module = catalog.program("pss").modules[0]
    token = landing.split("ls=")[1]
    origin = "{0.scheme}://{0.netloc}".format(urlsplit(landing))
    by_kind = {a.kind: a for a in module.activities}
    pages = [landing, f"{origin}/study/pss/modules/{module.id}?ls={token}"] + [
        f"{origin}/study/pss/activities/{a.id}?ls={token}" for a in by_kind.values()
    ]

    problems = {}
    for url in pages:
        page.goto(url)
        found = serious_violations(page)
        if found:
            problems[url.split("?")[0]] = found
    context.close()
    assert problems == {}


def test_coordinator_and_error_pages_have_no_serious_violations(browser, live):
    context = axe_context(browser)
    choose = tool_session_url(context, live, "coordinator", "not-set-up")
    page = context.new_page()
    problems = {}
    for url in (choose, live.tool_url + "/lti/launch", live.tool_url + "/program"):
        page.goto(url)
        found = serious_violations(page)
        if found:
            problems[url.split("?")[0]] = found
    context.close()
    assert problems == {}
