"""The integrative paper: text or document, type and size checks, review."""

from __future__ import annotations

import io
import zipfile

import pytest
from sqlalchemy import select

from lti_tool.models import HoursEntry, PaperSubmission
from lti_tool.work.papers import MAX_PAPER_BYTES
from tests.work_helpers import (  # noqa: F401  (data_key_fixture registers a fixture)
    activity_of,
    count,
    data_key_fixture,
    form,
    launch,
    ledger_minutes,
)

PAPER = "Family voice changed how the team planned the discharge meeting."
PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << >>\n%%EOF\n"


def docx(with_document: bool = True) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        if with_document:
            archive.writestr("word/document.xml", "<w:document/>")
    return buffer.getvalue()


@pytest.fixture
def learner(launcher) -> str:  # type: ignore[no-untyped-def]
    return launch(launcher, target="pcfm", sub="learner-1")


@pytest.fixture
def coordinator(launcher) -> str:  # type: ignore[no-untyped-def]
    return launch(launcher, coordinator=True, target="pcfm", sub="coordinator-1")


@pytest.fixture
def paper(app):  # type: ignore[no-untyped-def]
    return activity_of(app, "pcfm", "paper", 1)


def hand_in(client, app, token, activity, *, text="", document=None):  # type: ignore[no-untyped-def]
    data = form(app, token, text=text)
    if document is not None:
        name, content = document
        data["document"] = (io.BytesIO(content), name)
    return client.post(
        f"/work/pcfm/papers/{activity.id}?ls={token}",
        data=data,
        content_type="multipart/form-data",
    )


def papers(engine) -> list[PaperSubmission]:  # type: ignore[no-untyped-def]
    with engine.connect() as connection:
        return list(
            connection.execute(select(PaperSubmission).order_by(PaperSubmission.id))
        )


def review(client, app, token, paper_id, **fields):  # type: ignore[no-untyped-def]
    return client.post(
        f"/work/papers/{paper_id}/review", data=form(app, token, **fields)
    )


def test_pasted_paper_is_stored_encrypted_and_accepted(
    client, app, learner, coordinator, paper, engine
):
    page = client.get(f"/study/pcfm/activities/{paper.id}?ls={learner}")
    assert 'enctype="multipart/form-data"' in page.text

    response = hand_in(client, app, learner, paper, text=PAPER)
    assert response.status_code == 303
    (stored,) = papers(engine)
    assert (stored.form, stored.status) == ("text", "submitted")
    assert PAPER.encode() not in bytes(stored.content_encrypted)
    review_page = client.get(f"/work/papers/{stored.id}?ls={coordinator}")
    assert PAPER in review_page.text

    accepted = review(client, app, coordinator, stored.id, decision="accept",
                      feedback="")  # fmt: skip
    again = review(client, app, coordinator, stored.id, decision="accept",
                   feedback="")  # fmt: skip
    assert accepted.status_code == 303
    assert again.status_code == 409
    with engine.connect() as connection:
        line = connection.execute(select(HoursEntry)).one()
    assert (line.minutes, line.source, line.category) == (
        paper.minutes,
        "paper_accepted",
        "paper",
    )
    assert line.event_key == f"paper:{stored.id}"


@pytest.mark.parametrize(
    ("name", "content", "form_name"),
    [("My paper.pdf", PDF, "pdf"), ("paper.DOCX", docx(), "docx")],
)
def test_documents_are_kept_and_downloadable_by_author_and_coordinator(
    client, app, launcher, learner, coordinator, paper, engine, name, content,
    form_name,
):  # fmt: skip
    response = hand_in(client, app, learner, paper, document=(name, content))
    assert response.status_code == 303
    (stored,) = papers(engine)
    assert (stored.form, stored.size_bytes) == (form_name, len(content))
    assert content not in bytes(stored.content_encrypted)

    for token in (learner, coordinator):
        download = client.get(f"/work/papers/{stored.id}/file?ls={token}")
        assert download.status_code == 200
        assert download.data == content
        assert download.headers["Content-Disposition"].startswith("attachment")
    other = launch(launcher, target="pcfm", sub="learner-2")
    foreign = launch(launcher, coordinator=True, target="pcfm", context="course-2")
    assert client.get(f"/work/papers/{stored.id}/file?ls={other}").status_code == 404
    assert client.get(f"/work/papers/{stored.id}/file?ls={foreign}").status_code == 404


