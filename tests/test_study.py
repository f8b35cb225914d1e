"""The lesson player: overview, module and activity pages, heartbeats, checks."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import func, select, update

from lti_tool.models import (
    ActivityProgress,
    HoursEntry,
    KnowledgeCheckAttempt,
    StudyClock,
)
from tests.platform import INSTRUCTOR, LTI


def session_token(response) -> str:  # type: ignore[no-untyped-def]
    return parse_qs(urlsplit(response.headers["Location"]).query)["ls"][0]


@pytest.fixture
def learner(launcher):  # type: ignore[no-untyped-def]
    response = launcher.launch_as()
    assert response.status_code == 303
    return session_token(response)


def first_module(app):  # type: ignore[no-untyped-def]
    return app.extensions["catalog"].program("pss").modules[0]


def test_overview_lists_modules_with_progress_and_start(client, learner, app):
    page = client.get("/program", query_string={"ls": learner})

    assert page.status_code == 200
    program = app.extensions["catalog"].program("pss")
    for module in program.modules:
        assert module.title in page.text
    assert page.text.count("<progress") == len(program.modules)
    assert "Start" in page.text
    first = program.modules[0].activities[0]
    assert f"/study/pss/activities/{first.id}?ls={learner}" in page.text


def test_module_page_lists_activities(client, learner, app):
    module = first_module(app)
    page = client.get(f"/study/pss/modules/{module.id}", query_string={"ls": learner})

    assert page.status_code == 200
    for activity in module.activities:
        assert activity.title in page.text
    assert "Not started" in page.text


def test_reading_page_renders_markdown_and_tracking(client, learner, app):
    reading = next(
        a
        for a in app.extensions["catalog"].program("pss").activities()
        if a.kind == "reading"
    )
    page = client.get(
        f"/study/pss/activities/{reading.id}", query_string={"ls": learner}
    )

    assert page.status_code == 200
    assert "<h1>" in page.text
    assert f'data-heartbeat-url="/study/heartbeat?ls={learner}"' in page.text
    assert "js/study.js" in page.text
    assert 'rel="next"' in page.text


def test_video_without_media_says_so_and_shows_transcript(client, learner, app):
    video = next(
        a
        for a in app.extensions["catalog"].program("pss").activities()
        if a.kind == "video" and not a.media
    )
    page = client.get(f"/study/pss/activities/{video.id}", query_string={"ls": learner})

    assert "has not been recorded yet" in page.text
    assert 'id="transcript"' in page.text


def test_activity_outside_the_link_scope_is_refused(client, launcher, app):
    module = first_module(app)
    other = app.extensions["catalog"].program("pss").modules[1].activities[0]
    response = launcher.launch_as(**{LTI + "custom": {"target": f"pss/{module.id}"}})
    token = session_token(response)

    inside = client.get(
        f"/study/pss/activities/{module.activities[0].id}", query_string={"ls": token}
    )
    outside = client.get(
        f"/study/pss/activities/{other.id}", query_string={"ls": token}
    )
    wrong_program = client.get(
        "/study/pcfm/modules/anything", query_string={"ls": token}
    )
    assert inside.status_code == 200
    assert outside.status_code == 403
    assert wrong_program.status_code == 403


def test_pages_without_session_say_so(client):
    response = client.get("/program")
    assert response.status_code == 401
    assert "Reason code: session_expired" in response.text


def test_heartbeats_are_measured_and_credited(client, learner, app, engine):
    reading = first_module(app).activities[0]
    # Opening the page starts the server-side clock; pretend it was 15 minutes ago.
    client.get(f"/study/pss/activities/{reading.id}", query_string={"ls": learner})
    with engine.begin() as connection:
        connection.execute(
            update(StudyClock).values(
                counted_until=datetime.now(UTC) - timedelta(minutes=15)
            )
        )
    now_ms = int(time.time() * 1000)
    beats = [
        {"activity": reading.id, "page": "p1", "seq": n, "active": 30,
         "at": now_ms - (20 - n) * 30_000}
        for n in range(20)
    ]  # fmt: skip
    response = client.post(
        f"/study/heartbeat?ls={learner}", json={"program": "pss", "beats": beats}
    )

    assert response.status_code == 200
    assert response.get_json()["accepted"] == 20
    with engine.connect() as connection:
        credited = connection.scalar(select(func.sum(HoursEntry.minutes)))
        measured = connection.scalar(select(ActivityProgress.active_seconds))
    assert credited == min(10, reading.minutes)
    assert measured == 600

    again = client.post(
        f"/study/heartbeat?ls={learner}", json={"program": "pss", "beats": beats}
    )
    assert again.get_json() == {"accepted": 0, "ignored": 20, "credited_minutes": 0}


def test_heartbeat_for_another_program_or_garbage_is_refused(client, learner, engine):
    foreign = client.post(
        f"/study/heartbeat?ls={learner}",
        json={"program": "pcfm", "beats": [{"activity": "x"}]},
    )
    garbage = client.post(
        f"/study/heartbeat?ls={learner}", data="not json", content_type="text/plain"
    )
    unknown = client.post(
        f"/study/heartbeat?ls={learner}",
        json={"program": "pss", "beats": [
            {"activity": "nope", "page": "p", "seq": 0, "active": 30, "at": 1}]},
    )  # fmt: skip
    assert foreign.status_code == 403
    assert garbage.status_code == 400
    assert unknown.status_code == 403
    with engine.connect() as connection:
        assert (
            connection.scalar(select(func.count()).select_from(ActivityProgress)) == 0
        )


def test_knowledge_check_scores_and_credits_on_pass(client, learner, app, engine):
    check = next(a for a in first_module(app).activities if a.kind == "knowledge_check")
    page = client.get(f"/study/pss/activities/{check.id}", query_string={"ls": learner})
    csrf = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    answers = {f"q{n}": str(q.answer) for n, q in enumerate(check.questions)}

    response = client.post(
        f"/study/pss/activities/{check.id}/check",
        data={"ls": learner, "csrf_token": csrf, **answers},
    )
    assert response.status_code == 303
    result = client.get(response.headers["Location"])
    assert "100%" in result.text and "passed" in result.text
    with engine.connect() as connection:
        assert connection.scalar(select(func.sum(HoursEntry.minutes))) == check.minutes
        assert connection.scalar(select(KnowledgeCheckAttempt.passed)) is True


def test_knowledge_check_with_missing_answer_stores_nothing(
    client, learner, app, engine
):
    check = next(a for a in first_module(app).activities if a.kind == "knowledge_check")
    page = client.get(f"/study/pss/activities/{check.id}", query_string={"ls": learner})
    csrf = page.text.split('name="csrf_token" value="')[1].split('"')[0]

    response = client.post(
        f"/study/pss/activities/{check.id}/check",
        data={"ls": learner, "csrf_token": csrf, "q0": "0"},
    )
    assert response.status_code == 422
    assert "Answer every question before checking." in response.text
    with engine.connect() as connection:
        assert (
            connection.scalar(select(func.count()).select_from(KnowledgeCheckAttempt))
            == 0
        )


def test_knowledge_check_without_csrf_token_is_refused(client, learner, app):
    check = next(a for a in first_module(app).activities if a.kind == "knowledge_check")
    response = client.post(
        f"/study/pss/activities/{check.id}/check", data={"ls": learner, "q0": "0"}
    )
    assert response.status_code == 403


def test_coordinator_sees_the_same_pages(launcher, client):
    response = launcher.launch_as(**{LTI + "roles": [INSTRUCTOR]})
    page = client.get(response.headers["Location"])
    assert "(coordinator)" in page.text


def test_media_path_cannot_escape_the_program_folder(client, learner):
    response = client.get(
        "/study/pss/media/../../keys/README.md", query_string={"ls": learner}
    )
    assert response.status_code == 404


def test_system_administrator_launch_links_to_the_admin_view(launcher, client):
    admin_role = "http://purl.imsglobal.org/vocab/lis/v2/system/person#Administrator"
    response = launcher.launch_as(**{LTI + "roles": [admin_role]})
    page = client.get(response.headers["Location"])
    assert "Administer this LMS" in page.text


def test_learner_sees_no_admin_link(client, learner):
    page = client.get("/program", query_string={"ls": learner})
    assert "Administer this LMS" not in page.text


def test_oversized_heartbeat_request_is_refused_unread(client, learner):
    body = '{"program": "pss", "beats": [' + ",".join(["{}"] * 200_000) + "]}"
    response = client.post(
        f"/study/heartbeat?ls={learner}", data=body, content_type="application/json"
    )
    assert response.status_code == 413


def test_reviewed_work_does_not_claim_not_started(client, learner, app):
    reflection = next(a for a in first_module(app).activities if a.kind == "reflection")
    page = client.get(
        f"/study/pss/activities/{reflection.id}", query_string={"ls": learner}
    )
    header = page.text.split("<h1>")[0]
    assert "Not started" not in header
    assert "minutes planned" in header
