"""Completion certificates, the legal names printed on them and signer images."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from lti_tool.models.base import Base, created_at, int_pk


class LegalName(Base):
    """The full legal name a participant confirmed for certificates in one course.

    Kept per course, so the coordinator who may correct it is the one of that
    course; only the name itself is stored, nothing else about identity.
    """

    __tablename__ = "legal_name"
    __table_args__ = (UniqueConstraint("user_id", "context_pk"),)

    id: Mapped[int_pk]
    user_id: Mapped[int] = mapped_column(ForeignKey("lti_user.id", ondelete="CASCADE"))
    context_pk: Mapped[int] = mapped_column(
        ForeignKey("context.id", ondelete="CASCADE")
    )
    name: Mapped[str] = mapped_column(String(200))
    confirmed_at: Mapped[datetime]
    corrected_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("lti_user.id", ondelete="SET NULL")
    )
    corrected_at: Mapped[datetime | None]


class CertificateSignature(Base):
    """A signer's image by digest, so a certificate keeps the one it was issued with."""

    __tablename__ = "certificate_signature"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    media_type: Mapped[str] = mapped_column(String(40))
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[created_at]


class Certificate(Base):
    """One issued certificate: every printed fact is copied in and never edited.

    Only the revocation fields change after issue. A reissue is a new row whose
    `duplicate_of_id` names the certificate it replaces.
    """

    __tablename__ = "certificate"
    __table_args__ = (
        Index("ix_certificate_participant", "user_id", "context_pk", "program_id"),
        Index("ix_certificate_context_issued", "context_pk", "issued_at"),
    )

    id: Mapped[int_pk]
    number: Mapped[str] = mapped_column(String(40), unique=True)
    # "original:<user>:<context>:<program>" or "duplicate:<id>": two requests
    # issuing the same certificate at once cannot both succeed.
    issue_key: Mapped[str] = mapped_column(String(120), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("lti_user.id", ondelete="RESTRICT"))
    context_pk: Mapped[int] = mapped_column(
        ForeignKey("context.id", ondelete="RESTRICT")
    )
    program_id: Mapped[str] = mapped_column(String(40))
    program_version: Mapped[str] = mapped_column(String(40))
    program_title: Mapped[str] = mapped_column(String(255))
    legal_name: Mapped[str] = mapped_column(String(200))
    # [{"label": ..., "minutes": ...}], in the order printed.
    hours_lines: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    competency_statement: Mapped[str] = mapped_column(Text)
    provider_name: Mapped[str] = mapped_column(String(255))
    provider_approval_id: Mapped[str] = mapped_column(String(120), default="")
    signer_name: Mapped[str] = mapped_column(String(255))
    signer_title: Mapped[str] = mapped_column(String(255), default="")
    signature_digest: Mapped[str | None] = mapped_column(
        ForeignKey("certificate_signature.digest", ondelete="RESTRICT")
    )
    started_on: Mapped[date]
    completed_on: Mapped[date]
    issued_at: Mapped[datetime]
    template_version: Mapped[str] = mapped_column(String(20))
    # NO ACTION rather than RESTRICT: a certificate still cannot go while a
    # reissue points at it, but one statement may clear a whole chain.
    duplicate_of_id: Mapped[int | None] = mapped_column(
        ForeignKey("certificate.id"), index=True
    )
    revoked_at: Mapped[datetime | None]
    revoked_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("lti_user.id", ondelete="RESTRICT")
    )
    revoke_reason: Mapped[str | None] = mapped_column(Text)
    retain_until: Mapped[date]
