"""The integrative paper: text or a PDF/DOCX upload, checked, kept per version."""

from __future__ import annotations

import io
import logging
import zipfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import PurePath

from sqlalchemy import select
from sqlalchemy.orm import Session

from lti_tool.content.model import Activity, Program
from lti_tool.hours.ledger import Participant, credit_activity
from lti_tool.hours.rules import CreditRules, Source
from lti_tool.models import PaperSubmission
from lti_tool.models.base import utcnow
from lti_tool.work.crypto import DataCipher
from lti_tool.work.errors import (
    AlreadyReviewed,
    FileTooLarge,
    OwnWork,
    WorkRejected,
)
from lti_tool.work.events import record_event

log = logging.getLogger(__name__)

MAX_PAPER_BYTES = 10 * 1024 * 1024
MAX_PAPER_CHARS = 100_000
MAX_FEEDBACK_CHARS = 5_000
MEDIA_TYPES = {
    "pdf": "application/pdf",
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "text": "text/plain; charset=utf-8",
}
DECISIONS = {"accept": "accepted", "revise": "revision_requested"}


@dataclass(frozen=True)
class Upload:
    filename: str
    data: bytes


def document_form(upload: Upload) -> str:
    """ "pdf" or "docx" by the file's own bytes; the name must agree."""
    data = upload.data
    if not data:
        raise WorkRejected("The file is empty.")
    if len(data) > MAX_PAPER_BYTES:
        raise FileTooLarge("The file is larger than 10 MB; upload a smaller one.")
    if data.startswith(b"%PDF-"):
        form = "pdf"
    elif data.startswith(b"PK\x03\x04") and _is_docx(data):
        form = "docx"
    else:
        raise WorkRejected("Upload a PDF or a Word (.docx) document.")
    if PurePath(upload.filename.lower()).suffix != f".{form}":
        raise WorkRejected(
            f"The file's content is a {form.upper()} document but its name does "
            f"not end in .{form}."
        )
    return form


def _is_docx(data: bytes) -> bool:
    # Only the archive's directory is read; nothing is extracted.
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return "word/document.xml" in archive.namelist()
    except zipfile.BadZipFile:
        return False


def _safe_filename(name: str, form: str) -> str:
    stem = PurePath(name.replace("\\", "/")).stem
    kept = "".join(c for c in stem if c.isalnum() or c in " -_.")[:100].strip()
    return f"{kept or 'paper'}.{form}"


def submissions_of(
    session: Session, who: Participant, program_id: str, activity_id: str
) -> list[PaperSubmission]:
    """Every version a participant handed in for one activity, newest first."""
    query = (
        select(PaperSubmission)
        .filter_by(
            user_id=who.user_id,
            context_pk=who.context_pk,
            program_id=program_id,
            activity_id=activity_id,
        )
        .order_by(PaperSubmission.id.desc())
    )
    return list(session.scalars(query))


def submit_paper(
    session: Session,
    cipher: DataCipher,
    who: Participant,
    program: Program,
    activity: Activity,
    *,
    text: str = "",
    upload: Upload | None = None,
    now: datetime | None = None,
) -> PaperSubmission:
    """Keep a new version; a pending older one is superseded."""
    now = now or utcnow()
    if activity.kind != "paper":
        raise WorkRejected("Papers are handed in on a paper activity.")
    text = text.strip()
    if text and upload is not None:
        raise WorkRejected("Paste your paper or upload a file, not both.")
    if upload is not None:
        form = document_form(upload)
        content, filename = upload.data, _safe_filename(upload.filename, form)
    elif text:
        if len(text) > MAX_PAPER_CHARS:
            raise WorkRejected(
                f"A pasted paper can be at most {MAX_PAPER_CHARS:,} characters; "
                "upload it as a document instead."
            )
        form, content, filename = "text", text.encode("utf-8"), None
    else:
        raise WorkRejected("Paste your paper or choose a file to upload.")

    earlier = submissions_of(session, who, program.id, activity.id)
    if any(paper.status == "accepted" for paper in earlier):
        raise AlreadyReviewed("Your paper has been accepted; there is nothing to add.")
    for paper in earlier:
        if paper.status == "submitted":
            paper.status = "superseded"
    paper = PaperSubmission(
        user_id=who.user_id,
        context_pk=who.context_pk,
        program_id=program.id,
        program_version=program.version,
        activity_id=activity.id,
        form=form,
        filename=filename,
        size_bytes=len(content),
        content_encrypted=cipher.encrypt_bytes(content),
        status="submitted",
        created_at=now,
    )
    session.add(paper)
    session.flush()
    record_event(
        session,
        "paper",
        paper.id,
        "submitted",
        by_user_id=who.user_id,
        text_encrypted=None,
        now=now,
    )
    log.info(
        "paper submitted paper=%s user=%s context=%s activity=%s form=%s bytes=%s",
        paper.id,
        who.user_id,
        who.context_pk,
        activity.id,
        form,
        len(content),
    )
    return paper


def review_paper(
    session: Session,
    cipher: DataCipher,
    rules: CreditRules,
    paper: PaperSubmission,
    program: Program,
    activity: Activity,
    *,
    reviewer_id: int,
    decision: str,
    feedback: str,
    now: datetime | None = None,
) -> int:
    """Accept (crediting the planned time once) or ask for a revision."""
    now = now or utcnow()
    if reviewer_id == paper.user_id:
        raise OwnWork()
    status = DECISIONS.get(decision)
    if status is None:
        raise WorkRejected("Choose whether to accept the paper or ask for a revision.")
    if paper.status != "submitted":
        raise AlreadyReviewed("This paper is not waiting for a review any more.")
    feedback = feedback.strip()
    if status == "revision_requested" and not feedback:
        raise WorkRejected("Say what should change when you ask for a revision.")
    if len(feedback) > MAX_FEEDBACK_CHARS:
        raise WorkRejected(
            f"Feedback can be at most {MAX_FEEDBACK_CHARS:,} characters."
        )

    token = cipher.encrypt_text(feedback) if feedback else None
    paper.status = status
    paper.reviewed_at = now
    paper.reviewed_by_user_id = reviewer_id
    paper.feedback_encrypted = token
    session.flush()
    record_event(
        session,
        "paper",
        paper.id,
        status,
        by_user_id=reviewer_id,
        text_encrypted=token,
        now=now,
    )
    log.info(
        "paper reviewed paper=%s reviewer=%s outcome=%s", paper.id, reviewer_id, status
    )
    if status != "accepted":
        return 0
    return credit_activity(
        session,
        rules,
        Participant(paper.user_id, paper.context_pk),
        program,
        activity,
        activity.minutes,
        Source.PAPER_ACCEPTED,
        event_key=f"paper:{paper.id}",
        approved_by=reviewer_id,
        now=now,
    )


def paper_text(cipher: DataCipher, paper: PaperSubmission) -> str | None:
    """The pasted text of a text submission (None for documents)."""
    if paper.form != "text":
        return None
    return cipher.decrypt_text(paper.content_encrypted)
