"""What participants hand in: knowledge-check attempts (more kinds join here)."""

from __future__ import annotations

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from lti_tool.models.base import Base, created_at, int_pk


class KnowledgeCheckAttempt(Base):
    """One scored attempt; the answers are kept so a coordinator can see them."""

    __tablename__ = "knowledge_check_attempt"
    __table_args__ = (
        Index(
            "ix_knowledge_check_attempt_participant",
            "user_id",
            "context_pk",
            "program_id",
            "activity_id",
        ),
    )

    id: Mapped[int_pk]
    user_id: Mapped[int] = mapped_column(ForeignKey("lti_user.id", ondelete="CASCADE"))
    context_pk: Mapped[int] = mapped_column(
        ForeignKey("context.id", ondelete="CASCADE")
    )
    program_id: Mapped[str] = mapped_column(String(40))
    program_version: Mapped[str] = mapped_column(String(40))
    activity_id: Mapped[str] = mapped_column(String(120))
    answers: Mapped[list[int | None]] = mapped_column(JSON, default=list)
    score: Mapped[float]
    passed: Mapped[bool]
    created_at: Mapped[created_at]
