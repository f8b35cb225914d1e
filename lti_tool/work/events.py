"""The history of a piece of work: one row per submission and per review."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from lti_tool.models import WorkEvent


def record_event(
    session: Session,
    item_kind: str,
    item_id: int,
    action: str,
    *,
    by_user_id: int,
    text_encrypted: bytes | None,
    now: datetime,
) -> WorkEvent:
    """Append one step; `text_encrypted` is what it carried, already encrypted."""
    event = WorkEvent(
        item_kind=item_kind,
        item_id=item_id,
        action=action,
        by_user_id=by_user_id,
        text_encrypted=text_encrypted,
        created_at=now,
    )
    session.add(event)
    return event


def history(session: Session, item_kind: str, item_id: int) -> list[WorkEvent]:
    """Every step of one item, oldest first."""
    query = (
        select(WorkEvent)
        .filter_by(item_kind=item_kind, item_id=item_id)
        .order_by(WorkEvent.created_at, WorkEvent.id)
    )
    return list(session.scalars(query))
