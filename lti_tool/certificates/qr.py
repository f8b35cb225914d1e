"""QR codes pointing at a certificate's verification page."""

from __future__ import annotations

import io

import segno


def png(url: str) -> io.BytesIO:
    """A crisp black-on-white PNG, for the PDF."""
    buffer = io.BytesIO()
    segno.make(url, error="m", micro=False).save(buffer, kind="png", scale=8, border=0)
    buffer.seek(0)
    return buffer


def svg_data_uri(url: str) -> str:
    """An SVG as a data: URI, for the HTML view (the page allows data: images)."""
    return str(segno.make(url, error="m", micro=False).svg_data_uri(scale=4))
