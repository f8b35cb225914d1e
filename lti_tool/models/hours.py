"""The hours ledger and the measured study time behind it."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from lti_tool.models.base import Base, created_at, int_pk


class HoursEntry(Base):
    """One append-only line of credited minutes; corrections are new lines.

    Two unique keys make double crediting impossible even under races:
    `credit_key` names the activity and how many minutes it had before this line,
    so two requests crediting from the same starting point cannot both land;
    `event_key` names a once-only event (a passed check, an approved field entry,
    an attendance) so it is credited once however often it is retried.
    """

    __tablename__ = "hours_entry"
    __table_args__ = (
        Index("ix_hours_entry_participant", "user_id", "context_pk", "program_id"),
        Index("ix_hours_entry_daily", "user_id", "credited_on"),
    )

    id: Mapped[int_pk]
    user_id: Mapped[int] = mapped_column(ForeignKey("lti_user.id", ondelete="RESTRICT"))
    context_pk: Mapped[int] = mapped_column(
        ForeignKey("context.id", ondelete="RESTRICT")
    )
    program_id: Mapped[str] = mapped_column(String(40))
    program_version: Mapped[str] = mapped_column(String(40))
    activity_id: Mapped[str | None] = mapped_column(String(120))
    category: Mapped[str] = mapped_column(String(40))
    competencies: Mapped[list[str]] = mapped_column(JSON, default=list)
    minutes: Mapped[int]
    source: Mapped[str] = mapped_column(String(40))
    approved_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("lti_user.id", ondelete="RESTRICT")
    )
    reason: Mapped[str | None] = mapped_column(Text)
    credit_key: Mapped[str | None] = mapped_column(String(255), unique=True)
    event_key: Mapped[str | None] = mapped_column(String(255), unique=True)
    # The participant's calendar day in the program's time zone, for the daily cap.
    credited_on: Mapped[date]
    created_at: Mapped[created_at]


class ActivityProgress(Base):
    """Measured study of one activity by one participant: the audit trail of time."""

    __tablename__ = "activity_progress"
    __table_args__ = (
        UniqueConstraint("user_id", "context_pk", "program_id", "activity_id"),
    )

    id: Mapped[int_pk]
    user_id: Mapped[int] = mapped_column(ForeignKey("lti_user.id", ondelete="CASCADE"))
    context_pk: Mapped[int] = mapped_column(
        ForeignKey("context.id", ondelete="CASCADE")
    )
    program_id: Mapped[str] = mapped_column(String(40))
    activity_id: Mapped[str] = mapped_column(String(120))
    active_seconds: Mapped[int] = mapped_column(default=0)
    # Highest heartbeat sequence number accepted, per page view (client id).
    last_sequence: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)
    # Client time of the latest accepted heartbeat, to refuse overlapping claims.
    last_heartbeat_at: Mapped[datetime | None]
    watched_ranges: Mapped[list[list[float]]] = mapped_column(JSON, default=list)
    media_seconds: Mapped[float | None]
    first_seen_at: Mapped[created_at]
    last_seen_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]


class StudyClock(Base):
    """The latest heartbeat time per participant, across all their activities.

    Two activities studied "at once" in two windows cannot both earn time: each
    heartbeat must start after the previous one ended.
    """

    __tablename__ = "study_clock"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("lti_user.id", ondelete="CASCADE"), primary_key=True
    )
    last_heartbeat_at: Mapped[datetime]
    # Server time up to which study has been counted. Each request may claim only
    # the time between this mark and now (plus a little slack), and the mark then
    # moves on by what was claimed: backdated or rapid-fire heartbeats add nothing.
    counted_until: Mapped[datetime | None]


class ProgramCompletion(Base):
    """The moment a participant first met every hour requirement of a program."""

    __tablename__ = "program_completion"
    __table_args__ = (UniqueConstraint("user_id", "context_pk", "program_id"),)

    id: Mapped[int_pk]
    user_id: Mapped[int] = mapped_column(ForeignKey("lti_user.id", ondelete="RESTRICT"))
    context_pk: Mapped[int] = mapped_column(
        ForeignKey("context.id", ondelete="RESTRICT")
    )
    program_id: Mapped[str] = mapped_column(String(40))
    program_version: Mapped[str] = mapped_column(String(40))
    started_at: Mapped[datetime]
    completed_at: Mapped[datetime]
