"""The certificate as a PDF: A4 or US Letter, fonts embedded, PDF/A-2U.

PDF/A-2U keeps the fonts inside the file and maps every glyph to Unicode, so the
text stays selectable and searchable by the reviewers who receive the upload, and
the file still opens the same way years later.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from datetime import UTC, datetime, time
from functools import cache
from pathlib import Path

from fontTools.ttLib import TTFont
from fpdf import FPDF
from fpdf.enums import Align, XPos, YPos

from lti_tool.certificates import qr
from lti_tool.certificates.document import (
    KNOWN_TEMPLATE_VERSIONS,
    TITLE,
    CertificateDocument,
)

FONTS = Path(__file__).resolve().parent / "fonts"
REGULAR = FONTS / "DejaVuSans.ttf"
BOLD = FONTS / "DejaVuSans-Bold.ttf"
FAMILY = "DejaVuSans"
PAPERS = {"a4": "A4", "letter": "Letter"}
COMPLIANCE = "PDF/A-2U"

INK = (29, 36, 48)
MUTED = (74, 85, 104)
ACCENT = (31, 95, 139)


@cache
def _printable() -> frozenset[int]:
    """Code points both certificate fonts have glyphs for."""
    points: set[int] | None = None
    for path in (REGULAR, BOLD):
        with TTFont(path, lazy=True) as font:
            found = set(font.getBestCmap())
        points = found if points is None else points & found
    return frozenset(points or ())


def can_print(text: str) -> bool:
    """True when every character of `text` has a glyph in the certificate fonts."""
    printable = _printable()
    return all(ord(char) in printable or char == " " for char in text)


def render_pdf(document: CertificateDocument, paper: str = "a4") -> bytes:
    """The certificate as PDF bytes on A4 (`a4`) or US Letter (`letter`)."""
    if paper not in PAPERS:
        raise ValueError(f"paper must be one of {sorted(PAPERS)}")
    draw = _DESIGNS.get(document.template_version)
    if draw is None or document.template_version not in KNOWN_TEMPLATE_VERSIONS:
        raise ValueError(f"no design for template {document.template_version!r}")

    pdf = FPDF(format=PAPERS[paper], enforce_compliance=COMPLIANCE)
    pdf.add_font(FAMILY, "", str(REGULAR))
    pdf.add_font(FAMILY, "B", str(BOLD))
    _describe(pdf, document)
    pdf.set_auto_page_break(False)
    pdf.set_margins(20, 18, 20)
    pdf.add_page()
    draw(pdf, document)
    return bytes(pdf.output())


def _describe(pdf: FPDF, document: CertificateDocument) -> None:
    # Names are personal data: the metadata carries the number, not the person.
    pdf.set_title(f"{TITLE} {document.number}")
    pdf.set_subject(document.program_title)
    pdf.set_author(document.provider_name)
    pdf.set_creator("Peer Support Training tool")
    pdf.set_lang("en-US")
    pdf.set_creation_date(_midday(document))


def _midday(document: CertificateDocument) -> datetime:
    # The issue day, so a certificate downloaded twice is the same document.
    return datetime.combine(document.issued_on, time(12), tzinfo=UTC)


def _draw_2026_1(pdf: FPDF, document: CertificateDocument) -> None:
    """The first approved design: a single page, portrait, text centred."""
    width = pdf.w - pdf.l_margin - pdf.r_margin
    _frame(pdf)

    _text(pdf, document.provider_name, 12, bold=True, color=ACCENT)
    if document.approval_text:
        _text(pdf, document.approval_text, 9, color=MUTED)
    pdf.ln(10)
    _text(pdf, TITLE, 28, bold=True)
    pdf.ln(8)
    _text(pdf, "This certifies that", 12, color=MUTED)
    pdf.ln(2)
    _text(pdf, document.legal_name, _fitted(pdf, document.legal_name, width), True)
    pdf.ln(2)
    _text(pdf, "has completed", 12, color=MUTED)
    pdf.ln(2)
    _text(pdf, document.program_title, 16, bold=True)
    pdf.ln(6)
    for line in document.hours:
        _text(pdf, line.text, 12, bold=True)
    pdf.ln(4)
    _text(pdf, document.competency_statement, 11)
    pdf.ln(6)
    for label, value in document.dates():
        _text(pdf, f"{label}: {value}", 11)
    if document.duplicate_text:
        pdf.ln(3)
        _text(pdf, document.duplicate_text, 10, bold=True, color=MUTED)

    _signature_block(pdf, document)
    _verification_block(pdf, document)


def _frame(pdf: FPDF) -> None:
    pdf.set_draw_color(*ACCENT)
    pdf.set_line_width(0.8)
    pdf.rect(10, 10, pdf.w - 20, pdf.h - 20)
    pdf.set_line_width(0.2)
    pdf.rect(12, 12, pdf.w - 24, pdf.h - 24)
    pdf.set_y(22)


def _text(
    pdf: FPDF,
    text: str,
    size: float,
    bold: bool = False,
    color: tuple[int, int, int] = INK,
) -> None:
    """One centred paragraph, wrapped to the text width."""
    pdf.set_font(FAMILY, "B" if bold else "", size)
    pdf.set_text_color(*color)
    pdf.multi_cell(
        0,
        size * 0.5,
        text,
        align=Align.C,
        new_x=XPos.LMARGIN,
        new_y=YPos.NEXT,
    )


def _fitted(pdf: FPDF, text: str, width: float, largest: int = 26) -> int:
    """The largest bold size up to `largest` at which the name fits on one line."""
    for size in range(largest, 13, -1):
        pdf.set_font(FAMILY, "B", size)
        if pdf.get_string_width(text) <= width:
            return size
    return 14


def _signature_block(pdf: FPDF, document: CertificateDocument) -> None:
    """The signer's image, a rule, their name and title, above the footer."""
    line_y = pdf.h - 78
    left = pdf.w / 2 - 40
    if document.signature is not None:
        pdf.image(
            io.BytesIO(document.signature.data),
            x=left + 10,
            y=line_y - 22,
            h=20,
            keep_aspect_ratio=True,
            w=60,
            alt_text=f"Signature of {document.signer_name}",
        )
    pdf.set_draw_color(*INK)
    pdf.line(left, line_y, left + 80, line_y)
    pdf.set_y(line_y + 2)
    _text(pdf, document.signer_name, 11, bold=True)
    if document.signer_title:
        _text(pdf, document.signer_title, 10, color=MUTED)


