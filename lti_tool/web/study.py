"""The lesson player: module and activity pages, heartbeats, knowledge checks."""

from __future__ import annotations

import logging
import uuid

from flask import (
    Blueprint,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
    send_from_directory,
    url_for,
)
from werkzeug.wrappers import Response

from lti_tool import db
from lti_tool.content.model import Activity
from lti_tool.content.render import render_markdown
from lti_tool.hours.progress import program_progress
from lti_tool.hours.rules import CreditRules
from lti_tool.hours.tracking import (
    TRACKED_KINDS,
    Heartbeat,
    HeartbeatRejected,
    open_study_page,
    record_heartbeats,
)
from lti_tool.lti.errors import NotPermitted
from lti_tool.web.program import ROLE_LABELS, check_csrf, csrf_token, current_visit
from lti_tool.web.scope import get_activity, get_scope, participant
from lti_tool.work.knowledge_checks import (
    IncompleteAnswers,
    latest_attempt,
    score_attempt,
)

log = logging.getLogger(__name__)
bp = Blueprint("study", __name__)

MAX_BEATS_PER_REQUEST = 200
MAX_HEARTBEAT_BYTES = 256 * 1024
KIND_LABELS = {
    "video": "Video",
    "reading": "Reading",
    "reflection": "Reflective exercise",
    "knowledge_check": "Knowledge check",
    "support_group": "Support group",
    "internship": "Internship",
    "shadowing": "Shadowing",
    "paper": "Integrative paper",
}


def rules() -> CreditRules:
    return CreditRules.from_settings(current_app.config["SETTINGS"])


@bp.get("/study/<program_id>/modules/<module_id>")
def module_page(program_id: str, module_id: str) -> str:
    visit = current_visit()
    scope = get_scope(visit, program_id)
    module = next((m for m in scope.modules() if m.id == module_id), None)
    if module is None:
        raise NotPermitted("that module is not part of your course link")
    progress = program_progress(db.get_session(), participant(visit), scope.program)
    return render_template(
        "study/module.html",
        visit=visit,
        role_label=ROLE_LABELS[visit.role],
        program=scope.program,
        module=module,
        progress=progress,
        kind_labels=KIND_LABELS,
    )


@bp.get("/study/<program_id>/activities/<activity_id>")
def activity_page(program_id: str, activity_id: str) -> str:
    return _render_activity(program_id, activity_id)


def _render_activity(program_id: str, activity_id: str, form_error: str = "") -> str:
    visit = current_visit()
    scope = get_scope(visit, program_id)
    activity = get_activity(scope, activity_id)
    session = db.get_session()
    progress = program_progress(session, participant(visit), scope.program)
    previous, following = scope.neighbours(activity)
    module = scope.program.find_module(activity.module_id)
    if activity.kind in TRACKED_KINDS:
        open_study_page(session, visit.user.id)
        session.commit()
    return render_template(
        "study/activity.html",
        visit=visit,
        role_label=ROLE_LABELS[visit.role],
        program=scope.program,
        module=module,
        activity=activity,
        status=progress.activities[activity.id],
        body_html=render_markdown(activity.body_markdown, heading_offset=1),
        previous=previous,
        following=following,
        kind_labels=KIND_LABELS,
        is_tracked=activity.kind in TRACKED_KINDS,
        page_id=uuid.uuid4().hex,
        attempt=_attempt(visit, scope.program.id, activity),
        csrf_token=csrf_token(visit),
        session_token=request.values.get("ls", ""),
        rules=rules(),
        form_error=form_error,
    )


def _attempt(visit, program_id: str, activity: Activity):  # type: ignore[no-untyped-def]
    if activity.kind != "knowledge_check":
        return None
    return latest_attempt(db.get_session(), participant(visit), program_id, activity.id)


@bp.post("/study/<program_id>/activities/<activity_id>/check")
def submit_check(program_id: str, activity_id: str) -> Response | tuple[str, int]:
    visit = current_visit()
    check_csrf(visit)
    scope = get_scope(visit, program_id)
    activity = get_activity(scope, activity_id)
    if activity.kind != "knowledge_check":
        raise NotPermitted("this activity has no questions")
    answers = [
        _choice(request.form.get(f"q{n}")) for n in range(len(activity.questions))
    ]

    session = db.get_session()
    try:
        score_attempt(
            session, rules(), participant(visit), scope.program, activity, answers
        )
    except IncompleteAnswers as problem:
        session.rollback()
        return _render_activity(program_id, activity_id, str(problem)), 422
    session.commit()
    return redirect(
        url_for("study.activity_page", program_id=program_id, activity_id=activity_id)
        + "#result",
        code=303,
    )


def _choice(raw: str | None) -> int | None:
    try:
        return int(raw) if raw is not None else None
    except ValueError:
        return None


@bp.post("/study/heartbeat")
def heartbeat() -> tuple[Response, int]:
    visit = current_visit()
    if (request.content_length or 0) > MAX_HEARTBEAT_BYTES:
        return jsonify(error="too many heartbeats in one request"), 413
    payload = request.get_json(silent=True, force=True) or {}
    program_id = str(payload.get("program", ""))
    raw_beats = payload.get("beats")
    if (
        not isinstance(raw_beats, list)
        or not 0 < len(raw_beats) <= MAX_BEATS_PER_REQUEST
    ):
        return jsonify(error="beats must be a list of 1 to 200 heartbeats"), 400

    scope = get_scope(visit, program_id)
    try:
        beats = [Heartbeat.parse(raw) for raw in raw_beats]
        for beat in beats:
            get_activity(scope, beat.activity_id)
        session = db.get_session()
        result = record_heartbeats(
            session, rules(), participant(visit), scope.program, beats
        )
    except HeartbeatRejected as problem:
        db.get_session().rollback()
        return jsonify(error=str(problem)), 400
    session.commit()
    return jsonify(
        accepted=result.accepted,
        ignored=result.ignored,
        credited_minutes=result.credited_minutes,
    ), 200


@bp.get("/study/<program_id>/media/<path:path>")
def media(program_id: str, path: str) -> Response:
    """Video files and captions the provider placed beside a program's content."""
    current_visit()
    program_dir = current_app.config["SETTINGS"].content_dir / program_id
    # send_from_directory refuses paths that climb out of the folder.
    return send_from_directory(program_dir, path, conditional=True)
