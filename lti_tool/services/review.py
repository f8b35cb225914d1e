"""Whether a person still has to review some of a participant's work."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from lti_tool.hours.ledger import Participant
from lti_tool.models import FieldHours, PaperSubmission, Reflection
from lti_tool.services.targets import Target

# Work waiting for a coordinator carries this status in each of the tables.
AWAITING_REVIEW = "submitted"
REVIEWED_WORK: tuple[Any, ...] = (Reflection, PaperSubmission, FieldHours)


def has_pending_review(session: Session, who: Participant, target: Target) -> bool:
    """True while a reflection, paper or field-hours log in the target awaits review."""
    pending = pending_reviews(
        session, who.context_pk, target.program.id, [who.user_id]
    ).get(who.user_id, set())
    if target.activity_ids is None:
        return bool(pending)
    return bool(pending & target.activity_ids)


def pending_reviews(
    session: Session, context_pk: int, program_id: str, user_ids: Collection[int]
) -> dict[int, set[str]]:
    """The activities whose work awaits review, per participant of one program."""
    pending: dict[int, set[str]] = defaultdict(set)
    for model in REVIEWED_WORK:
        query = select(model.user_id, model.activity_id).where(
            model.context_pk == context_pk,
            model.program_id == program_id,
            model.status == AWAITING_REVIEW,
            model.user_id.in_(user_ids),
        )
        for user_id, activity_id in session.execute(query):
            pending[user_id].add(activity_id)
    return dict(pending)
