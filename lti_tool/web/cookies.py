"""Cookies that survive inside a cross-site LMS iframe where browsers allow it."""

from __future__ import annotations

from flask import current_app
from werkzeug.wrappers import Response


def set_frame_cookie(
    response: Response, name: str, value: str, max_age: int, *, httponly: bool = True
) -> None:
    """SameSite=None; Secure; Partitioned when the origin allows Secure cookies."""
    secure = current_app.config["SETTINGS"].cookies_secure
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        secure=secure,
        httponly=httponly,
        # Without Secure, browsers drop SameSite=None cookies entirely.
        samesite="None" if secure else "Lax",
        partitioned=secure,
        path="/",
    )


def delete_frame_cookie(response: Response, name: str) -> None:
    """Expire a cookie set by set_frame_cookie."""
    secure = current_app.config["SETTINGS"].cookies_secure
    response.delete_cookie(
        name,
        path="/",
        secure=secure,
        samesite="None" if secure else "Lax",
        partitioned=secure,
    )
