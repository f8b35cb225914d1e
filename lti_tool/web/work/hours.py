"""The participant's "My hours" page."""

from __future__ import annotations

from flask import current_app, render_template

from lti_tool import db
from lti_tool.hours.rules import Source, round_down_to_quarter_hour
from lti_tool.web.program import current_visit
from lti_tool.web.scope import get_scope, participant
from lti_tool.web.work import bp
from lti_tool.web.work.common import page
from lti_tool.work.field_hours import entries_of
from lti_tool.work.my_hours import CATEGORY_LABELS, hours_summary
from lti_tool.work.papers import submissions_of
from lti_tool.work.reflections import find_reflection
from lti_tool.work.support_groups import attended_by

SOURCE_LABELS = {
    Source.TRACKED_STUDY.value: "Time studied",
    Source.REFLECTION_ACCEPTED.value: "Reflection accepted",
    Source.KNOWLEDGE_CHECK_PASSED.value: "Knowledge check passed",
    Source.SUPPORT_GROUP_ATTENDED.value: "Support group attended",
    Source.FIELD_HOURS_APPROVED.value: "Field hours approved",
    Source.PAPER_ACCEPTED.value: "Paper accepted",
    Source.MANUAL_CORRECTION.value: "Correction by a coordinator",
}


@bp.get("/work/<program_id>/hours")
def my_hours(program_id: str) -> str:
    visit = current_visit()
    program = get_scope(visit, program_id).program
    who = participant(visit)
    session = db.get_session()

    catalog = current_app.extensions["catalog"]
    titles = {key: item.title for key, item in catalog.competencies.items()}
    reflections = [
        (activity, find_reflection(session, who, program.id, activity.id))
        for activity in program.activities()
        if activity.kind == "reflection"
    ]
    papers = [
        (activity, submissions_of(session, who, program.id, activity.id))
        for activity in program.activities()
        if activity.kind == "paper"
    ]
    return render_template(
        "work/my_hours.html",
        **page(
            visit,
            program=program,
            summary=hours_summary(session, who, program, titles),
            activity_titles={a.id: a.title for a in program.activities()},
            category_labels=CATEGORY_LABELS,
            source_labels=SOURCE_LABELS,
            reflections=reflections,
            field_entries=entries_of(session, who, program.id),
            papers=papers,
            attended=attended_by(session, who, program.id),
            hours=round_down_to_quarter_hour,
        ),
    )