def _verification_block(pdf: FPDF, document: CertificateDocument) -> None:
    """The QR code and number, with the verification address spelled out."""
    size = 32
    top = pdf.h - 20 - size
    pdf.image(
        qr.png(document.verify_url),
        x=pdf.l_margin,
        y=top,
        w=size,
        h=size,
        link=document.verify_url,
        alt_text="QR code linking to the verification page",
    )
    text_left = pdf.l_margin + size + 6
    pdf.set_xy(text_left, top + 2)
    pdf.set_font(FAMILY, "B", 10)
    pdf.set_text_color(*INK)
    width = pdf.w - pdf.r_margin - text_left
    pdf.multi_cell(width, 5, f"Certificate number: {document.number}", align=Align.L)
    pdf.set_x(text_left)
    pdf.set_font(FAMILY, "", 9)
    pdf.multi_cell(
        width, 4.5, "Check this certificate at:", align=Align.L, new_x=XPos.LMARGIN
    )
    pdf.set_x(text_left)
    pdf.set_text_color(*ACCENT)
    pdf.multi_cell(
        width, 4.5, document.verify_url, align=Align.L, link=document.verify_url
    )
    pdf.set_x(text_left)
    pdf.set_text_color(*MUTED)
    pdf.set_font(FAMILY, "", 7)
    pdf.multi_cell(width, 4, f"Certificate design {document.template_version}")


_DESIGNS: dict[str, Callable[[FPDF, CertificateDocument], None]] = {
    "2026.1": _draw_2026_1,
}
