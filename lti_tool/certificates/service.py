"""Issuing, reissuing, revoking and verifying certificates.

Functions take the request's session and never commit. A certificate copies every
fact it prints when it is issued, so later changes to content or settings never
alter a certificate already in someone's hands; a corrected name makes a new
certificate marked as a duplicate, and the old one stays on record.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import unicodedata
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from lti_tool.certificates.document import (
    TEMPLATE_VERSION,
    CertificateDocument,
    Signature,
)
from lti_tool.certificates.numbers import canonical, new_number
from lti_tool.certificates.pdf import can_print
from lti_tool.content.model import Program
from lti_tool.hours.ledger import Participant
from lti_tool.models import (
    Certificate,
    CertificateSignature,
    LegalName,
    ProgramCompletion,
)
from lti_tool.models.base import utcnow
from lti_tool.settings import Settings

log = logging.getLogger(__name__)

# Hour categories printed on a line of their own rather than counted in the course
# hours: the PSS internship is the provider's addition to the approved 80-hour
# course, and reviewers must see an unambiguous course total (DOMAIN §9).
SEPARATE_CATEGORIES = {
    "internship": "Supervised internship (in addition to the course)"
}
COURSE_HOURS_LABEL = "Course hours"

MAX_NAME_LENGTH = 200
MAX_REASON_LENGTH = 2000
_PNG = b"\x89PNG\r\n\x1a\n"
_JPEG = b"\xff\xd8\xff"


class CertificateError(Exception):
    """A certificate action refused; the message is written for the person acting."""


class NotComplete(CertificateError):
    """The program is not complete yet."""


class NameNeeded(CertificateError):
    """No legal name has been confirmed for this course yet."""


class InvalidName(CertificateError):
    """The legal name given cannot be printed as it is."""


class NotConfigured(CertificateError):
    """The settings lack something every certificate must show."""


class InvalidAction(CertificateError):
    """The certificate is not in a state that allows the action."""


@dataclass(frozen=True)
class Issuer:
    """Who issues certificates, from the settings; copied into each certificate."""

    provider_name: str
    provider_approval_id: str
    signer_name: str
    signer_title: str
    signature_path: Path | None
    retention_years: int
    timezone: str
    base_url: str

    @classmethod
    def from_settings(cls, settings: Settings) -> Issuer:
        image = settings.certificate_signature_image
        return cls(
            provider_name=settings.provider_name.strip(),
            provider_approval_id=settings.provider_approval_id.strip(),
            signer_name=settings.certificate_signer_name.strip(),
            signer_title=settings.certificate_signer_title.strip(),
            signature_path=Path(image) if image else None,
            retention_years=settings.certificate_retention_years,
            timezone=settings.program_timezone,
            base_url=settings.base_url.rstrip("/"),
        )

    def local_day(self, moment: datetime) -> date:
        """The calendar day of a moment where the program runs."""
        aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        return aware.astimezone(ZoneInfo(self.timezone)).date()

    def verify_url(self, number: str) -> str:
        return f"{self.base_url}/verify/{number}"


# ----------------------------------------------------------------- legal names


def clean_legal_name(raw: str) -> str:
    """The name with spacing tidied; InvalidName when it cannot be printed."""
    name = " ".join(unicodedata.normalize("NFC", raw).split())
    if not name or not any(char.isalpha() for char in name):
        raise InvalidName("Enter your full legal name.")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidName(f"A name can be at most {MAX_NAME_LENGTH} characters.")
    if any(unicodedata.category(char).startswith("C") for char in name):
        raise InvalidName("The name contains characters that cannot be printed.")
    if not can_print(name):
        raise InvalidName(
            "The name contains letters the certificate cannot print yet. "
            "Please contact your coordinator."
        )
    return name


def find_legal_name(session: Session, who: Participant) -> LegalName | None:
    return session.scalars(
        select(LegalName).filter_by(user_id=who.user_id, context_pk=who.context_pk)
    ).first()


def confirm_legal_name(
    session: Session, who: Participant, name: str, now: datetime | None = None
) -> LegalName:
    """Record the participant's confirmed name; a confirmed name stays as it is."""
    name = clean_legal_name(name)
    existing = find_legal_name(session, who)
    if existing is not None:
        return existing
    legal = LegalName(
        user_id=who.user_id,
        context_pk=who.context_pk,
        name=name,
        confirmed_at=now or utcnow(),
    )
    session.add(legal)
    session.flush()
    log.info("legal name confirmed user=%s context=%s", who.user_id, who.context_pk)
    return legal


