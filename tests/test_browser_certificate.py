"""A sandbox learner completes a test-sized program, claims and checks a certificate.

The tool runs on a content folder made here: one program with the id `pss` (so
the sandbox's "pss-program" link opens it) whose only requirement is a 15-minute
knowledge check. Passing it in the browser completes the program through the
real crediting path; nothing is written to the database by the test.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright
from pypdf import PdfReader

from tests.certificate_helpers import CERTIFICATE_SETTINGS
from tests.live import live_tool_and_sandbox

CHROMIUM = "/usr/bin/chromium"
WAIT_MS = 15_000
PROGRAM_TITLE = "Peer Support Test Course"
LEGAL_NAME = "Alexandra Inés Rivera"

CONTENT = {
    "competencies.yaml": """\
frameworks:
  - id: test-core
    title: Test competencies
    competencies:
      - id: c01-hope
        number: 1
        title: Hope
      - id: c02-ethics
        number: 2
        title: Ethics
""",
    "pss/program.yaml": f"""\
id: pss
title: {PROGRAM_TITLE}
version: "test-1"
provider: Test provider
requirements:
  online: 0.25
category_of_kind:
  knowledge_check: online
competencies:
  - c01-hope
  - c02-ethics
""",
    "pss/01-only/module.yaml": "id: only\ntitle: The only module\nsummary: All.\n",
    "pss/01-only/01-check.md": """\
---
id: only-check
title: The only check
kind: knowledge_check
minutes: 15
competencies: [c01-hope, c02-ethics]
completion: pass_70
pass_mark: 0.7
questions:
  - question: Which colour is the sky on a clear day?
    choices: [Green, Blue]
    answer: 1
    explanation: Blue.
  - question: How many hours does this test program require?
    choices: [A quarter of an hour, Eighty]
    answer: 0
    explanation: Fifteen minutes.
---
Answer both questions.
""",
}


@pytest.fixture
def content_dir(tmp_path: Path) -> Path:
    root = tmp_path / "content"
    for name, text in CONTENT.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    return root


@pytest.fixture
def live(
    database_url: str, keys_dir: Path, tmp_path: Path, content_dir: Path
) -> Iterator[Any]:
    with live_tool_and_sandbox(
        database_url,
        keys_dir,
        tmp_path,
        content_dir=content_dir,
        **CERTIFICATE_SETTINGS,
    ) as setup:
        yield setup


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"Debian's Chromium is missing at {CHROMIUM}: run `make chromium`")
    with sync_playwright() as driver:
        browser = driver.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-background-networking"],
            timeout=WAIT_MS,
        )
        yield browser
        browser.close()


expect.set_options(timeout=WAIT_MS)


def bounded(page: Page) -> Page:
    page.set_default_timeout(WAIT_MS)
    page.set_default_navigation_timeout(WAIT_MS)
    return page


@pytest.mark.browser
def test_learner_claims_a_certificate_and_verifies_it(
    live: Any, chromium: Browser
) -> None:
    context = chromium.new_context(accept_downloads=True)
    try:
        page = bounded(context.new_page())
        page.goto(
            f"{live.sandbox_url}/courses/pss-cohort/links/pss-program/launch"
            "?user=learner&storage=1&frame=iframe"
        )
        frame = page.frame_locator("iframe[name='tool_frame']")
        expect(frame.get_by_role("heading", level=1)).to_have_text(PROGRAM_TITLE)
        expect(frame.get_by_role("link", name="Certificate")).to_have_count(0)

        # Complete the program by passing its only knowledge check.
        frame.get_by_role("link", name="Start").click()
        frame.get_by_label("Blue").check()
        frame.get_by_label("A quarter of an hour").check()
        frame.get_by_role("button", name="Check my answers").click()
        expect(frame.locator("#result")).to_contain_text("passed")

        # Claim: the LMS name is offered, the legal name is typed and checked.
        frame.get_by_role("link", name=PROGRAM_TITLE).click()
        frame.get_by_role("link", name="Certificate").click()
        name_field = frame.get_by_label("Full legal name")
        expect(name_field).to_have_value("Alex Rivera")
        name_field.fill(LEGAL_NAME)
        frame.get_by_role("button", name="Continue").click()
        expect(frame.locator("#name-to-confirm")).to_have_text(LEGAL_NAME)
        frame.get_by_role(
            "button", name=re.compile("^Yes, this is my legal name")
        ).click()
        number = frame.locator("strong.number").inner_text()
        assert re.fullmatch(r"PSS(-[0-9A-HJKMNP-TV-Z]{5}){4}", number), number

        with page.expect_download() as download_info:
            frame.get_by_role("link", name="Download PDF (A4)").click()
        pdf = Path(download_info.value.path()).read_bytes()
        text = PdfReader(io.BytesIO(pdf)).pages[0].extract_text()
        assert LEGAL_NAME in text and number in text and PROGRAM_TITLE in text

        # Verify in a separate, top-level window, without any launch.
        checker = bounded(context.new_page())
        checker.goto(f"{live.tool_url}/verify")
        checker.get_by_label("Certificate number").fill(number.lower())
        checker.get_by_role("button", name="Check").click()
        expect(checker.locator(".verify-status")).to_have_text("Valid certificate")
        body = checker.locator("main")
        expect(body).to_contain_text(LEGAL_NAME)
        expect(body).to_contain_text(PROGRAM_TITLE)
        expect(body).to_contain_text("Course hours")
        expect(body).not_to_contain_text("Alex Rivera")
    finally:
        context.close()
