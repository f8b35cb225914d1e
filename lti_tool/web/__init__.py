"""HTTP layer: one blueprint per area; views parse, call a service, respond."""

from __future__ import annotations

from flask import Flask, Response


def register_blueprints(app: Flask) -> None:
    """Attach every blueprint, the error pages and the security headers."""
    from lti_tool.web import (
        admin,
        certificates,
        deep_linking,
        errors,
        lti,
        program,
        registration,
        roster,
        study,
    )
    from lti_tool.web.work import bp as work_bp

    app.register_blueprint(lti.bp)
    app.register_blueprint(program.bp)
    app.register_blueprint(study.bp)
    certificates.register(app)
    app.register_blueprint(work_bp)
    app.register_blueprint(deep_linking.bp)
    app.register_blueprint(roster.bp)
    registration.register(app)
    admin.register(app)
    errors.register(app)
    program.register_session_urls(app)
    app.after_request(_security_headers)


def _security_headers(response: Response) -> Response:
    # The tool lives in LMS iframes on any school's domain, so framing stays open;
    # scripts come only from our own origin.
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; script-src 'self'; style-src 'self'; "
        "img-src 'self' data:; frame-ancestors *; form-action *; base-uri 'none'",
    )
    # Session tokens ride in URLs: never hand them to another site in a Referer.
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    if response.mimetype == "text/html":
        response.headers.setdefault("Cache-Control", "no-store")
    return response
