"""The integrative paper: each submission kept, as text or an uploaded document."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from lti_tool.models.base import Base, created_at, int_pk


class PaperSubmission(Base):
    """One version of a paper handed in; a newer one supersedes a pending one."""

    __tablename__ = "paper_submission"
    __table_args__ = (
        Index(
            "ix_paper_submission_participant",
            "user_id",
            "context_pk",
            "program_id",
            "activity_id",
        ),
        Index("ix_paper_submission_review", "context_pk", "status"),
    )

    id: Mapped[int_pk]
    user_id: Mapped[int] = mapped_column(ForeignKey("lti_user.id", ondelete="CASCADE"))
    context_pk: Mapped[int] = mapped_column(
        ForeignKey("context.id", ondelete="CASCADE")
    )
    program_id: Mapped[str] = mapped_column(String(40))
    program_version: Mapped[str] = mapped_column(String(40))
    activity_id: Mapped[str] = mapped_column(String(120))
    # text | pdf | docx
    form: Mapped[str] = mapped_column(String(10))
    filename: Mapped[str | None] = mapped_column(String(255))
    size_bytes: Mapped[int]
    content_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    # submitted | superseded | revision_requested | accepted
    status: Mapped[str] = mapped_column(String(20), default="submitted")
    reviewed_at: Mapped[datetime | None]
    reviewed_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("lti_user.id", ondelete="SET NULL")
    )
    feedback_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[created_at]
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}
