"""The lesson player in a real browser: launch from the sandbox, walk the pages."""

from __future__ import annotations

import time

import pytest

from tests.browser import (  # noqa: F401  (fixtures by name)
    browser_fixture,
    new_context,
    open_launch,
    playwright_fixture,
    sandbox_launch_url,
)

pytestmark = pytest.mark.browser


def test_learner_walks_next_and_previous_inside_the_frame(browser, live):
    module = live.tool_app.extensions["catalog"].program("pss").modules[0]
    first, second = module.activities[0], module.activities[1]
    context = new_context(browser)
    url = sandbox_launch_url(
        live.sandbox_url, "pss-cohort", "pss-program", user="learner", storage=False
    )
    page, frame = open_launch(context, url)

    frame.get_by_role("link", name="Start", exact=True).click()
    frame.locator("h1", has_text=first.title).wait_for()
    frame.locator("a[rel=next]").click()
    frame.locator("h1", has_text=second.title).wait_for()
    frame.locator("a[rel=prev]").click()
    frame.locator("h1", has_text=first.title).wait_for()

    # The tool asked the course page to fit its frame to the content.
    page.wait_for_function(
        "() => document.querySelector('iframe.tool').style.height.endsWith('px')"
    )

    breadcrumb = frame.get_by_role("navigation", name="Breadcrumb")
    assert module.title in breadcrumb.inner_text()
    assert "Alex Rivera" not in page.url
    context.close()


def test_module_link_opens_only_its_module(browser, live):
    context = new_context(browser)
    url = sandbox_launch_url(
        live.sandbox_url, "pss-cohort", "pss-module", user="learner", storage=False
    )
    page, frame = open_launch(context, url)

    frame.locator("p.meta", has_text="Module:").wait_for()
    program = live.tool_app.extensions["catalog"].program("pss")
    module = program.find_module("why-peer-support")
    items = frame.locator("ul.modules li")
    assert items.count() == 1
    assert module.title in items.first.inner_text()
    context.close()


def test_the_frame_shrinks_to_a_shorter_page(browser, live):
    context = new_context(browser)
    url = sandbox_launch_url(
        live.sandbox_url, "pss-cohort", "pss-program", user="learner", storage=False
    )
    page, frame = open_launch(context, url)
    tool_frame = page.frame(name="tool_frame")
    assert tool_frame is not None
    content = (
        "() => { const b = document.body, s = getComputedStyle(b);"
        " return Math.ceil(b.getBoundingClientRect().height"
        " + parseFloat(s.marginTop) + parseFloat(s.marginBottom)); }"
    )
    frame_height = "() => parseInt(document.querySelector('iframe.tool').style.height)"

    def settled_height() -> int:
        """The frame's height once it matches the tool page's content (which
        may still grow while fonts and styles load); the page is cross-site,
        so the two are read one after the other."""
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            inner = tool_frame.evaluate(content)
            outer = page.evaluate(frame_height) or 0
            if abs(inner - outer) <= 2:
                return outer
            time.sleep(0.1)
        raise AssertionError(f"frame {outer} px never matched content {inner} px")

    program_height = settled_height()

    # A module page lists a few activities: far shorter than the whole program.
    first_module = live.tool_app.extensions["catalog"].program("pss").modules[0]
    frame.locator("ul.modules a").first.click()
    frame.locator("h1", has_text=first_module.title).wait_for()

    assert settled_height() < program_height - 200
    context.close()
