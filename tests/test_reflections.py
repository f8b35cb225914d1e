"""Reflective exercises: drafts, submissions, review, privacy and bad input."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from sqlalchemy import select

from lti_tool.models import HoursEntry, Reflection, WorkEvent
from tests.work_helpers import (  # noqa: F401  (data_key_fixture registers a fixture)
    activity_of,
    count,
    data_key_fixture,
    form,
    launch,
    ledger_minutes,
)

SECRET = "When I was nineteen my brother drove me to the clinic at midnight"


def words(n: int, lead: str = "") -> str:
    return (lead + " " + " ".join(f"word{i}" for i in range(n))).strip()


@pytest.fixture
def reflection(app):  # type: ignore[no-untyped-def]
    return activity_of(app, "pss", "reflection")


@pytest.fixture
def learner(launcher) -> str:  # type: ignore[no-untyped-def]
    return launch(launcher, sub="learner-1")


@pytest.fixture
def coordinator(launcher) -> str:  # type: ignore[no-untyped-def]
    return launch(launcher, coordinator=True, sub="coordinator-1", name="Jordan Lee")


def submit(client, app, token, activity, text):  # type: ignore[no-untyped-def]
    return client.post(
        f"/work/pss/reflections/{activity.id}/submit", data=form(app, token, body=text)
    )


def draft(client, app, token, activity, text):  # type: ignore[no-untyped-def]
    return client.post(
        f"/work/pss/reflections/{activity.id}/draft", data=form(app, token, body=text)
    )


def review(client, app, token, reflection_id, **fields):  # type: ignore[no-untyped-def]
    return client.post(
        f"/work/reflections/{reflection_id}/review", data=form(app, token, **fields)
    )


def only_reflection(engine) -> Reflection:  # type: ignore[no-untyped-def]
    with engine.connect() as connection:
        row = connection.execute(select(Reflection)).one()
    return row  # type: ignore[return-value]


def test_draft_is_saved_and_shown_again(client, app, learner, reflection, engine):
    response = draft(client, app, learner, reflection, "A first thought")

    assert response.status_code == 200
    assert response.get_json()["saved_at"]
    page = client.get(f"/study/pss/activities/{reflection.id}?ls={learner}")
    assert "A first thought</textarea>" in page.text
    assert "js/autosave.js" in page.text
    assert only_reflection(engine).status == "draft"


def test_saved_times_carry_the_program_time_zone(client, app, learner, reflection):
    answer = draft(client, app, learner, reflection, "A first thought").get_json()

    # The program's zone is California's, as the page shows it too.
    assert answer["saved_at_text"].endswith((" PST", " PDT"))
    page = client.get(f"/study/pss/activities/{reflection.id}?ls={learner}")
    assert f"Draft saved {answer['saved_at_text']}" in page.text


def test_submission_waits_in_the_coordinators_queue(
    client, app, learner, coordinator, reflection
):
    response = submit(client, app, learner, reflection, words(reflection.min_words))
    assert response.status_code == 303
    assert response.headers["Location"].endswith("#reflection")

    queue = client.get(f"/work/review?ls={coordinator}")
    assert queue.status_code == 200
    assert "Alex Rivera" in queue.text
    assert reflection.title in queue.text
    page = client.get(f"/study/pss/activities/{reflection.id}?ls={learner}")
    assert "Waiting for review" in page.text


def test_the_module_list_shows_handed_in_work_waiting(client, app, learner, reflection):
    module_url = f"/study/pss/modules/{reflection.module_id}?ls={learner}"
    status = f'">{reflection.title}</a>'
    before = client.get(module_url).text
    row_before = before[before.index(status) :].split("</li>", 1)[0]
    assert "Not started" in row_before

    submit(client, app, learner, reflection, words(reflection.min_words))

    after = client.get(module_url).text
    row_after = after[after.index(status) :].split("</li>", 1)[0]
    assert "Waiting for review" in row_after
    assert "Not started" not in row_after


def test_accepting_credits_the_planned_time_once(
    client, app, learner, coordinator, reflection, engine
):
    submit(client, app, learner, reflection, words(reflection.min_words))
    item = only_reflection(engine)

    page = client.get(f"/work/reflections/{item.id}?ls={coordinator}")
    assert page.status_code == 200 and "word0 word1" in page.text
    accepted = review(client, app, coordinator, item.id, decision="accept",
                      submission="1", feedback="")  # fmt: skip
    again = review(client, app, coordinator, item.id, decision="accept",
                   submission="1", feedback="")  # fmt: skip

    assert accepted.status_code == 303
    assert again.status_code == 409
    assert "not waiting for a review" in again.text
    assert ledger_minutes(engine) == reflection.minutes
    with engine.connect() as connection:
        entry = connection.execute(select(HoursEntry)).one()
    assert entry.source == "reflection_accepted"
    assert entry.event_key == f"reflection:{item.id}"
    assert entry.approved_by_user_id is not None
    assert only_reflection(engine).status == "accepted"


def test_revision_keeps_history_and_feedback(
    client, app, learner, coordinator, reflection, engine
):
    submit(client, app, learner, reflection, words(reflection.min_words, "First"))
    item = only_reflection(engine)
    asked = review(client, app, coordinator, item.id, decision="revise",
                   submission="1", feedback="Say more about what helped.")  # fmt: skip
    assert asked.status_code == 303

    page = client.get(f"/study/pss/activities/{reflection.id}?ls={learner}")
    assert "Revision requested" in page.text
    assert "Say more about what helped." in page.text
    submit(client, app, learner, reflection, words(reflection.min_words, "Second"))
    review(client, app, coordinator, item.id, decision="accept", submission="2",
           feedback="Thank you.")  # fmt: skip

    with engine.connect() as connection:
        actions = connection.scalars(
            select(WorkEvent.action).order_by(WorkEvent.id)
        ).all()
    assert actions == ["submitted", "revision_requested", "submitted", "accepted"]
    history = client.get(f"/work/reflections/{item.id}?ls={coordinator}")
    assert "First word0" in history.text and "Second word0" in history.text
    assert ledger_minutes(engine) == reflection.minutes


def test_participant_can_edit_until_reviewed_then_not(
    client, app, learner, coordinator, reflection, engine
):
    submit(client, app, learner, reflection, words(reflection.min_words, "One"))
    assert draft(client, app, learner, reflection, "still editing").status_code == 200
    submit(client, app, learner, reflection, words(reflection.min_words, "Two"))
    assert only_reflection(engine).submission_count == 2
    item = only_reflection(engine)
    review(client, app, coordinator, item.id, decision="accept", submission="2",
           feedback="")  # fmt: skip

    late_draft = draft(client, app, learner, reflection, "a change after acceptance")
    late_submit = submit(client, app, learner, reflection, words(300, "Three"))
    assert late_draft.status_code == 409
    assert "accepted" in late_draft.get_json()["error"]
    assert late_submit.status_code == 409
    page = client.get(f"/study/pss/activities/{reflection.id}?ls={learner}")
    assert "Two word0" in page.text and "Three word0" not in page.text
    assert 'id="reflection-form"' not in page.text


def test_review_of_an_outdated_version_is_refused(
    client, app, learner, coordinator, reflection, engine
):
    submit(client, app, learner, reflection, words(reflection.min_words, "One"))
    item = only_reflection(engine)
    submit(client, app, learner, reflection, words(reflection.min_words, "Two"))

    response = review(client, app, coordinator, item.id, decision="accept",
                      submission="1", feedback="")  # fmt: skip
    assert response.status_code == 409
    assert "changed this reflection after you opened it" in response.text
    assert ledger_minutes(engine) == 0
    assert only_reflection(engine).status == "submitted"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "Write your reflection before submitting it."),
        ("   \n\t  ", "Write your reflection before submitting it."),
        ("only a few words", "it needs at least"),
        ("x" * 20_001, "at most 20,000 characters"),
    ],
)
def test_bad_submission_stores_nothing_and_keeps_the_text(
    client, app, learner, reflection, engine, text, message
):
    response = submit(client, app, learner, reflection, text)

    assert response.status_code == 422
    assert message in response.text
    assert count(engine, Reflection) == 0
    assert count(engine, WorkEvent) == 0
    if text.strip() and len(text) < 100:
        assert f"{text}</textarea>" in response.text


def test_oversized_draft_is_refused(client, app, learner, reflection, engine):
    response = draft(client, app, learner, reflection, "y" * 20_001)

    assert response.status_code == 422
    assert "at most 20,000 characters" in response.get_json()["error"]
    assert count(engine, Reflection) == 0


def test_review_needs_a_decision_and_feedback_for_a_revision(
    client, app, learner, coordinator, reflection, engine
):
    submit(client, app, learner, reflection, words(reflection.min_words))
    item = only_reflection(engine)

    no_feedback = review(client, app, coordinator, item.id, decision="revise",
                         submission="1", feedback="  ")  # fmt: skip
    no_decision = review(client, app, coordinator, item.id, decision="maybe",
                         submission="1", feedback="")  # fmt: skip
    assert no_feedback.status_code == 422
    assert "Say what should change" in no_feedback.text
    assert no_decision.status_code == 422
    assert only_reflection(engine).status == "submitted"
    assert count(engine, WorkEvent) == 1


def test_only_coordinators_of_the_same_course_review(
    client, app, launcher, learner, reflection, engine
):
    submit(client, app, learner, reflection, words(reflection.min_words))
    item = only_reflection(engine)
    other_learner = launch(launcher, sub="learner-2")
    foreign = launch(launcher, coordinator=True, context="course-2", sub="c-2")

    assert client.get(
        f"/work/reflections/{item.id}?ls={other_learner}"
    ).status_code == (403)
    assert client.get(f"/work/reflections/{item.id}?ls={foreign}").status_code == 404
    assert client.get(f"/work/review?ls={other_learner}").status_code == 403
    assert "Alex Rivera" not in client.get(f"/work/review?ls={foreign}").text
    tampered = review(client, app, foreign, item.id, decision="accept",
                      submission="1", feedback="")  # fmt: skip
    assert tampered.status_code == 404
    assert ledger_minutes(engine) == 0


def test_another_learner_never_sees_the_text(
    client, app, launcher, learner, reflection
):
    draft(client, app, learner, reflection, SECRET)
    other = launch(launcher, sub="learner-2")

    page = client.get(f"/study/pss/activities/{reflection.id}?ls={other}")
    assert page.status_code == 200
    assert SECRET not in page.text


def test_tampered_requests_are_refused(client, app, learner, reflection, engine):
    reading = activity_of(app, "pss", "reading")
    not_reflection = client.post(
        f"/work/pss/reflections/{reading.id}/draft", data=form(app, learner, body="x")
    )
    other_program = client.post(
        "/work/pcfm/reflections/family-role-reflection/draft",
        data=form(app, learner, body="x"),
    )
    no_csrf = client.post(
        f"/work/pss/reflections/{reflection.id}/submit",
        data={"ls": learner, "body": words(300)},
    )
    assert not_reflection.status_code == 403
    assert other_program.status_code == 403
    assert no_csrf.status_code == 403
    assert count(engine, Reflection) == 0


def test_text_is_encrypted_in_the_database_columns(
    client, app, learner, coordinator, reflection, engine
):
    submit(client, app, learner, reflection, f"{SECRET}. " + words(300))
    item = only_reflection(engine)
    review(client, app, coordinator, item.id, decision="revise", submission="1",
           feedback=f"About {SECRET}: say more.")  # fmt: skip

    with engine.connect() as connection:
        raw = [
            *connection.execute(
                select(Reflection.draft_encrypted, Reflection.submitted_encrypted)
            ).one(),
            *connection.scalars(select(WorkEvent.text_encrypted)),
        ]
    stored = b"".join(bytes(value) for value in raw if value)
    assert stored
    assert SECRET.encode() not in stored
    assert b"nineteen" not in stored
    page = client.get(f"/work/reflections/{item.id}?ls={coordinator}")
    assert SECRET in page.text


def test_text_is_not_readable_in_the_sqlite_file(
    client, app, learner, reflection, engine, database_url
):
    if not database_url.startswith("sqlite:///"):
        pytest.skip("reads the SQLite database file itself")
    submit(client, app, learner, reflection, f"{SECRET}. " + words(300))
    assert count(engine, Reflection) == 1

    path = Path(database_url.removeprefix("sqlite:///"))
    files = [path, path.with_name(path.name + "-wal")]
    raw = b"".join(f.read_bytes() for f in files if f.exists())
    assert len(raw) > 0
    assert SECRET.encode() not in raw
    assert SECRET.encode("utf-16-le") not in raw


def test_text_never_reaches_the_logs(
    client, app, learner, coordinator, reflection, engine, caplog
):
    caplog.set_level(logging.DEBUG)
    draft(client, app, learner, reflection, SECRET)
    submit(client, app, learner, reflection, f"{SECRET}. " + words(300))
    item = only_reflection(engine)
    review(client, app, coordinator, item.id, decision="revise", submission="1",
           feedback=SECRET)  # fmt: skip
    submit(client, app, learner, reflection, SECRET)  # refused: too short

    assert "reflection submitted" in caplog.text
    assert SECRET not in caplog.text
    assert "nineteen" not in caplog.text


def test_missing_data_key_is_a_calm_error(client, app, learner, reflection, tmp_path):
    app.config["SETTINGS"] = __import__("dataclasses").replace(
        app.config["SETTINGS"], keys_dir=tmp_path / "empty"
    )
    response = draft(client, app, learner, reflection, "text")
    assert response.status_code == 500
    assert "data_key_missing" in response.text


def test_two_tabs_creating_the_first_draft_share_one_row(
    client, app, learner, reflection, engine, monkeypatch
):
    from lti_tool.work import reflections as service

    draft(client, app, learner, reflection, "from the first tab")
    # The second tab looked before the first tab's row existed.
    monkeypatch.setattr(service, "find_reflection", _missing_once(service))
    response = draft(client, app, learner, reflection, "from the second tab")

    assert response.status_code == 200
    assert count(engine, Reflection) == 1
    page = client.get(f"/study/pss/activities/{reflection.id}?ls={learner}")
    assert "from the second tab</textarea>" in page.text


def _missing_once(service):  # type: ignore[no-untyped-def]
    real = service.find_reflection
    calls = []

    def find(*args):  # type: ignore[no-untyped-def]
        calls.append(args)
        return None if len(calls) == 1 else real(*args)

    return find


def test_coordinator_cannot_accept_their_own_reflection(
    client, app, coordinator, reflection, engine
):
    submitted = submit(client, app, coordinator, reflection,
                       words(reflection.min_words))  # fmt: skip
    assert submitted.status_code == 303
    item = only_reflection(engine)

    queue = client.get(f"/work/review?ls={coordinator}")
    assert f"/work/reflections/{item.id}" not in queue.text
    response = review(client, app, coordinator, item.id, decision="accept",
                      submission="1", feedback="")  # fmt: skip

    assert response.status_code == 403
    assert "cannot review your own work" in response.text
    assert only_reflection(engine).status == "submitted"
    assert only_reflection(engine).reviewed_by_user_id is None
    assert count(engine, HoursEntry) == 0
    assert count(engine, WorkEvent) == 1


def test_reloading_a_refused_submission_goes_back_to_the_activity(
    client, app, learner, reflection
):
    refused = submit(client, app, learner, reflection, "too short")
    assert refused.status_code == 422

    reloaded = client.get(f"/work/pss/reflections/{reflection.id}/submit?ls={learner}")

    assert reloaded.status_code == 303
    assert (
        reloaded.headers["Location"]
        .split("#")[0]
        .endswith(f"/study/pss/activities/{reflection.id}?ls={learner}")
    )
