"""Reflective exercises: drafts, submissions, and the coordinator's review."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from lti_tool.content.model import Activity, Program
from lti_tool.hours.ledger import Participant, credit_activity
from lti_tool.hours.rules import CreditRules, Source
from lti_tool.models import Reflection
from lti_tool.models.base import utcnow
from lti_tool.work.crypto import DataCipher
from lti_tool.work.errors import AlreadyReviewed, OwnWork, WorkRejected
from lti_tool.work.events import record_event

log = logging.getLogger(__name__)

MAX_REFLECTION_CHARS = 20_000
MAX_FEEDBACK_CHARS = 5_000
DECISIONS = {"accept": "accepted", "revise": "revision_requested"}


def word_count(text: str) -> int:
    return len(text.split())


def find_reflection(
    session: Session, who: Participant, program_id: str, activity_id: str
) -> Reflection | None:
    query = select(Reflection).filter_by(
        user_id=who.user_id,
        context_pk=who.context_pk,
        program_id=program_id,
        activity_id=activity_id,
    )
    return session.scalars(query).first()


def _editable(
    session: Session, who: Participant, program: Program, activity: Activity
) -> Reflection:
    reflection = find_reflection(session, who, program.id, activity.id)
    if reflection is None:
        reflection = _first_draft(session, who, program, activity)
    if reflection.status == "accepted":
        raise AlreadyReviewed(
            "This reflection has been accepted, so it can no longer be changed."
        )
    return reflection


def _first_draft(
    session: Session, who: Participant, program: Program, activity: Activity
) -> Reflection:
    """A new row, or the one a parallel request (a second tab) just created."""
    reflection = Reflection(
        user_id=who.user_id,
        context_pk=who.context_pk,
        program_id=program.id,
        program_version=program.version,
        activity_id=activity.id,
        status="draft",
        submission_count=0,
    )
    try:
        with session.begin_nested():
            session.add(reflection)
    except IntegrityError:
        found = find_reflection(session, who, program.id, activity.id)
        if found is None:
            raise
        return found
    return reflection


def _check_length(text: str) -> None:
    if len(text) > MAX_REFLECTION_CHARS:
        raise WorkRejected(
            f"A reflection can be at most {MAX_REFLECTION_CHARS:,} characters long."
        )


def save_draft(
    session: Session,
    cipher: DataCipher,
    who: Participant,
    program: Program,
    activity: Activity,
    text: str,
    *,
    now: datetime | None = None,
) -> Reflection:
    """Keep the working copy; allowed until the reflection is accepted."""
    _check_length(text)
    reflection = _editable(session, who, program, activity)
    reflection.draft_encrypted = cipher.encrypt_text(text)
    reflection.draft_saved_at = now or utcnow()
    session.flush()
    return reflection


def submit_reflection(
    session: Session,
    cipher: DataCipher,
    who: Participant,
    program: Program,
    activity: Activity,
    text: str,
    *,
    now: datetime | None = None,
) -> Reflection:
    """Hand the text in for review (again, if it was already submitted)."""
    now = now or utcnow()
    text = text.strip()
    if not text:
        raise WorkRejected("Write your reflection before submitting it.")
    _check_length(text)
    words, needed = word_count(text), activity.min_words or 1
    if words < needed:
        raise WorkRejected(
            f"Your reflection has {words} words; it needs at least {needed}."
        )

    reflection = _editable(session, who, program, activity)
    token = cipher.encrypt_text(text)
    reflection.draft_encrypted = token
    reflection.draft_saved_at = now
    reflection.submitted_encrypted = token
    reflection.submitted_at = now
    reflection.submission_count += 1
    reflection.status = "submitted"
    session.flush()
    record_event(
        session,
        "reflection",
        reflection.id,
        "submitted",
        by_user_id=who.user_id,
        text_encrypted=token,
        now=now,
    )
    session.flush()
    log.info(
        "reflection submitted reflection=%s user=%s context=%s submission=%s",
        reflection.id,
        who.user_id,
        who.context_pk,
        reflection.submission_count,
    )
    return reflection


def review_reflection(
    session: Session,
    cipher: DataCipher,
    rules: CreditRules,
    reflection: Reflection,
    program: Program,
    activity: Activity,
    *,
    reviewer_id: int,
    decision: str,
    feedback: str,
    seen_submission: int,
    now: datetime | None = None,
) -> int:
    """Accept (crediting the planned time once) or ask for a revision."""
    now = now or utcnow()
    if reviewer_id == reflection.user_id:
        raise OwnWork()
    status = DECISIONS.get(decision)
    if status is None:
        raise WorkRejected("Choose whether to accept the reflection or ask for more.")
    if reflection.status != "submitted":
        raise AlreadyReviewed("This reflection is not waiting for a review any more.")
    if seen_submission != reflection.submission_count:
        raise AlreadyReviewed(
            "The participant changed this reflection after you opened it. "
            "Read the new version, then review it."
        )
    feedback = feedback.strip()
    if status == "revision_requested" and not feedback:
        raise WorkRejected("Say what should change when you ask for a revision.")
    if len(feedback) > MAX_FEEDBACK_CHARS:
        raise WorkRejected(
            f"Feedback can be at most {MAX_FEEDBACK_CHARS:,} characters."
        )

    reflection.status = status
    reflection.reviewed_at = now
    reflection.reviewed_by_user_id = reviewer_id
    record_event(
        session,
        "reflection",
        reflection.id,
        status,
        by_user_id=reviewer_id,
        text_encrypted=cipher.encrypt_text(feedback) if feedback else None,
        now=now,
    )
    session.flush()
    log.info(
        "reflection reviewed reflection=%s reviewer=%s outcome=%s",
        reflection.id,
        reviewer_id,
        status,
    )
    if status != "accepted":
        return 0
    return credit_activity(
        session,
        rules,
        Participant(reflection.user_id, reflection.context_pk),
        program,
        activity,
        activity.minutes,
        Source.REFLECTION_ACCEPTED,
        event_key=f"reflection:{reflection.id}",
        approved_by=reviewer_id,
        now=now,
    )
