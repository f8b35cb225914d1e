"""Grade-book columns on platforms, and the outbox of scores still to deliver."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from lti_tool.models.base import Base, created_at, int_pk, url


class LineItem(Base):
    """The platform's grade-book column for one resource link and its target.

    Found or created once and stored, so a second worker or a second launch never
    creates a duplicate column (LTI-NOTES case 20).
    """

    __tablename__ = "line_item"
    __table_args__ = (UniqueConstraint("resource_link_pk", "resource_id", "tag"),)

    id: Mapped[int_pk]
    resource_link_pk: Mapped[int] = mapped_column(
        ForeignKey("resource_link.id", ondelete="CASCADE")
    )
    line_item_url: Mapped[url]
    label: Mapped[str] = mapped_column(String(255), default="")
    score_maximum: Mapped[float]
    # The target ("pss", "pss/<module id>") the column scores.
    resource_id: Mapped[str] = mapped_column(String(255))
    tag: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[created_at]


class ScoreOutbox(Base):
    """A participant's score for a link is due: written in the ledger's transaction.

    `due_version` grows with every ledger change; a delivery that read the ledger
    at version N leaves the row pending if it has moved on meanwhile, so no change
    is ever lost. The score itself is computed from the ledger at send time.
    """

    __tablename__ = "score_outbox"
    __table_args__ = (
        UniqueConstraint("user_id", "resource_link_pk"),
        Index("ix_score_outbox_due", "state", "next_attempt_at"),
        Index("ix_score_outbox_context", "context_pk", "state"),
    )

    id: Mapped[int_pk]
    user_id: Mapped[int] = mapped_column(ForeignKey("lti_user.id", ondelete="CASCADE"))
    context_pk: Mapped[int] = mapped_column(
        ForeignKey("context.id", ondelete="CASCADE")
    )
    resource_link_pk: Mapped[int] = mapped_column(
        ForeignKey("resource_link.id", ondelete="CASCADE")
    )
    # "pending", "sent" or "failed" (the platform refused; kept for a person).
    state: Mapped[str] = mapped_column(String(10), default="pending")
    due_version: Mapped[int] = mapped_column(default=1)
    due_at: Mapped[datetime]
    next_attempt_at: Mapped[datetime]
    attempts: Mapped[int] = mapped_column(default=0)
    # A worker's claim: whoever holds an unexpired lease is sending this row.
    lease_owner: Mapped[str | None] = mapped_column(String(64))
    lease_until: Mapped[datetime | None]
    last_attempt_at: Mapped[datetime | None]
    last_status: Mapped[int | None]
    # The platform's answer to the last failed attempt, shortened, never a token.
    last_error: Mapped[str | None] = mapped_column(Text)
    # The newest score timestamp sent, so the next one is always later.
    last_timestamp: Mapped[datetime | None]
    sent_version: Mapped[int] = mapped_column(default=0)
    sent_at: Mapped[datetime | None]
    sent_score: Mapped[float | None]
    sent_line_item_pk: Mapped[int | None] = mapped_column(
        ForeignKey("line_item.id", ondelete="SET NULL")
    )
