"""Tests for render_markdown: Markdown features kept, dangerous HTML removed."""

from __future__ import annotations

from pathlib import Path

from lti_tool.content.loader import load_catalog
from lti_tool.content.render import render_markdown

REPO_CONTENT = Path(__file__).resolve().parents[1] / "content"


def test_renders_commonmark_basics() -> None:
    html = render_markdown("# Title\n\nSome *soft* and **strong** text.\n\n- one\n")

    assert "<h1>Title</h1>" in html
    assert "<em>soft</em>" in html and "<strong>strong</strong>" in html
    assert "<li>one</li>" in html


def test_renders_tables_with_alignment() -> None:
    html = render_markdown("| a | b |\n| :- | -: |\n| 1 | 2 |\n")

    assert "<table>" in html
    assert '<td style="text-align:right">2</td>' in html


def test_strips_script_tags_and_their_content() -> None:
    html = render_markdown("Hello\n\n<script>alert('x')</script>\n\nBye")

    assert "<script" not in html
    assert "alert" not in html
    assert "Hello" in html and "Bye" in html


def test_strips_event_handler_attributes() -> None:
    html = render_markdown(
        '<img src="a.png" onerror="alert(1)">\n\n<p onclick="x()">t</p>'
    )

    assert "onerror" not in html
    assert "onclick" not in html
    assert 'src="a.png"' in html


def test_removes_javascript_urls() -> None:
    html = render_markdown(
        '[click](javascript:alert(1))\n\n<a href="javascript:alert(2)">raw</a>'
    )

    # markdown-it leaves the unsafe Markdown link as plain text; nh3 drops the href.
    assert "href" not in html
    assert "<a" in html


def test_links_get_noopener() -> None:
    html = render_markdown("[site](https://example.org)")

    assert 'href="https://example.org"' in html
    assert "noopener" in html


def test_removes_iframes_styles_and_forms() -> None:
    source = (
        '<iframe src="https://evil.test"></iframe>\n\n'
        '<p style="position:fixed">x</p>\n\n'
        '<form action="/steal"><input name="q"></form>'
    )

    html = render_markdown(source)

    assert "<iframe" not in html
    assert "position" not in html
    assert "<form" not in html and "<input" not in html


def test_keeps_details_and_summary() -> None:
    html = render_markdown("<details><summary>More</summary>Hidden text</details>")

    assert "<details><summary>More</summary>Hidden text</details>" in html


def test_every_real_activity_renders() -> None:
    catalog = load_catalog(REPO_CONTENT)

    for program in catalog.programs.values():
        for activity in program.activities():
            html = render_markdown(activity.body_markdown)
            assert html.strip(), activity.id
            assert "<script" not in html


def test_heading_offset_moves_headings_below_the_page_title():
    html = render_markdown("# Title\n\n## Part\n\n###### Deep", heading_offset=1)
    assert "<h2>Title</h2>" in html
    assert "<h3>Part</h3>" in html
    assert "<h6>Deep</h6>" in html
    assert "<h1" not in html
