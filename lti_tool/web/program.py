"""Where a launch lands: the program (or module) the resource link points at."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from flask import (
    Blueprint,
    Flask,
    current_app,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from werkzeug.wrappers import Response

from lti_tool import db
from lti_tool.catalog import is_known_target
from lti_tool.hours.ledger import Participant
from lti_tool.hours.progress import program_progress
from lti_tool.hours.rules import round_down_to_quarter_hour
from lti_tool.launches import Visit, restore_visit
from lti_tool.lti.errors import NotPermitted, SessionExpired
from lti_tool.lti.roles import ToolRole

bp = Blueprint("program", __name__)

ROLE_LABELS = {
    ToolRole.LEARNER: "participant",
    ToolRole.COORDINATOR: "coordinator",
    ToolRole.ADMIN: "administrator",
}


def current_visit() -> Visit:
    """The visit named by the `ls` token of this request (query or form)."""
    if "visit" not in g:
        token = request.values.get("ls", "")
        g.visit = restore_visit(db.get_session(), token)
        g.session_token = token
    visit: Visit = g.visit
    return visit


def register_session_urls(app: Flask) -> None:
    """Carry the session token on every link between the tool's own pages."""

    @app.url_defaults
    def _add_session_token(endpoint: str, values: dict[str, Any]) -> None:
        if (
            endpoint.startswith(
                (
                    "program.",
                    "study.",
                    "work.",
                    "certificates.",
                    "deep_linking.",
                    "roster.",
                )
            )
            and "session_token" in g
        ):
            values.setdefault("ls", g.session_token)


def csrf_token(visit: Visit) -> str:
    """A per-session form token; forms also carry the session token itself."""
    key = current_app.secret_key
    assert isinstance(key, str)
    return hmac.new(key.encode(), visit.session.id.encode(), hashlib.sha256).hexdigest()


def check_csrf(visit: Visit) -> None:
    """Refuse a form whose token was not issued for this launch session."""
    sent = request.form.get("csrf_token", "")
    if not hmac.compare_digest(sent, csrf_token(visit)):
        raise NotPermitted("the form token did not match this session")


@bp.get("/program")
def home() -> str:
    visit = current_visit()
    catalog = current_app.extensions["catalog"]
    target = visit.resource_link.target if visit.resource_link else ""
    found = catalog.find_target(target) if target else None

    if found is None:
        if visit.is_coordinator and visit.resource_link is not None:
            return render_template(
                "program/choose_target.html",
                visit=visit,
                role_label=ROLE_LABELS[visit.role],
                programs=sorted(catalog.programs.values(), key=lambda p: p.title),
                session_token=g.session_token,
                csrf_token=csrf_token(visit),
            )
        return render_template("program/not_set_up.html", visit=visit)

    program, module = found
    progress = program_progress(
        db.get_session(), Participant(visit.user.id, visit.context.id), program
    )
    activities = [
        a for m in ((module,) if module else program.modules) for a in m.activities
    ]
    return render_template(
        "program/home.html",
        visit=visit,
        role_label=ROLE_LABELS[visit.role],
        program=program,
        module=module,
        progress=progress,
        next_activity=progress.continue_with(activities),
        hours=round_down_to_quarter_hour,
    )


@bp.post("/program/target")
def choose_target() -> Response:
    visit = current_visit()
    check_csrf(visit)
    if not visit.is_coordinator or visit.resource_link is None:
        raise NotPermitted("only a coordinator can choose what a link opens")
    target = request.form.get("target", "")
    if not is_known_target(current_app.extensions["catalog"], target):
        raise NotPermitted("that program or module does not exist")

    visit.resource_link.target = target
    db.get_session().commit()
    return redirect(url_for("program.home"), code=303)


__all__ = ["SessionExpired", "bp", "current_visit"]
