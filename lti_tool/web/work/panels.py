"""The work part of an activity page: the reflection form, logs, the paper.

The lesson player renders the page; these panels are looked up from its
templates through `work_panel(program, activity)`, so the player stays unaware
of how work is stored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from flask import current_app, request

from lti_tool import db
from lti_tool.content.model import Activity, Program
from lti_tool.hours.rules import CreditRules
from lti_tool.models import FieldHours, PaperSubmission, Reflection, WorkEvent
from lti_tool.web.program import current_visit
from lti_tool.web.scope import participant
from lti_tool.web.work import bp
from lti_tool.web.work.common import cipher
from lti_tool.work.events import history
from lti_tool.work.field_hours import (
    FIELD_KINDS,
    ReadinessState,
    entries_of,
    readiness,
)
from lti_tool.work.papers import submissions_of
from lti_tool.work.reflections import find_reflection, word_count
from lti_tool.work.support_groups import attended_by


@dataclass(frozen=True)
class Step:
    """One history step with its text decrypted for the page."""

    event: WorkEvent
    text: str | None
    is_participant: bool


@dataclass(frozen=True)
class ReflectionPanel:
    reflection: Reflection | None
    draft: str
    submitted: str | None
    steps: list[Step]
    min_words: int

    @property
    def is_locked(self) -> bool:
        return self.reflection is not None and self.reflection.status == "accepted"

    @property
    def has_unsubmitted_changes(self) -> bool:
        return self.submitted is not None and self.draft.strip() != self.submitted

    @property
    def draft_words(self) -> int:
        return word_count(self.draft)


@dataclass(frozen=True)
class FieldPanel:
    entries: list[FieldHours]
    readiness: ReadinessState | None
    blocks_early_logs: bool


@dataclass(frozen=True)
class PaperPanel:
    submissions: list[PaperSubmission]
    feedback: dict[int, str] = field(default_factory=dict)

    @property
    def is_accepted(self) -> bool:
        return any(paper.status == "accepted" for paper in self.submissions)


def steps_of(item_kind: str, item_id: int, author_id: int) -> list[Step]:
    """The decrypted history of one item, oldest first."""
    keys = cipher()
    return [
        Step(
            event,
            keys.decrypt_text(event.text_encrypted) if event.text_encrypted else None,
            event.by_user_id == author_id,
        )
        for event in history(db.get_session(), item_kind, item_id)
    ]


def reflection_panel(program: Program, activity: Activity) -> ReflectionPanel:
    visit = current_visit()
    reflection = find_reflection(
        db.get_session(), participant(visit), program.id, activity.id
    )
    draft, submitted, steps = "", None, []
    if reflection is not None:
        keys = cipher()
        if reflection.draft_encrypted:
            draft = keys.decrypt_text(reflection.draft_encrypted)
        if reflection.submitted_encrypted:
            submitted = keys.decrypt_text(reflection.submitted_encrypted)
        steps = steps_of("reflection", reflection.id, reflection.user_id)
    if request.method == "POST" and "body" in request.form:
        # A refused submission: show what was just typed, not the stored draft.
        draft = request.form["body"]
    return ReflectionPanel(reflection, draft, submitted, steps, activity.min_words or 1)


def field_panel(program: Program, activity: Activity) -> FieldPanel:
    visit = current_visit()
    who = participant(visit)
    session = db.get_session()
    entries = [
        entry
        for entry in entries_of(session, who, program.id)
        if entry.activity_id == activity.id
    ]
    settings = current_app.config["SETTINGS"]
    return FieldPanel(
        entries,
        readiness(session, who, program, activity),
        settings.field_hours_before_readiness == "block",
    )


def paper_panel(program: Program, activity: Activity) -> PaperPanel:
    who = participant(current_visit())
    papers = submissions_of(db.get_session(), who, program.id, activity.id)
    feedback = {
        paper.id: cipher().decrypt_text(paper.feedback_encrypted)
        for paper in papers
        if paper.feedback_encrypted
    }
    return PaperPanel(papers, feedback)


def work_panel(program: Program, activity: Activity) -> Any:
    """The panel for an activity's kind of work, or None."""
    if activity.kind == "reflection":
        return reflection_panel(program, activity)
    if activity.kind in FIELD_KINDS:
        return field_panel(program, activity)
    if activity.kind == "paper":
        return paper_panel(program, activity)
    if activity.kind == "support_group":
        who = participant(current_visit())
        return [
            (group, row)
            for group, row in attended_by(db.get_session(), who, program.id)
            if group.activity_id == activity.id
        ]
    return None


STATUS_LABELS = {
    "draft": "Draft, not submitted",
    "submitted": "Waiting for review",
    "revision_requested": "Revision requested",
    "accepted": "Accepted",
    "approved": "Approved",
    "returned": "Returned for correction",
    "superseded": "Replaced by a newer version",
}


def work_state(program: Program, activity: Activity) -> str:
    """Where the participant's reflection or paper stands, for activity lists.

    Empty when there is no handed-in work: the hours status says enough then.
    """
    who = participant(current_visit())
    session = db.get_session()
    status = ""
    if activity.kind == "reflection":
        reflection = find_reflection(session, who, program.id, activity.id)
        status = reflection.status if reflection is not None else ""
    elif activity.kind == "paper":
        latest = submissions_of(session, who, program.id, activity.id)[:1]
        status = latest[0].status if latest else ""
    return "" if status in ("", "draft") else STATUS_LABELS.get(status, "")


@bp.app_context_processor
def _panel_lookup() -> dict[str, Any]:
    return {
        "work_panel": work_panel,
        "work_state": work_state,
        "work_status": STATUS_LABELS,
    }


@bp.app_template_filter("reveal")
def reveal(token: bytes | None) -> str:
    """Stored encrypted text, decrypted for the page (autoescaped as any text)."""
    return cipher().decrypt_text(token) if token else ""


@bp.app_template_filter("local_time")
def local_time(moment: datetime | None) -> str:
    """A stored moment in the program's time zone, to the minute."""
    if moment is None:
        return ""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    zone = CreditRules.from_settings(current_app.config["SETTINGS"]).zone
    # With the zone's abbreviation (PST, PDT): coordinators and learners may be
    # anywhere, and the browser's own clock shows its own zone.
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")