# ------------------------------------------------------------------- issuing


def find_completion(
    session: Session, who: Participant, program_id: str
) -> ProgramCompletion | None:
    return session.scalars(
        select(ProgramCompletion).filter_by(
            user_id=who.user_id, context_pk=who.context_pk, program_id=program_id
        )
    ).first()


def current_certificate(
    session: Session, who: Participant, program_id: str
) -> Certificate | None:
    """The newest certificate of a participant for a program: the one that counts."""
    return session.scalars(
        select(Certificate)
        .filter_by(
            user_id=who.user_id, context_pk=who.context_pk, program_id=program_id
        )
        .order_by(Certificate.id.desc())
    ).first()


def issue_certificate(
    session: Session,
    issuer: Issuer,
    who: Participant,
    program: Program,
    now: datetime | None = None,
) -> Certificate:
    """The participant's certificate, issued now unless it already exists."""
    existing = current_certificate(session, who, program.id)
    if existing is not None:
        return existing
    completion = find_completion(session, who, program.id)
    if completion is None:
        raise NotComplete("The program is not complete yet.")
    legal = find_legal_name(session, who)
    if legal is None:
        raise NameNeeded("Confirm your full legal name first.")

    now = now or utcnow()
    certificate = Certificate(
        issue_key=f"original:{who.user_id}:{who.context_pk}:{program.id}",
        user_id=who.user_id,
        context_pk=who.context_pk,
        program_id=program.id,
        program_version=completion.program_version,
        program_title=program.title,
        legal_name=legal.name,
        hours_lines=hours_lines(program),
        competency_statement=competency_statement(program),
        started_on=issuer.local_day(completion.started_at),
        completed_on=issuer.local_day(completion.completed_at),
    )
    _stamp(session, issuer, certificate, program.provider, now)
    stored = _insert_once(session, certificate)
    if stored is certificate:
        log.info(
            "certificate issued certificate=%s user=%s context=%s program=%s "
            "template=%s",
            certificate.id,
            who.user_id,
            who.context_pk,
            program.id,
            certificate.template_version,
        )
    return stored


def hours_lines(program: Program) -> list[dict[str, object]]:
    """The course hours, then each separately printed category, in minutes."""
    course = sum(
        minutes
        for category, minutes in program.requirements.items()
        if category not in SEPARATE_CATEGORIES
    )
    lines: list[dict[str, object]] = [{"label": COURSE_HOURS_LABEL, "minutes": course}]
    for category, label in SEPARATE_CATEGORIES.items():
        if program.requirements.get(category):
            lines.append({"label": label, "minutes": program.requirements[category]})
    return lines


def competency_statement(program: Program) -> str:
    count = len(program.competencies)
    if count == 1:
        return "The course covered the competency required for this program."
    return f"The course covered all {count} competencies required for this program."


def _stamp(
    session: Session,
    issuer: Issuer,
    certificate: Certificate,
    fallback_provider: str,
    now: datetime,
) -> None:
    """Fill in the issuing facts: provider, signer, dates, template and number."""
    if not issuer.signer_name:
        log.error("config problem=certificate_signer_name_missing")
        raise NotConfigured(
            "Certificates are not set up yet. Please contact your coordinator."
        )
    certificate.provider_name = issuer.provider_name or fallback_provider
    certificate.provider_approval_id = issuer.provider_approval_id
    certificate.signer_name = issuer.signer_name
    certificate.signer_title = issuer.signer_title
    certificate.signature_digest = _signature_digest(session, issuer)
    certificate.issued_at = now
    certificate.template_version = TEMPLATE_VERSION
    certificate.retain_until = _years_after(
        issuer.local_day(now), issuer.retention_years
    )
    certificate.number = new_number(certificate.program_id)


