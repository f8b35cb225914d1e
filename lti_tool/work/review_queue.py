"""What waits for a coordinator's review in one course, oldest first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from lti_tool.models import FieldHours, PaperSubmission, Reflection, User

FORM_LABELS = {"text": "pasted text", "pdf": "PDF", "docx": "Word document"}


@dataclass(frozen=True)
class QueueItem:
    kind: str  # reflection | field_hours | paper
    item_id: int
    participant: str
    program_id: str
    activity_id: str
    submitted_at: datetime
    detail: str
    is_flagged: bool = False


def review_queue(
    session: Session, context_pk: int, reviewer_id: int
) -> list[QueueItem]:
    """Submitted reflections, field-hour entries and papers of one course.

    The reviewer's own work is left out: someone else has to review it.
    """
    items = [
        *_reflections(session, context_pk, reviewer_id),
        *_field_hours(session, context_pk, reviewer_id),
        *_papers(session, context_pk, reviewer_id),
    ]
    return sorted(items, key=lambda item: (item.submitted_at, item.kind, item.item_id))


def _reflections(
    session: Session, context_pk: int, reviewer_id: int
) -> list[QueueItem]:
    query = (
        select(Reflection, User.name)
        .join(User, User.id == Reflection.user_id)
        .where(
            Reflection.context_pk == context_pk,
            Reflection.status == "submitted",
            Reflection.user_id != reviewer_id,
        )
    )
    return [
        QueueItem(
            kind="reflection",
            item_id=row.id,
            participant=name,
            program_id=row.program_id,
            activity_id=row.activity_id,
            submitted_at=row.submitted_at or row.created_at,
            detail=f"submission {row.submission_count}",
        )
        for row, name in session.execute(query)
    ]


def _field_hours(
    session: Session, context_pk: int, reviewer_id: int
) -> list[QueueItem]:
    query = (
        select(FieldHours, User.name)
        .join(User, User.id == FieldHours.user_id)
        .where(
            FieldHours.context_pk == context_pk,
            FieldHours.status == "submitted",
            FieldHours.user_id != reviewer_id,
        )
    )
    return [
        QueueItem(
            kind="field_hours",
            item_id=row.id,
            participant=name,
            program_id=row.program_id,
            activity_id=row.activity_id,
            submitted_at=row.created_at,
            detail=f"{row.minutes / 60:g} h on {row.worked_on.isoformat()}",
            is_flagged=row.before_readiness,
        )
        for row, name in session.execute(query)
    ]


def _papers(session: Session, context_pk: int, reviewer_id: int) -> list[QueueItem]:
    query = (
        select(PaperSubmission, User.name)
        .join(User, User.id == PaperSubmission.user_id)
        .where(
            PaperSubmission.context_pk == context_pk,
            PaperSubmission.status == "submitted",
            PaperSubmission.user_id != reviewer_id,
        )
    )
    return [
        QueueItem(
            kind="paper",
            item_id=row.id,
            participant=name,
            program_id=row.program_id,
            activity_id=row.activity_id,
            submitted_at=row.created_at,
            detail=FORM_LABELS.get(row.form, row.form),
        )
        for row, name in session.execute(query)
    ]
