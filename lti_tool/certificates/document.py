"""What a certificate says, in one shape both the PDF and the HTML view print.

The design is versioned: a certificate records the template version it was issued
from, and every version stays renderable, because the certifying body approves
each design before it is used (DOMAIN §9).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from lti_tool.models import Certificate

TEMPLATE_VERSION = "2026.1"
KNOWN_TEMPLATE_VERSIONS = frozenset({"2026.1"})

TITLE = "Certificate of Completion"


@dataclass(frozen=True)
class HoursLine:
    """One printed line of hours, such as the course hours or the internship."""

    label: str
    minutes: int

    @property
    def text(self) -> str:
        return f"{self.label}: {hours_text(self.minutes)}"


@dataclass(frozen=True)
class Signature:
    """The signer's image as stored at issue."""

    data: bytes
    media_type: str


@dataclass(frozen=True)
class CertificateDocument:
    """Everything printed on one certificate."""

    number: str
    legal_name: str
    program_title: str
    provider_name: str
    provider_approval_id: str
    hours: tuple[HoursLine, ...]
    competency_statement: str
    started_on: date
    completed_on: date
    issued_on: date
    signer_name: str
    signer_title: str
    verify_url: str
    template_version: str
    duplicate_of_number: str | None = None
    signature: Signature | None = None

    @classmethod
    def from_certificate(
        cls,
        certificate: Certificate,
        *,
        issued_on: date,
        verify_url: str,
        duplicate_of_number: str | None,
        signature: Signature | None,
    ) -> CertificateDocument:
        """The document of a stored certificate; `issued_on` in the program's zone."""
        return cls(
            number=certificate.number,
            legal_name=certificate.legal_name,
            program_title=certificate.program_title,
            provider_name=certificate.provider_name,
            provider_approval_id=certificate.provider_approval_id,
            hours=tuple(
                HoursLine(str(line["label"]), int(line["minutes"]))
                for line in certificate.hours_lines
            ),
            competency_statement=certificate.competency_statement,
            started_on=certificate.started_on,
            completed_on=certificate.completed_on,
            issued_on=issued_on,
            signer_name=certificate.signer_name,
            signer_title=certificate.signer_title,
            verify_url=verify_url,
            template_version=certificate.template_version,
            duplicate_of_number=duplicate_of_number,
            signature=signature,
        )

    @property
    def approval_text(self) -> str:
        if not self.provider_approval_id:
            return ""
        return f"Approved training provider, approval no. {self.provider_approval_id}"

    @property
    def duplicate_text(self) -> str:
        if not self.duplicate_of_number:
            return ""
        return f"Duplicate of certificate {self.duplicate_of_number}"

    def dates(self) -> tuple[tuple[str, str], ...]:
        """The dated facts, as (label, value), in printed order."""
        return (
            ("Course started", long_date(self.started_on)),
            ("Course completed", long_date(self.completed_on)),
            ("Certificate issued", long_date(self.issued_on)),
        )


def hours_text(minutes: int) -> str:
    """Whole or quarter hours in words: "80 hours", "1 hour", "2.25 hours"."""
    hours = (minutes // 15) / 4
    shown = f"{hours:g}"
    return f"{shown} hour" if hours == 1 else f"{shown} hours"


def long_date(day: date) -> str:
    """A date as US readers write it: "December 4, 2026"."""
    return f"{day:%B} {day.day}, {day.year}"
