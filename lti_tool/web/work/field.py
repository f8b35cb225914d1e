"""Internship and shadowing logs: the participant's list, form and corrections."""

from __future__ import annotations

from flask import current_app, redirect, render_template, request, url_for
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.wrappers import Response

from lti_tool import db
from lti_tool.content.model import Activity
from lti_tool.launches import Visit
from lti_tool.lti.errors import NotPermitted
from lti_tool.models import FieldHours
from lti_tool.web.program import check_csrf, current_visit
from lti_tool.web.scope import Scope, get_scope, participant
from lti_tool.web.work import bp
from lti_tool.web.work.common import cipher, own, page, rollback, rules
from lti_tool.work.errors import WorkRejected
from lti_tool.work.field_hours import (
    FIELD_KINDS,
    FieldHoursForm,
    entries_of,
    log_field_hours,
    readiness,
    update_field_hours,
)

CHANGED_ELSEWHERE = "This entry changed meanwhile; reload the page and try again."


def field_activities(scope: Scope) -> list[Activity]:
    return [a for a in scope.activities() if a.kind in FIELD_KINDS]


def _posted_form() -> FieldHoursForm:
    return FieldHoursForm(
        worked_on=request.form.get("worked_on", ""),
        site=request.form.get("site", ""),
        supervisor=request.form.get("supervisor", ""),
        hours=request.form.get("hours", ""),
        description=request.form.get("description", ""),
    )


def _render_log_page(
    visit: Visit, scope: Scope, chosen_id: str, error: str = ""
) -> str:
    activities = field_activities(scope)
    chosen = next((a for a in activities if a.id == chosen_id), None)
    chosen = chosen or (activities[0] if activities else None)
    session = db.get_session()
    who = participant(visit)
    entries = entries_of(session, who, scope.program.id)
    state = readiness(session, who, scope.program, chosen) if chosen else None
    return render_template(
        "work/field_hours.html",
        **page(
            visit,
            program=scope.program,
            activities=activities,
            chosen=chosen,
            entries=entries,
            titles={a.id: a.title for a in scope.program.activities()},
            comments=_comments(entries),
            readiness=state,
            blocks_early_logs=_blocks_early_logs(),
            form=request.form if request.method == "POST" else {},
            form_error=error,
            logged=request.args.get("logged", ""),
        ),
    )


def _comments(entries: list[FieldHours]) -> dict[int, str]:
    """The coordinators' comments on returned or approved entries, decrypted."""
    with_comment = [e for e in entries if e.comment_encrypted]
    if not with_comment:
        return {}
    keys = cipher()
    return {e.id: keys.decrypt_text(e.comment_encrypted or b"") for e in with_comment}


def _blocks_early_logs() -> bool:
    return bool(current_app.config["SETTINGS"].field_hours_before_readiness == "block")


@bp.get("/work/<program_id>/field-hours")
def field_hours(program_id: str) -> str:
    visit = current_visit()
    scope = get_scope(visit, program_id)
    return _render_log_page(visit, scope, request.args.get("activity", ""))


@bp.post("/work/<program_id>/field-hours")
def field_hours_log(program_id: str) -> Response | tuple[str, int]:
    visit = current_visit()
    check_csrf(visit)
    scope = get_scope(visit, program_id)
    activity_id = request.form.get("activity", "")
    activity = next((a for a in field_activities(scope) if a.id == activity_id), None)
    if activity is None:
        raise NotPermitted("that activity takes no field hours in your course link")

    session = db.get_session()
    try:
        entry = log_field_hours(
            session,
            cipher(),
            rules(),
            participant(visit),
            scope.program,
            activity,
            _posted_form(),
            block_before_readiness=_blocks_early_logs(),
        )
        session.commit()
    except WorkRejected as problem:
        rollback()
        return _render_log_page(visit, scope, activity.id, str(problem)), (
            problem.status
        )
    return redirect(
        url_for(
            "work.field_hours",
            program_id=program_id,
            activity=activity.id,
            logged=entry.id,
        ),
        code=303,
    )


def _render_edit_page(visit: Visit, entry: FieldHours, error: str = "") -> str:
    if request.method == "POST":
        form = dict(request.form)
    else:
        keys = cipher()
        form = {
            "worked_on": entry.worked_on.isoformat(),
            "site": keys.decrypt_text(entry.site_encrypted),
            "supervisor": keys.decrypt_text(entry.supervisor_encrypted),
            "hours": f"{entry.minutes / 60:g}",
            "description": keys.decrypt_text(entry.description_encrypted),
        }
    comment = (
        cipher().decrypt_text(entry.comment_encrypted)
        if entry.comment_encrypted
        else ""
    )
    program = current_app.extensions["catalog"].programs.get(entry.program_id)
    return render_template(
        "work/field_hours_edit.html",
        **page(
            visit,
            entry=entry,
            program=program,
            form=form,
            comment=comment,
            form_error=error,
        ),
    )


@bp.get("/work/field-hours/<int:entry_id>/edit")
def field_hours_edit(entry_id: int) -> str:
    visit = current_visit()
    entry = own(visit, db.get_session().get(FieldHours, entry_id))
    return _render_edit_page(visit, entry)


@bp.post("/work/field-hours/<int:entry_id>/edit")
def field_hours_update(entry_id: int) -> Response | tuple[str, int]:
    visit = current_visit()
    check_csrf(visit)
    session = db.get_session()
    entry = own(visit, session.get(FieldHours, entry_id))

    try:
        update_field_hours(session, cipher(), rules(), entry, _posted_form())
        session.commit()
    except WorkRejected as problem:
        rollback()
        entry = own(visit, session.get(FieldHours, entry_id))
        return _render_edit_page(visit, entry, str(problem)), problem.status
    except StaleDataError:
        rollback()
        entry = own(visit, session.get(FieldHours, entry_id))
        return _render_edit_page(visit, entry, CHANGED_ELSEWHERE), 409
    return redirect(
        url_for("work.field_hours", program_id=entry.program_id, logged=entry.id),
        code=303,
    )
