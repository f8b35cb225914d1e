"""Turn activity Markdown into HTML that is safe to put in a page."""

from __future__ import annotations

import re
from functools import lru_cache

import nh3
from markdown_it import MarkdownIt

ALLOWED_TAGS = frozenset(
    {
        "a", "abbr", "blockquote", "br", "code", "dd", "del", "details", "dl", "dt",
        "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "img", "li", "ol", "p", "pre",
        "strong", "summary", "table", "tbody", "td", "th", "thead", "tr", "ul",
    }
)  # fmt: skip
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "abbr": {"title"},
    "img": {"src", "alt", "title"},
    "ol": {"start"},
    "td": {"style"},
    "th": {"style"},
}
# Table alignment is the only inline style markdown-it writes.
ALLOWED_STYLE_PROPERTIES = frozenset({"text-align"})
URL_SCHEMES = frozenset({"http", "https", "mailto", "tel"})


_HEADING = re.compile(r"<(/?)h([1-6])")


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    """Return the shared CommonMark parser with tables enabled."""
    return MarkdownIt("commonmark").enable("table")


def render_markdown(text: str, heading_offset: int = 0) -> str:
    """Render Markdown to HTML, then strip anything not on the allow-list.

    `heading_offset` pushes headings down (1 turns `#` into h2) so an activity's
    own headings sit below the page's single h1.
    """
    html = _parser().render(text)
    if heading_offset:
        html = _HEADING.sub(
            lambda m: f"<{m[1]}h{min(int(m[2]) + heading_offset, 6)}", html
        )

    # Raw HTML passes through markdown-it, so the sanitiser is the real safety net.
    return nh3.clean(
        html,
        tags=set(ALLOWED_TAGS),
        clean_content_tags={"script", "style"},
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=set(URL_SCHEMES),
        filter_style_properties=set(ALLOWED_STYLE_PROPERTIES),
        link_rel="noopener noreferrer",
    )
