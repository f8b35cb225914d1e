"""Participant work that earns hours: reflections, field hours, papers, groups.

One blueprint, `work`, so the launch session rides on every link to its pages;
its views live in one module per kind of work.
"""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("work", __name__)

from lti_tool.web.work import (  # noqa: E402,F401  (modules register their views)
    field,
    groups,
    hours,
    panels,
    papers,
    reflections,
    review,
)

__all__ = ["bp"]
