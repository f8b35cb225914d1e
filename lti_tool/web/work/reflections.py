"""Reflections: autosaved drafts and submissions by the participant."""

from __future__ import annotations

from flask import jsonify, redirect, request, url_for
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.wrappers import Response

from lti_tool import db
from lti_tool.content.model import Activity
from lti_tool.launches import Visit
from lti_tool.lti.errors import NotPermitted
from lti_tool.web.program import check_csrf, current_visit
from lti_tool.web.scope import get_activity, get_scope, participant
from lti_tool.web.study import _render_activity as render_activity_page
from lti_tool.web.work import bp
from lti_tool.web.work.common import cipher, rollback
from lti_tool.web.work.panels import local_time
from lti_tool.work.errors import WorkRejected
from lti_tool.work.reflections import save_draft, submit_reflection

CHANGED_ELSEWHERE = "Your reflection changed in another window; reload the page."


def _reflection_activity(visit: Visit, program_id: str, activity_id: str) -> Activity:
    activity = get_activity(get_scope(visit, program_id), activity_id)
    if activity.kind != "reflection":
        raise NotPermitted("this activity takes no reflection")
    return activity


@bp.post("/work/<program_id>/reflections/<activity_id>/draft")
def reflection_draft(program_id: str, activity_id: str) -> tuple[Response, int]:
    visit = current_visit()
    check_csrf(visit)
    activity = _reflection_activity(visit, program_id, activity_id)
    program = get_scope(visit, program_id).program

    session = db.get_session()
    try:
        reflection = save_draft(
            session,
            cipher(),
            participant(visit),
            program,
            activity,
            request.form.get("body", ""),
        )
        session.commit()
    except WorkRejected as problem:
        rollback()
        return jsonify(error=str(problem)), problem.status
    except StaleDataError:
        rollback()
        return jsonify(error=CHANGED_ELSEWHERE), 409
    saved_at = reflection.draft_saved_at
    return jsonify(
        saved_at=saved_at.isoformat() if saved_at else None,
        # As the page shows saved times, so the two never disagree.
        saved_at_text=local_time(saved_at),
    ), 200


@bp.get("/work/<program_id>/reflections/<activity_id>/submit")
def reflection_submit_reloaded(program_id: str, activity_id: str) -> Response:
    """A refused submission's page, reloaded or bookmarked: back to the activity."""
    visit = current_visit()
    _reflection_activity(visit, program_id, activity_id)
    target = url_for(
        "study.activity_page", program_id=program_id, activity_id=activity_id
    )
    return redirect(target + "#reflection", code=303)


@bp.post("/work/<program_id>/reflections/<activity_id>/submit")
def reflection_submit(program_id: str, activity_id: str) -> Response | tuple[str, int]:
    visit = current_visit()
    check_csrf(visit)
    activity = _reflection_activity(visit, program_id, activity_id)
    program = get_scope(visit, program_id).program

    session = db.get_session()
    try:
        submit_reflection(
            session,
            cipher(),
            participant(visit),
            program,
            activity,
            request.form.get("body", ""),
        )
        session.commit()
    except WorkRejected as problem:
        rollback()
        # The activity page shows the message above the text just sent.
        return render_activity_page(program_id, activity_id, str(problem)), (
            problem.status
        )
    except StaleDataError:
        rollback()
        return render_activity_page(program_id, activity_id, CHANGED_ELSEWHERE), 409
    return redirect(
        url_for("study.activity_page", program_id=program_id, activity_id=activity_id)
        + "#reflection",
        code=303,
    )