def _years_after(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February into a year without one
        return day.replace(year=day.year + years, day=28)


def _signature_digest(session: Session, issuer: Issuer) -> str | None:
    """Store the configured signature image once, by digest; None when unset."""
    if issuer.signature_path is None:
        return None
    try:
        data = issuer.signature_path.read_bytes()
    except OSError as problem:
        log.error("config problem=certificate_signature_unreadable error=%s", problem)
        raise NotConfigured(
            "Certificates are not set up yet. Please contact your coordinator."
        ) from problem
    media_type = _image_type(data)
    if media_type is None:
        log.error("config problem=certificate_signature_not_png_or_jpeg")
        raise NotConfigured(
            "Certificates are not set up yet. Please contact your coordinator."
        )
    digest = hashlib.sha256(data).hexdigest()
    if session.get(CertificateSignature, digest) is None:
        try:
            with session.begin_nested():
                session.add(
                    CertificateSignature(
                        digest=digest, media_type=media_type, data=data
                    )
                )
        except IntegrityError:
            pass  # another request stored the same image first
    return digest


def _image_type(data: bytes) -> str | None:
    if data.startswith(_PNG):
        return "image/png"
    if data.startswith(_JPEG):
        return "image/jpeg"
    return None


def _insert_once(session: Session, certificate: Certificate) -> Certificate:
    """Insert in a savepoint; the row already issued under the same key wins."""
    for _attempt in range(3):
        try:
            with session.begin_nested():
                session.add(certificate)
            return certificate
        except IntegrityError:
            if certificate in session:
                session.expunge(certificate)
            earlier = session.scalars(
                select(Certificate).filter_by(issue_key=certificate.issue_key)
            ).first()
            if earlier is not None:
                return earlier
            # A number collision (about one in 2**100): draw another.
            certificate.number = new_number(certificate.program_id)
    raise InvalidAction("The certificate could not be issued. Please try again.")


# --------------------------------------------------- corrections and revocation


def correct_legal_name(
    session: Session,
    issuer: Issuer,
    certificate: Certificate,
    name: str,
    by_user_id: int,
    now: datetime | None = None,
) -> Certificate:
    """Correct the participant's legal name and reissue their certificate."""
    now = now or utcnow()
    name = clean_legal_name(name)
    if certificate.revoked_at is not None:
        raise InvalidAction("A revoked certificate cannot be reissued.")
    if find_replacement(session, certificate) is not None:
        raise InvalidAction("This certificate has already been reissued.")
    if name == certificate.legal_name:
        raise InvalidName("That is already the name on the certificate.")

    who = Participant(certificate.user_id, certificate.context_pk)
    legal = find_legal_name(session, who)
    if legal is None:
        legal = LegalName(user_id=who.user_id, context_pk=who.context_pk)
        legal.confirmed_at = certificate.issued_at
        session.add(legal)
    legal.name = name
    legal.corrected_by_user_id = by_user_id
    legal.corrected_at = now
    session.flush()
    return reissue(session, issuer, certificate, by_user_id, now)


def reissue(
    session: Session,
    issuer: Issuer,
    original: Certificate,
    by_user_id: int,
    now: datetime | None = None,
) -> Certificate:
    """A new certificate for the same completion, marked as a duplicate of the old."""
    now = now or utcnow()
    legal = find_legal_name(session, Participant(original.user_id, original.context_pk))
    duplicate = Certificate(
        issue_key=f"duplicate:{original.id}",
        user_id=original.user_id,
        context_pk=original.context_pk,
        program_id=original.program_id,
        program_version=original.program_version,
        program_title=original.program_title,
        legal_name=legal.name if legal else original.legal_name,
        hours_lines=list(original.hours_lines),
        competency_statement=original.competency_statement,
        started_on=original.started_on,
        completed_on=original.completed_on,
        duplicate_of_id=original.id,
    )
    _stamp(session, issuer, duplicate, original.provider_name, now)
    stored = _insert_once(session, duplicate)
    log.info(
        "certificate reissued certificate=%s duplicate_of=%s by=%s",
        stored.id,
        original.id,
        by_user_id,
    )
    return stored


def revoke(
    session: Session,
    certificate: Certificate,
    by_user_id: int,
    reason: str,
    now: datetime | None = None,
) -> Certificate:
    """Mark a certificate revoked, with who did it and why; nothing is deleted."""
    reason = reason.strip()
    if not reason:
        raise InvalidAction("Give a reason for revoking the certificate.")
    if certificate.revoked_at is not None:
        raise InvalidAction("This certificate is already revoked.")
    certificate.revoked_at = now or utcnow()
    certificate.revoked_by_user_id = by_user_id
    certificate.revoke_reason = reason[:MAX_REASON_LENGTH]
    session.flush()
    log.info("certificate revoked certificate=%s by=%s", certificate.id, by_user_id)
    return certificate


# ------------------------------------------------------------ looking things up


def find_replacement(session: Session, certificate: Certificate) -> Certificate | None:
    """The reissue that replaced a certificate, if there is one."""
    return session.scalars(
        select(Certificate).filter_by(duplicate_of_id=certificate.id)
    ).first()


def find_in_context(
    session: Session, number: str, context_pk: int
) -> Certificate | None:
    return session.scalars(
        select(Certificate).filter_by(number=canonical(number), context_pk=context_pk)
    ).first()


@dataclass(frozen=True)
class CourseEntry:
    """A certificate in a coordinator's list, with whether it still counts."""

    certificate: Certificate
    is_superseded: bool

    @property
    def status(self) -> str:
        if self.certificate.revoked_at is not None:
            return "revoked"
        return "superseded" if self.is_superseded else "valid"


def list_for_context(session: Session, context_pk: int) -> list[CourseEntry]:
    """Every certificate issued in a course, newest first."""
    certificates = session.scalars(
        select(Certificate)
        .filter_by(context_pk=context_pk)
        .order_by(Certificate.issued_at.desc(), Certificate.id.desc())
    ).all()
    replaced = {c.duplicate_of_id for c in certificates if c.duplicate_of_id}
    return [CourseEntry(c, c.id in replaced) for c in certificates]


@dataclass(frozen=True)
class Verification:
    """The public answer about one number: valid, superseded, revoked or not found."""

    status: str
    certificate: Certificate | None = None
    replaced_by: str | None = None

    @property
    def is_found(self) -> bool:
        return self.certificate is not None


# Compared against when nothing matched, so both outcomes do the same work.
_DECOY_NUMBER = "CERT-00000-00000-00000-00000"


def verify(session: Session, raw_number: str) -> Verification:
    """Look a number up the same way whether or not it exists."""
    wanted = canonical(raw_number)
    row = session.scalars(select(Certificate).filter_by(number=wanted)).first()
    stored = row.number if row is not None else _DECOY_NUMBER
    matched = hmac.compare_digest(stored.encode(), wanted.encode()) and row is not None
    replacement = session.scalars(
        select(Certificate.number).filter_by(
            duplicate_of_id=row.id if row is not None else -1
        )
    ).first()
    if not matched or row is None:
        return Verification("not_found")
    if row.revoked_at is not None:
        return Verification("revoked", row)
    if replacement is not None:
        return Verification("superseded", row, replacement)
    return Verification("valid", row)


def document_for(
    session: Session, issuer: Issuer, certificate: Certificate
) -> CertificateDocument:
    """The printable document of a stored certificate."""
    original = (
        session.get(Certificate, certificate.duplicate_of_id)
        if certificate.duplicate_of_id
        else None
    )
    stored_signature = (
        session.get(CertificateSignature, certificate.signature_digest)
        if certificate.signature_digest
        else None
    )
    signature = (
        Signature(stored_signature.data, stored_signature.media_type)
        if stored_signature is not None
        else None
    )
    return CertificateDocument.from_certificate(
        certificate,
        issued_on=issuer.local_day(certificate.issued_at),
        verify_url=issuer.verify_url(certificate.number),
        duplicate_of_number=original.number if original is not None else None,
        signature=signature,
    )
