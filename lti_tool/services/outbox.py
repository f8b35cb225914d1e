"""The score outbox: "this score is due", written in the ledger's own transaction.

Nothing here talks to a platform. The ledger calls `mark_scores_due` wherever it
adds an hours entry, so a commit that changes hours always says which scores
must be sent, and a rollback forgets both. The worker (worker.py) delivers.
This module imports models only, so the ledger can import it without a cycle.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import case, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from lti_tool.models import Membership, ResourceLink, ScoreOutbox
from lti_tool.models.base import utcnow

if TYPE_CHECKING:
    from lti_tool.hours.ledger import Participant

PENDING = "pending"
SENT = "sent"
FAILED = "failed"
# Platforms refuse grades for instructors (Canvas: 422 "not a student").
UNGRADED_ROLES = ("coordinator", "admin")


def mark_scores_due(
    session: Session, who: Participant, program_id: str, now: datetime | None = None
) -> int:
    """Mark the participant's scores due on every link into the program; no commit."""
    role = session.scalar(
        select(Membership.role).where(
            Membership.user_id == who.user_id, Membership.context_pk == who.context_pk
        )
    )
    if role in UNGRADED_ROLES:
        return 0
    links = session.scalars(
        select(ResourceLink.id).where(
            ResourceLink.context_pk == who.context_pk,
            (ResourceLink.target == program_id)
            | ResourceLink.target.startswith(program_id + "/", autoescape=True),
        )
    ).all()
    now = now or utcnow()
    for link_pk in links:
        _mark(session, who.user_id, who.context_pk, link_pk, now)
    return len(links)


def mark_link_due(session: Session, link: ResourceLink, user_ids: list[int]) -> int:
    """Mark these participants' scores on one link due (a resend); no commit."""
    now = utcnow()
    for user_id in user_ids:
        _mark(session, user_id, link.context_pk, link.id, now)
    return len(user_ids)


def retry_failed(session: Session, context_pk: int) -> int:
    """Put the context's refused deliveries back in line; no commit."""
    now = utcnow()
    result = session.execute(
        update(ScoreOutbox)
        .where(ScoreOutbox.context_pk == context_pk, ScoreOutbox.state == FAILED)
        .values(state=PENDING, attempts=0, next_attempt_at=now, due_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def _mark(
    session: Session, user_id: int, context_pk: int, link_pk: int, now: datetime
) -> None:
    if _bump(session, user_id, link_pk, now):
        return
    row = ScoreOutbox(
        user_id=user_id,
        context_pk=context_pk,
        resource_link_pk=link_pk,
        state=PENDING,
        due_version=1,
        due_at=now,
        next_attempt_at=now,
        attempts=0,
    )
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        # Another transaction created the row first: bump that one instead.
        if row in session:
            session.expunge(row)
        _bump(session, user_id, link_pk, now)


def _bump(session: Session, user_id: int, link_pk: int, now: datetime) -> bool:
    """Raise the due version of an existing row; False when there is none."""
    was_pending = ScoreOutbox.state == PENDING
    result = session.execute(
        update(ScoreOutbox)
        .where(ScoreOutbox.user_id == user_id, ScoreOutbox.resource_link_pk == link_pk)
        .values(
            due_version=ScoreOutbox.due_version + 1,
            due_at=now,
            state=PENDING,
            # A row already waiting out a backoff keeps it: a busy participant
            # must not make the worker hammer a platform that is down.
            next_attempt_at=case((was_pending, ScoreOutbox.next_attempt_at), else_=now),
            attempts=case((was_pending, ScoreOutbox.attempts), else_=0),
        )
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]
