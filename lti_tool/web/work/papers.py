"""The integrative paper: submitting text or a document, and downloading it."""

from __future__ import annotations

from flask import redirect, render_template, request, url_for
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wrappers import Response

from lti_tool import db
from lti_tool.lti.errors import NotPermitted
from lti_tool.models import PaperSubmission
from lti_tool.web.program import check_csrf, current_visit
from lti_tool.web.scope import get_activity, get_scope, participant
from lti_tool.web.study import _render_activity as render_activity_page
from lti_tool.web.work import bp
from lti_tool.web.work.common import cipher, rollback, visible
from lti_tool.work.errors import WorkRejected
from lti_tool.work.papers import MAX_PAPER_BYTES, MEDIA_TYPES, Upload, submit_paper

# Room for the form's other fields around the largest accepted file; anything
# beyond is refused before it is read.
REQUEST_LIMIT = MAX_PAPER_BYTES + 256 * 1024


@bp.post("/work/<program_id>/papers/<activity_id>")
def paper_submit(program_id: str, activity_id: str) -> Response | tuple[str, int]:
    request.max_content_length = REQUEST_LIMIT
    try:
        visit = current_visit()
        upload = _upload()
    except RequestEntityTooLarge:
        return _too_large(program_id, activity_id), 413
    check_csrf(visit)
    activity = get_activity(get_scope(visit, program_id), activity_id)
    if activity.kind != "paper":
        raise NotPermitted("this activity takes no paper")
    program = get_scope(visit, program_id).program

    session = db.get_session()
    try:
        submit_paper(
            session,
            cipher(),
            participant(visit),
            program,
            activity,
            text=request.form.get("text", ""),
            upload=upload,
        )
        session.commit()
    except WorkRejected as problem:
        rollback()
        return render_activity_page(program_id, activity_id, str(problem)), (
            problem.status
        )
    return redirect(
        url_for("study.activity_page", program_id=program_id, activity_id=activity_id)
        + "#paper",
        code=303,
    )


def _upload() -> Upload | None:
    """The chosen file, or None when the participant pasted text instead."""
    sent = request.files.get("document")
    if sent is None or not sent.filename:
        return None
    return Upload(sent.filename, sent.read(MAX_PAPER_BYTES + 1))


def _too_large(program_id: str, activity_id: str) -> str:
    back = url_for(
        "study.activity_page",
        program_id=program_id,
        activity_id=activity_id,
        ls=request.args.get("ls", ""),
    )
    return render_template("work/too_large.html", back_url=back)


@bp.get("/work/papers/<int:paper_id>/file")
def paper_file(paper_id: int) -> Response:
    visit = current_visit()
    paper = visible(visit, db.get_session().get(PaperSubmission, paper_id))

    content = cipher().decrypt_bytes(paper.content_encrypted)
    name = paper.filename or f"paper-{paper.id}.txt"
    response = Response(content, mimetype=MEDIA_TYPES[paper.form])
    response.headers.set("Content-Disposition", "attachment", filename=name)
    response.headers["Cache-Control"] = "no-store"
    return response