@pytest.mark.parametrize(
    ("text", "document", "message"),
    [
        ("", None, "Paste your paper or choose a file"),
        ("   ", None, "Paste your paper or choose a file"),
        (PAPER, ("paper.pdf", PDF), "not both"),
        ("", ("paper.pdf", b""), "The file is empty"),
        ("", ("paper.pdf", b"MZ\x90\x00 an executable"), "Upload a PDF or a Word"),
        ("", ("paper.docx", docx(with_document=False)), "Upload a PDF or a Word"),
        ("", ("paper.docx", b"PK\x03\x04 not really a zip"), "Upload a PDF or a Word"),
        ("", ("paper.docx", PDF), "does not end in .pdf"),
        ("", ("paper.exe", PDF), "does not end in .pdf"),
        ("", ("paper.pdf", docx()), "does not end in .docx"),
        ("x" * 100_001, None, "at most 100,000 characters"),
    ],
)
def test_bad_papers_store_nothing(
    client, app, learner, paper, engine, text, document, message
):
    response = hand_in(client, app, learner, paper, text=text, document=document)

    assert response.status_code == 422
    assert message in response.text
    assert count(engine, PaperSubmission) == 0


def test_file_over_ten_megabytes_is_refused(client, app, learner, paper, engine):
    oversized = PDF + b"0" * (MAX_PAPER_BYTES + 1 - len(PDF))
    response = hand_in(client, app, learner, paper, document=("big.pdf", oversized))

    assert response.status_code == 413
    assert "larger than 10 MB" in response.text
    assert count(engine, PaperSubmission) == 0


def test_request_far_over_the_limit_is_refused_before_reading(
    client, app, learner, paper, engine
):
    huge = PDF + b"0" * (MAX_PAPER_BYTES + 2 * 1024 * 1024)
    response = hand_in(client, app, learner, paper, document=("huge.pdf", huge))

    assert response.status_code == 413
    assert "The file is too large" in response.text
    assert f"/study/pcfm/activities/{paper.id}?ls={learner}" in response.text
    assert count(engine, PaperSubmission) == 0


def test_revision_then_new_version_keeps_every_version(
    client, app, learner, coordinator, paper, engine
):
    hand_in(client, app, learner, paper, text=PAPER)
    (first,) = papers(engine)
    no_feedback = review(client, app, coordinator, first.id, decision="revise",
                         feedback="")  # fmt: skip
    assert no_feedback.status_code == 422
    review(client, app, coordinator, first.id, decision="revise",
           feedback="Link it to a competency.")  # fmt: skip

    page = client.get(f"/study/pcfm/activities/{paper.id}?ls={learner}")
    assert "Link it to a competency." in page.text
    hand_in(client, app, learner, paper, document=("v2.pdf", PDF))
    hand_in(client, app, learner, paper, document=("v3.pdf", PDF))
    statuses = [p.status for p in papers(engine)]
    assert statuses == ["revision_requested", "superseded", "submitted"]

    latest = papers(engine)[-1]
    review(client, app, coordinator, latest.id, decision="accept", feedback="")
    late = hand_in(client, app, learner, paper, text=PAPER)
    assert late.status_code == 409
    assert count(engine, PaperSubmission) == 3
    assert ledger_minutes(engine) == paper.minutes


def test_tampered_requests_are_refused(
    client, app, launcher, learner, coordinator, paper, engine
):
    hand_in(client, app, learner, paper, text=PAPER)
    (stored,) = papers(engine)
    foreign = launch(launcher, coordinator=True, target="pcfm", context="course-2")
    reflection = activity_of(app, "pcfm", "reflection")
    pss_learner = launch(launcher, sub="pss-learner")

    assert review(client, app, learner, stored.id, decision="accept",
                  feedback="").status_code == 403  # fmt: skip
    assert review(client, app, foreign, stored.id, decision="accept",
                  feedback="").status_code == 404  # fmt: skip
    assert client.get(f"/work/papers/{stored.id}?ls={foreign}").status_code == 404
    assert hand_in(client, app, learner, reflection, text=PAPER).status_code == 403
    assert hand_in(client, app, pss_learner, paper, text=PAPER).status_code == 403
    no_csrf = client.post(
        f"/work/pcfm/papers/{paper.id}?ls={learner}", data={"text": PAPER}
    )
    assert no_csrf.status_code == 403
    assert count(engine, PaperSubmission) == 1
    assert ledger_minutes(engine) == 0


def test_coordinator_cannot_accept_their_own_paper(
    client, app, coordinator, paper, engine
):
    assert hand_in(client, app, coordinator, paper, text=PAPER).status_code == 303
    (stored,) = papers(engine)

    queue = client.get(f"/work/review?ls={coordinator}")
    assert f"/work/papers/{stored.id}" not in queue.text
    response = review(client, app, coordinator, stored.id, decision="accept",
                      feedback="")  # fmt: skip

    assert response.status_code == 403
    assert "cannot review your own work" in response.text
    (after,) = papers(engine)
    assert (after.status, after.reviewed_by_user_id) == ("submitted", None)
    assert count(engine, HoursEntry) == 0
