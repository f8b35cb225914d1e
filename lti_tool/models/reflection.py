"""Reflective exercises and the review history of participant work.

Text a participant or coordinator writes is stored only encrypted (the
`*_encrypted` columns, see lti_tool/work/crypto.py): reflections hold personal
stories.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from lti_tool.models.base import Base, created_at, int_pk


class Reflection(Base):
    """One participant's response to one reflection activity.

    The draft is the working copy autosave writes; the submission is what the
    coordinator reviews. A participant may keep editing and resubmitting until
    the reflection is accepted.
    """

    __tablename__ = "reflection"
    __table_args__ = (
        UniqueConstraint("user_id", "context_pk", "program_id", "activity_id"),
        Index("ix_reflection_review", "context_pk", "status"),
    )

    id: Mapped[int_pk]
    user_id: Mapped[int] = mapped_column(ForeignKey("lti_user.id", ondelete="CASCADE"))
    context_pk: Mapped[int] = mapped_column(
        ForeignKey("context.id", ondelete="CASCADE")
    )
    program_id: Mapped[str] = mapped_column(String(40))
    program_version: Mapped[str] = mapped_column(String(40))
    activity_id: Mapped[str] = mapped_column(String(120))
    # draft | submitted | revision_requested | accepted
    status: Mapped[str] = mapped_column(String(20), default="draft")
    draft_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    draft_saved_at: Mapped[datetime | None]
    submitted_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    submitted_at: Mapped[datetime | None]
    # Counts submissions, so a review names the one the coordinator read.
    submission_count: Mapped[int] = mapped_column(default=0)
    reviewed_at: Mapped[datetime | None]
    reviewed_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("lti_user.id", ondelete="SET NULL")
    )
    created_at: Mapped[created_at]
    # Optimistic lock: an autosave racing a review fails instead of overwriting.
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}


class WorkEvent(Base):
    """One step in the history of a piece of work: submitted, reviewed, returned.

    `text_encrypted` holds what the step carried: the submitted text for a
    reflection's submission, the coordinator's feedback for a review.
    """

    __tablename__ = "work_event"
    __table_args__ = (Index("ix_work_event_item", "item_kind", "item_id"),)

    id: Mapped[int_pk]
    # reflection | field_hours | paper
    item_kind: Mapped[str] = mapped_column(String(20))
    item_id: Mapped[int]
    # submitted | accepted | revision_requested | approved | returned
    action: Mapped[str] = mapped_column(String(30))
    by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("lti_user.id", ondelete="SET NULL")
    )
    text_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[created_at]
