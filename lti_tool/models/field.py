"""Hours earned away from the screen: support-group attendance and field logs."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from lti_tool.models.base import Base, created_at, int_pk


class SupportGroupSession(Base):
    """A support-group meeting a coordinator held for one support-group activity."""

    __tablename__ = "support_group_session"
    __table_args__ = (
        CheckConstraint("minutes > 0 AND minutes <= 480", name="minutes_range"),
        Index("ix_support_group_session_context", "context_pk", "program_id"),
    )

    id: Mapped[int_pk]
    context_pk: Mapped[int] = mapped_column(
        ForeignKey("context.id", ondelete="RESTRICT")
    )
    program_id: Mapped[str] = mapped_column(String(40))
    program_version: Mapped[str] = mapped_column(String(40))
    activity_id: Mapped[str] = mapped_column(String(120))
    held_on: Mapped[date]
    topic: Mapped[str] = mapped_column(String(200))
    minutes: Mapped[int]
    recorded_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("lti_user.id", ondelete="SET NULL")
    )
    created_at: Mapped[created_at]


class SupportGroupAttendance(Base):
    """One participant present at one session, for so many minutes."""

    __tablename__ = "support_group_attendance"
    __table_args__ = (
        UniqueConstraint("session_id", "user_id"),
        CheckConstraint("minutes_present > 0", name="minutes_present_positive"),
    )

    id: Mapped[int_pk]
    session_id: Mapped[int] = mapped_column(
        ForeignKey("support_group_session.id", ondelete="RESTRICT")
    )
    user_id: Mapped[int] = mapped_column(ForeignKey("lti_user.id", ondelete="CASCADE"))
    minutes_present: Mapped[int]
    recorded_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("lti_user.id", ondelete="SET NULL")
    )
    created_at: Mapped[created_at]


class FieldHours(Base):
    """One internship or shadowing log entry, approved or returned by a coordinator."""

    __tablename__ = "field_hours"
    __table_args__ = (
        CheckConstraint("minutes > 0 AND minutes <= 720", name="minutes_range"),
        Index("ix_field_hours_participant", "user_id", "context_pk", "program_id"),
        Index("ix_field_hours_review", "context_pk", "status"),
    )

    id: Mapped[int_pk]
    user_id: Mapped[int] = mapped_column(ForeignKey("lti_user.id", ondelete="CASCADE"))
    context_pk: Mapped[int] = mapped_column(
        ForeignKey("context.id", ondelete="CASCADE")
    )
    program_id: Mapped[str] = mapped_column(String(40))
    program_version: Mapped[str] = mapped_column(String(40))
    activity_id: Mapped[str] = mapped_column(String(120))
    worked_on: Mapped[date]
    # Where and under whom: names of third parties, so encrypted like the text.
    site_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    supervisor_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    minutes: Mapped[int]
    description_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    # submitted | returned | approved
    status: Mapped[str] = mapped_column(String(20), default="submitted")
    # Logged before the recommended share of online hours was done.
    before_readiness: Mapped[bool] = mapped_column(default=False)
    reviewed_at: Mapped[datetime | None]
    reviewed_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("lti_user.id", ondelete="SET NULL")
    )
    comment_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[created_at]
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}
