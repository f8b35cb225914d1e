"""Support-group sessions: coordinators record them and who attended."""

from __future__ import annotations

from flask import abort, redirect, render_template, request, url_for
from werkzeug.wrappers import Response

from lti_tool import db
from lti_tool.content.model import Activity
from lti_tool.launches import Visit
from lti_tool.lti.errors import NotPermitted
from lti_tool.models import SupportGroupSession
from lti_tool.web.program import check_csrf, current_visit
from lti_tool.web.scope import Scope, get_scope
from lti_tool.web.work import bp
from lti_tool.web.work.common import (
    page,
    program_activity,
    require_coordinator,
    rollback,
    rules,
)
from lti_tool.work.errors import WorkRejected
from lti_tool.work.support_groups import (
    NotInCourse,
    SessionForm,
    attendance_of,
    parse_attendance,
    record_attendance,
    record_session,
    roster,
    sessions_of,
)


def group_activities(scope: Scope) -> list[Activity]:
    return [a for a in scope.program.activities() if a.kind == "support_group"]


def _posted_attendance() -> dict[int, str]:
    """Minutes present per ticked participant id; a forged id is refused."""
    try:
        ticked = [int(raw) for raw in request.form.getlist("attended")]
    except ValueError:
        raise NotPermitted("the attendance list was not sent by this form") from None
    return {user_id: request.form.get(f"minutes-{user_id}", "") for user_id in ticked}


def _render_sessions(visit: Visit, scope: Scope, error: str = "") -> str:
    session = db.get_session()
    return render_template(
        "work/support_groups.html",
        **page(
            visit,
            program=scope.program,
            activities=group_activities(scope),
            sessions=sessions_of(session, visit.context.id, scope.program.id),
            titles={a.id: a.title for a in scope.program.activities()},
            people=roster(session, visit.context.id),
            form=request.form,
            ticked=set(request.form.getlist("attended")),
            form_error=error,
        ),
    )


@bp.get("/work/<program_id>/support-groups")
def support_groups(program_id: str) -> str:
    visit = current_visit()
    require_coordinator(visit)
    return _render_sessions(visit, get_scope(visit, program_id))


@bp.post("/work/<program_id>/support-groups")
def support_group_record(program_id: str) -> Response | tuple[str, int]:
    visit = current_visit()
    check_csrf(visit)
    require_coordinator(visit)
    scope = get_scope(visit, program_id)
    activity_id = request.form.get("activity", "")
    activity = next((a for a in group_activities(scope) if a.id == activity_id), None)
    if activity is None:
        raise NotPermitted("that is not a support-group activity of this program")

    session = db.get_session()
    try:
        group = record_session(
            session,
            rules(),
            scope.program,
            activity,
            context_pk=visit.context.id,
            recorder_id=visit.user.id,
            form=SessionForm(
                held_on=request.form.get("held_on", ""),
                topic=request.form.get("topic", ""),
                minutes=request.form.get("minutes", ""),
            ),
            attendance=_posted_attendance(),
        )
        session.commit()
    except NotInCourse:
        rollback()
        raise NotPermitted("an attendee is not a participant of this course") from None
    except WorkRejected as problem:
        rollback()
        return _render_sessions(visit, scope, str(problem)), problem.status
    return redirect(url_for("work.support_group", session_id=group.id), code=303)


def _render_session(visit: Visit, group: SupportGroupSession, error: str = "") -> str:
    session = db.get_session()
    program, activity = program_activity(group.program_id, group.activity_id)
    present = attendance_of(session, group.id)
    recorded = {user.id for _, user in present}
    return render_template(
        "work/support_group.html",
        **page(
            visit,
            group=group,
            program=program,
            activity=activity,
            present=present,
            missing=[
                p for p in roster(session, group.context_pk) if p.id not in recorded
            ],
            form=request.form,
            ticked=set(request.form.getlist("attended")),
            form_error=error,
        ),
    )


@bp.get("/work/support-groups/<int:session_id>")
def support_group(session_id: int) -> str:
    visit = current_visit()
    group = db.get_session().get(SupportGroupSession, session_id)
    return _render_session(visit, _course_session(visit, group))


def _course_session(
    visit: Visit, group: SupportGroupSession | None
) -> SupportGroupSession:
    require_coordinator(visit)
    if group is None or group.context_pk != visit.context.id:
        abort(404)
    return group


@bp.post("/work/support-groups/<int:session_id>/attendance")
def support_group_attendance(session_id: int) -> Response | tuple[str, int]:
    visit = current_visit()
    check_csrf(visit)
    session = db.get_session()
    group = _course_session(visit, session.get(SupportGroupSession, session_id))
    program, activity = program_activity(group.program_id, group.activity_id)

    try:
        present = parse_attendance(_posted_attendance(), group.minutes)
        if not present:
            raise WorkRejected("Tick at least one participant who attended.")
        record_attendance(
            session, rules(), program, activity, group, present, visit.user.id
        )
        session.commit()
    except NotInCourse:
        rollback()
        raise NotPermitted("an attendee is not a participant of this course") from None
    except WorkRejected as problem:
        rollback()
        return _render_session(visit, group, str(problem)), problem.status
    return redirect(url_for("work.support_group", session_id=group.id), code=303)
