"""Allow `python -m lti_tool.content check`."""

from __future__ import annotations

from lti_tool.content.cli import content

content(prog_name="content")
