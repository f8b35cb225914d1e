"""The coordinator's review queue and the review of each piece of work."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import redirect, render_template, request, url_for
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.wrappers import Response

from lti_tool import db
from lti_tool.models import FieldHours, PaperSubmission, Reflection, User
from lti_tool.web.program import check_csrf, current_visit
from lti_tool.web.work import bp
from lti_tool.web.work.common import (
    activity_title,
    cipher,
    coordinated,
    page,
    program_activity,
    require_coordinator,
    rollback,
    rules,
)
from lti_tool.web.work.panels import steps_of
from lti_tool.work.errors import AlreadyReviewed, WorkRejected
from lti_tool.work.field_hours import review_field_hours
from lti_tool.work.papers import paper_text, review_paper
from lti_tool.work.reflections import review_reflection
from lti_tool.work.review_queue import review_queue

KIND_LABELS = {
    "reflection": "Reflection",
    "field_hours": "Field hours",
    "paper": "Paper",
}
OUTCOME_LABELS = {
    "accepted": "accepted",
    "revision_requested": "returned for revision",
    "approved": "approved",
    "returned": "returned",
}
CHANGED_ELSEWHERE = "This item changed while you were reviewing it; read it again."


@bp.get("/work/review")
def queue() -> str:
    visit = current_visit()
    require_coordinator(visit)
    items = review_queue(db.get_session(), visit.context.id, visit.user.id)
    return render_template(
        "work/review_queue.html",
        **page(
            visit,
            items=items,
            kind_labels=KIND_LABELS,
            title_of=activity_title,
            reviewed=OUTCOME_LABELS.get(request.args.get("outcome", ""), ""),
            credited=request.args.get("credited", type=int),
        ),
    )


def _decided(outcome: str, credited: int) -> Response:
    return redirect(url_for("work.queue", outcome=outcome, credited=credited), code=303)


def _review(
    render: Callable[[str], str], act: Callable[[], int], item: Any
) -> Response | tuple[str, int]:
    """Run a review decision; on refusal show the page again with the reason."""
    session = db.get_session()
    try:
        credited = act()
        session.commit()
    except WorkRejected as problem:
        rollback()
        return render(str(problem)), problem.status
    except StaleDataError:
        rollback()
        return render(CHANGED_ELSEWHERE), AlreadyReviewed.status
    return _decided(item.status, credited)


def _participant_name(user_id: int) -> str:
    user = db.get_session().get(User, user_id)
    return user.name if user and user.name else f"participant {user_id}"


# --- reflections ------------------------------------------------------------


def _reflection_page(reflection: Reflection, error: str = "") -> str:
    visit = current_visit()
    program, activity = program_activity(reflection.program_id, reflection.activity_id)
    keys = cipher()
    submitted = (
        keys.decrypt_text(reflection.submitted_encrypted)
        if reflection.submitted_encrypted
        else ""
    )
    return render_template(
        "work/review_reflection.html",
        **page(
            visit,
            item=reflection,
            program=program,
            activity=activity,
            participant_name=_participant_name(reflection.user_id),
            submitted=submitted,
            steps=steps_of("reflection", reflection.id, reflection.user_id),
            form_error=error,
            form=request.form,
        ),
    )


@bp.get("/work/reflections/<int:reflection_id>")
def reflection(reflection_id: int) -> str:
    visit = current_visit()
    item = coordinated(visit, db.get_session().get(Reflection, reflection_id))
    return _reflection_page(item)


@bp.post("/work/reflections/<int:reflection_id>/review")
def reflection_review(reflection_id: int) -> Response | tuple[str, int]:
    visit = current_visit()
    check_csrf(visit)
    item = coordinated(visit, db.get_session().get(Reflection, reflection_id))
    program, activity = program_activity(item.program_id, item.activity_id)

    def act() -> int:
        return review_reflection(
            db.get_session(),
            cipher(),
            rules(),
            item,
            program,
            activity,
            reviewer_id=visit.user.id,
            decision=request.form.get("decision", ""),
            feedback=request.form.get("feedback", ""),
            seen_submission=request.form.get("submission", -1, type=int),
        )

    return _review(lambda error: _reflection_page(item, error), act, item)


# --- field hours ------------------------------------------------------------


def _field_hours_page(entry: FieldHours, error: str = "") -> str:
    visit = current_visit()
    program, activity = program_activity(entry.program_id, entry.activity_id)
    return render_template(
        "work/review_field_hours.html",
        **page(
            visit,
            item=entry,
            program=program,
            activity=activity,
            participant_name=_participant_name(entry.user_id),
            description=cipher().decrypt_text(entry.description_encrypted),
            steps=steps_of("field_hours", entry.id, entry.user_id),
            form_error=error,
            form=request.form,
        ),
    )


@bp.get("/work/field-hours/<int:entry_id>")
def field_hours_entry(entry_id: int) -> str:
    visit = current_visit()
    entry = coordinated(visit, db.get_session().get(FieldHours, entry_id))
    return _field_hours_page(entry)


@bp.post("/work/field-hours/<int:entry_id>/review")
def field_hours_review(entry_id: int) -> Response | tuple[str, int]:
    visit = current_visit()
    check_csrf(visit)
    entry = coordinated(visit, db.get_session().get(FieldHours, entry_id))
    program, activity = program_activity(entry.program_id, entry.activity_id)

    def act() -> int:
        return review_field_hours(
            db.get_session(),
            cipher(),
            rules(),
            entry,
            program,
            activity,
            reviewer_id=visit.user.id,
            decision=request.form.get("decision", ""),
            comment=request.form.get("comment", ""),
            seen_version=request.form.get("version", -1, type=int),
        )

    return _review(lambda error: _field_hours_page(entry, error), act, entry)


# --- papers -----------------------------------------------------------------


def _paper_page(paper: PaperSubmission, error: str = "") -> str:
    visit = current_visit()
    program, activity = program_activity(paper.program_id, paper.activity_id)
    return render_template(
        "work/review_paper.html",
        **page(
            visit,
            item=paper,
            program=program,
            activity=activity,
            participant_name=_participant_name(paper.user_id),
            text=paper_text(cipher(), paper),
            steps=steps_of("paper", paper.id, paper.user_id),
            form_error=error,
            form=request.form,
        ),
    )


@bp.get("/work/papers/<int:paper_id>")
def paper(paper_id: int) -> str:
    visit = current_visit()
    item = coordinated(visit, db.get_session().get(PaperSubmission, paper_id))
    return _paper_page(item)


@bp.post("/work/papers/<int:paper_id>/review")
def paper_review(paper_id: int) -> Response | tuple[str, int]:
    visit = current_visit()
    check_csrf(visit)
    item = coordinated(visit, db.get_session().get(PaperSubmission, paper_id))
    program, activity = program_activity(item.program_id, item.activity_id)

    def act() -> int:
        return review_paper(
            db.get_session(),
            cipher(),
            rules(),
            item,
            program,
            activity,
            reviewer_id=visit.user.id,
            decision=request.form.get("decision", ""),
            feedback=request.form.get("feedback", ""),
        )

    return _review(lambda error: _paper_page(item, error), act, item)
