"""Training content: programs, modules and activities read from YAML and Markdown."""

from __future__ import annotations

from lti_tool.content.check import CheckReport, check_content
from lti_tool.content.loader import (
    ContentError,
    Problem,
    default_content_root,
    load_catalog,
)
from lti_tool.content.model import Activity, Catalog, Competency, Module, Program
from lti_tool.content.render import render_markdown

__all__ = [
    "Activity",
    "Catalog",
    "CheckReport",
    "Competency",
    "ContentError",
    "Module",
    "Problem",
    "Program",
    "check_content",
    "default_content_root",
    "load_catalog",
    "render_markdown",
]
