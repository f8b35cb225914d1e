"""Error pages: a calm page with a reason code, one log line, never a traceback."""

from __future__ import annotations

import logging

from flask import Flask, Response, current_app, render_template, request
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from werkzeug.exceptions import HTTPException

from lti_tool import db
from lti_tool.lti.claims import clean_text
from lti_tool.lti.errors import LaunchError
from lti_tool.models import LaunchFailure

log = logging.getLogger(__name__)


def register(app: Flask) -> None:
    """Install the handlers for refused launches, HTTP errors and our own bugs."""
    app.register_error_handler(LaunchError, _launch_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected_error)


def _launch_error(error: LaunchError) -> tuple[str, int]:
    db.get_session().rollback()
    # Launch-path refusals and refused page views (an expired session, a page
    # not for this role) share the handler; the log tells them apart.
    event = "launch rejected" if request.path.startswith("/lti/") else "page refused"
    log.warning(
        "%s reason=%s status=%s registration=%s path=%s detail=%s",
        event,
        error.reason,
        error.status,
        error.registration_id,
        request.path,
        error.detail,
    )
    _record_failure(error)
    page = render_template(
        "error.html",
        title=error.title,
        advice=error.advice,
        detail=error.detail,
        reason=error.reason,
    )
    return page, error.status


def _record_failure(error: LaunchError) -> None:
    # Only launch-path failures go to the administrator's list; an expired page
    # session is routine, not a setup problem.
    if not request.path.startswith("/lti/"):
        return
    issuer = clean_text(error.issuer or request.values.get("iss", ""), 512)
    engine = current_app.extensions["db_engine"]
    # A registration removed a moment ago cannot be pointed at any more.
    for registration_id in dict.fromkeys((error.registration_id, None)):
        try:
            with engine.begin() as connection:
                connection.execute(
                    insert(LaunchFailure).values(
                        registration_id=registration_id,
                        issuer=issuer,
                        reason=error.reason,
                    )
                )
            return
        except IntegrityError:
            continue
        except SQLAlchemyError as problem:  # the page matters more than the count
            log.warning(
                "launch failure not recorded reason=%s error=%s",
                error.reason,
                type(problem).__name__,
            )
            return


def _http_error(error: HTTPException) -> tuple[str, int] | Response:
    page = render_template(
        "error.html",
        title=error.name,
        advice=_HTTP_ADVICE.get(error.code or 500, "Go back and try again."),
        detail="",
        reason=f"http_{error.code}",
    )
    return page, error.code or 500


def _unexpected_error(error: Exception) -> tuple[str, int]:
    db.get_session().rollback()
    log.exception("unhandled error path=%s", request.path)
    page = render_template(
        "error.html",
        title="Something went wrong on our side",
        advice="Nothing you did caused this. Please try again in a moment.",
        detail="",
        reason="internal_error",
    )
    return page, 500


_HTTP_ADVICE = {
    400: "The request could not be understood. Go back and try again.",
    404: "There is no page at this address. Open the training from your course.",
    405: "This page cannot be opened that way. Open the training from your course.",
    413: "What you sent is too large.",
}
