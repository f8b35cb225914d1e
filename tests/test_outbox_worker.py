"""The score outbox and its worker: marking, claiming, sending, settling."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
import responses
from flask import Flask
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from lti_tool.hours.ledger import Participant, correct, credit_activity
from lti_tool.hours.rules import CreditRules, Source
from lti_tool.models import (
    ActivityProgress,
    Context,
    Deployment,
    LaunchSession,
    LineItem,
    Membership,
    Reflection,
    Registration,
    ResourceLink,
    ScoreOutbox,
    User,
)
from lti_tool.sandbox import PSS_MODULE_ID
from lti_tool.services.ags import CANVAS_SUBMISSION
from lti_tool.services.outbox import mark_scores_due
from lti_tool.services.scores import compute_score
from lti_tool.services.targets import find_target
from lti_tool.services.token import AccessTokens
from lti_tool.services.worker import ScoreWorker, WorkerOptions, next_timestamp

ISSUER = "https://lms.example.edu"
TOKEN_URL = ISSUER + "/token"
LINE_ITEMS = ISSUER + "/api/courses/7/line_items"
SCORES = LINE_ITEMS + "/1/scores"
MOODLE_LINE_ITEM = ISSUER + "/mod/lti/services.php/2/lineitems/5/lineitem?type_id=1"
AGS_SCOPES = [
    "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem",
    "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly",
    "https://purl.imsglobal.org/spec/lti-ags/scope/score",
]
RULES = CreditRules(daily_cap_minutes=100_000)


@dataclass
class Course:
    """One course in the database, as launches would have left it."""

    engine: Engine
    app: Flask
    context_pk: int
    links: dict[str, int]
    learner: Participant
    learner_sub: str

    def session(self) -> Session:
        return Session(self.engine)

    def credit(self, minutes: int, first_activity: int = 0) -> None:
        """Credit minutes to the module's activities, in order, up to their plan."""
        program = self.app.extensions["catalog"].program("pss")
        activities = program.find_module(PSS_MODULE_ID).activities[first_activity:]
        with self.session() as session:
            for activity in activities:
                if minutes <= 0:
                    break
                minutes -= credit_activity(
                    session, RULES, self.learner, program, activity,
                    min(minutes, activity.minutes), Source.TRACKED_STUDY,
                )  # fmt: skip
            session.commit()

    def program_row(self) -> ScoreOutbox:
        (row,) = [r for r in self.rows() if r.resource_link_pk == self.links["program"]]
        return row

    def rows(self) -> list[ScoreOutbox]:
        with self.session() as session:
            return list(session.scalars(select(ScoreOutbox).order_by(ScoreOutbox.id)))

    def worker(self, **options: Any) -> ScoreWorker:
        extensions = self.app.extensions
        tokens = AccessTokens(
            extensions["store"], extensions["http"], extensions["key_ring"]
        )
        return ScoreWorker(
            self.engine,
            extensions["store"],
            tokens,
            extensions["http"],
            extensions["catalog"],
            WorkerOptions(**{"concurrency": 1, **options}),
        )


@pytest.fixture
def course(engine: Engine, app: Flask) -> Course:
    with Session(engine) as session:
        registration = Registration(
            issuer=ISSUER,
            client_id="client-1",
            auth_login_url=ISSUER + "/auth",
            auth_token_url=TOKEN_URL,
            key_set_url=ISSUER + "/jwks",
        )
        deployment = Deployment(deployment_id="d1")
        registration.deployments.append(deployment)
        learner = User(issuer=ISSUER, sub="learner-sub", name="Ana")
        session.add_all([registration, learner])
        session.flush()
        context = Context(deployment_pk=deployment.id, context_id="course-7")
        session.add(context)
        session.flush()
        links = {}
        for name, target in (
            ("program", "pss"),
            ("module", f"pss/{PSS_MODULE_ID}"),
            ("other", "pcfm"),
            ("unset", ""),
        ):
            link = ResourceLink(
                context_pk=context.id, resource_link_id=f"rl-{name}", target=target
            )
            session.add(link)
            session.flush()
            links[name] = link.id
        session.add(
            Membership(user_id=learner.id, context_pk=context.id, role="learner")
        )
        session.commit()
        return Course(
            engine,
            app,
            context.id,
            links,
            Participant(learner.id, context.id),
            learner.sub,
        )


def launched(course: Course, link: str, ags: dict[str, Any] | None) -> None:
    """What a launch of the link leaves behind: a session with its AGS claim."""
    with course.session() as session:
        session.add(
            LaunchSession(
                id=uuid.uuid4().hex,
                user_id=course.learner.user_id,
                context_pk=course.context_pk,
                resource_link_pk=course.links[link],
                role="learner",
                claims={"ags": ags},
                expires_at=datetime.now(UTC) + timedelta(hours=1),
            )
        )
        session.commit()


def only_program_link_due(course: Course) -> None:
    with course.session() as session:
        session.execute(
            update(ScoreOutbox)
            .where(ScoreOutbox.resource_link_pk != course.links["program"])
            .values(state="sent")
        )
        session.commit()


@pytest.fixture
def platform_api() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.post(TOKEN_URL, json={"access_token": "secret-token", "expires_in": 3600})
        mock.get(LINE_ITEMS, json=[])
        mock.post(
            LINE_ITEMS,
            status=201,
            json={"id": LINE_ITEMS + "/1", "scoreMaximum": 100, "label": "PSS"},
        )
        yield mock


def score_bodies(mock: responses.RequestsMock) -> list[dict[str, Any]]:
    return [
        json.loads(call.request.body)
        for call in mock.calls
        if call.request.url.split("?")[0].endswith("/scores")
    ]


# Marking scores due


def test_credit_marks_every_link_into_the_program_due(course: Course) -> None:
    course.credit(10)

    rows = course.rows()
    assert {row.resource_link_pk for row in rows} == {
        course.links["program"],
        course.links["module"],
    }
    assert all(row.state == "pending" and row.due_version == 1 for row in rows)


def test_marks_roll_back_with_the_ledger_change(course: Course) -> None:
    program = course.app.extensions["catalog"].program("pss")
    activity = program.find_module(PSS_MODULE_ID).activities[0]
    with course.session() as session:
        credit_activity(
            session, RULES, course.learner, program, activity, 10, Source.TRACKED_STUDY
        )
        session.rollback()

    assert course.rows() == []


def test_a_correction_marks_scores_due(course: Course) -> None:
    program = course.app.extensions["catalog"].program("pss")
    with course.session() as session:
        correct(
            session, course.learner, program, activity=None, category="online",
            minutes=30, reason="paper records", by_user_id=course.learner.user_id,
            rules=RULES,
        )  # fmt: skip
        session.commit()

    assert len(course.rows()) == 2


def test_coordinators_scores_are_not_marked(course: Course) -> None:
    with course.session() as session:
        session.execute(update(Membership).values(role="coordinator"))
        session.commit()

    course.credit(10)

    assert course.rows() == []


def test_each_change_raises_the_version_but_keeps_a_running_backoff(
    course: Course,
) -> None:
    course.credit(5)
    later = datetime.now(UTC) + timedelta(minutes=10)
    with course.session() as session:
        session.execute(update(ScoreOutbox).values(next_attempt_at=later, attempts=3))
        session.commit()

    course.credit(5)
    waiting = course.rows()[0]
    with course.session() as session:
        session.execute(update(ScoreOutbox).values(state="failed"))
        mark_scores_due(session, course.learner, "pss")
        session.commit()
    refused_then_changed = course.rows()[0]

    assert waiting.due_version == 2 and waiting.attempts == 3
    kept = waiting.next_attempt_at.replace(tzinfo=UTC) - later
    assert abs(kept.total_seconds()) < 0.01
    assert refused_then_changed.state == "pending"
    assert refused_then_changed.attempts == 0
    assert refused_then_changed.due_version == 3


# Claiming


def test_two_workers_never_hold_the_same_row(course: Course) -> None:
    course.credit(10)
    first, second = course.worker(), course.worker()

    held = first.claim("lease-a")
    also = second.claim("lease-b")
    with course.session() as session:
        session.execute(
            update(ScoreOutbox).values(
                lease_until=datetime.now(UTC) - timedelta(seconds=1)
            )
        )
        session.commit()
    recovered = second.claim("lease-b")

    assert len(held) == 2 and also == []
    assert {c.id for c in recovered} == {c.id for c in held}


# Delivering


def test_latest_score_is_sent_and_the_row_settles(
    course: Course, platform_api: responses.RequestsMock
) -> None:
    launched(course, "program", {"scope": AGS_SCOPES, "lineitems": LINE_ITEMS})
    course.credit(30)
    only_program_link_due(course)
    platform_api.post(SCORES, json={})

    assert course.worker().run(threading.Event(), once=True) == 1

    (body,) = score_bodies(platform_api)
    assert body["userId"] == "learner-sub"
    assert (body["scoreGiven"], body["scoreMaximum"]) == (0.5, 100.0)
    assert (body["activityProgress"], body["gradingProgress"]) == (
        "InProgress",
        "FullyGraded",
    )
    assert body[CANVAS_SUBMISSION]["new_submission"] is True
    row = next(
        r for r in course.rows() if r.resource_link_pk == course.links["program"]
    )
    # Two ledger lines (two activities), one delivery of the latest value.
    assert (row.state, row.sent_score, row.attempts) == ("sent", 0.5, 0)
    assert row.sent_version == row.due_version == 2
    with course.session() as session:
        (line_item,) = session.scalars(select(LineItem))
    assert (line_item.resource_id, line_item.tag, line_item.line_item_url) == (
        "pss",
        "hours",
        LINE_ITEMS + "/1",
    )


def test_regrades_neither_open_a_submission_nor_go_back_in_time(
    course: Course, platform_api: responses.RequestsMock
) -> None:
    launched(course, "program", {"scope": AGS_SCOPES, "lineitems": LINE_ITEMS})
    platform_api.post(SCORES, json={})
    course.credit(15)
    only_program_link_due(course)
    course.worker().run(threading.Event(), once=True)
    ahead = datetime.now(UTC) + timedelta(hours=1)
    with course.session() as session:
        # A clock that once ran ahead: the next timestamp must still be later.
        session.execute(update(ScoreOutbox).values(last_timestamp=ahead))
        session.commit()

    course.credit(15)
    only_program_link_due(course)
    course.worker().run(threading.Event(), once=True)

    first, second = score_bodies(platform_api)
    assert second[CANVAS_SUBMISSION]["new_submission"] is False
    assert second["timestamp"] == (ahead + timedelta(milliseconds=1)).isoformat(
        timespec="milliseconds"
    )
    assert second["scoreGiven"] == 0.5


def test_next_timestamp_is_now_in_milliseconds_unless_that_goes_back() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, 123456, tzinfo=UTC)

    assert next_timestamp(now, None) == now.replace(microsecond=123000)
    assert next_timestamp(now, now + timedelta(seconds=5)) == now + timedelta(
        seconds=5, milliseconds=1
    )


def test_a_change_during_the_send_keeps_the_row_pending(
    course: Course, platform_api: responses.RequestsMock
) -> None:
    launched(course, "program", {"scope": AGS_SCOPES, "lineitems": LINE_ITEMS})
    course.credit(15)
    only_program_link_due(course)

    sends = []

    def credit_meanwhile(request: Any) -> tuple[int, dict[str, str], str]:
        sends.append(request)
        if len(sends) == 1:
            course.credit(15)
        return 200, {}, "{}"

    platform_api.add_callback(responses.POST, SCORES, callback=credit_meanwhile)
    worker = course.worker()
    worker.run_batch()
    row = next(
        r for r in course.rows() if r.resource_link_pk == course.links["program"]
    )
    assert (row.state, row.sent_version, row.due_version) == ("pending", 1, 2)

    worker.run(threading.Event(), once=True)

    row = next(
        r for r in course.rows() if r.resource_link_pk == course.links["program"]
    )
    assert (row.state, row.sent_version, row.sent_score) == ("sent", 2, 0.5)


def test_server_errors_back_off_and_throttling_waits_as_asked(
    course: Course, platform_api: responses.RequestsMock
) -> None:
    launched(course, "program", {"scope": AGS_SCOPES, "lineitems": LINE_ITEMS})
    course.credit(15)
    only_program_link_due(course)
    platform_api.post(SCORES, status=503, body="maintenance")
    before = datetime.now(UTC)

    course.worker(backoff_base_seconds=4).run_batch()
    failed_once = course.program_row()
    with course.session() as session:
        session.execute(update(ScoreOutbox).values(next_attempt_at=before))
        session.commit()
    platform_api.replace(
        responses.POST, SCORES, status=429, headers={"Retry-After": "30"}
    )
    course.worker().run_batch()
    throttled = course.program_row()

    def waits(row: ScoreOutbox) -> float:
        return (row.next_attempt_at.replace(tzinfo=UTC) - before).total_seconds()

    assert (failed_once.state, failed_once.attempts, failed_once.last_status) == (
        "pending",
        1,
        503,
    )
    assert 2.9 <= waits(failed_once) <= 4.5
    assert "maintenance" in failed_once.last_error
    assert throttled.attempts == 2 and 29 <= waits(throttled) <= 31


def test_a_timeout_is_retried_and_its_timestamp_remembered(
    course: Course, platform_api: responses.RequestsMock
) -> None:
    launched(course, "program", {"scope": AGS_SCOPES, "lineitems": LINE_ITEMS})
    course.credit(15)
    only_program_link_due(course)
    platform_api.post(SCORES, body=requests.ReadTimeout("slow"))

    course.worker().run_batch()

    row = course.program_row()
    assert (row.state, row.attempts, row.last_status) == ("pending", 1, None)
    assert row.last_timestamp is not None
    assert "timed out" in row.last_error


def test_a_refusal_is_kept_with_the_platform_answer_without_the_token(
    course: Course, platform_api: responses.RequestsMock
) -> None:
    launched(course, "program", {"scope": AGS_SCOPES, "lineitems": LINE_ITEMS})
    course.credit(15)
    only_program_link_due(course)
    platform_api.post(
        SCORES,
        status=422,
        json={
            "errors": {
                "type": "unprocessable_entity",
                "message": "User not found in course or is not a student "
                "(token secret-token)",
            }
        },
    )

    course.worker().run(threading.Event(), once=True)

    row = course.program_row()
    assert (row.state, row.last_status) == ("failed", 422)
    assert row.last_error.startswith("the grade service refused the request")
    assert "(HTTP 422: User not found in course" in row.last_error
    assert "secret-token" not in row.last_error


def test_a_column_deleted_on_the_platform_is_made_again(
    course: Course, platform_api: responses.RequestsMock
) -> None:
    launched(course, "program", {"scope": AGS_SCOPES, "lineitems": LINE_ITEMS})
    course.credit(15)
    only_program_link_due(course)
    platform_api.post(SCORES, status=404)
    platform_api.post(
        LINE_ITEMS,
        status=201,
        json={"id": LINE_ITEMS + "/2", "scoreMaximum": 100, "label": "PSS"},
    )
    platform_api.post(LINE_ITEMS + "/2/scores", json={})

    course.worker().run(threading.Event(), once=True)

    with course.session() as session:
        (line_item,) = session.scalars(select(LineItem))
    assert line_item.line_item_url == LINE_ITEMS + "/2"
    assert course.program_row().state == "sent"


def test_the_line_item_a_moodle_launch_names_is_used_with_its_query(
    course: Course, platform_api: responses.RequestsMock
) -> None:
    launched(
        course,
        "program",
        {"scope": AGS_SCOPES, "lineitems": LINE_ITEMS, "lineitem": MOODLE_LINE_ITEM},
    )
    course.credit(15)
    only_program_link_due(course)
    platform_api.post(
        ISSUER + "/mod/lti/services.php/2/lineitems/5/lineitem/scores",
        match=[responses.matchers.query_param_matcher({"type_id": "1"})],
    )

    course.worker().run(threading.Event(), once=True)

    methods = [(c.request.method, c.request.url) for c in platform_api.calls]
    assert (
        "GET",
        LINE_ITEMS + "?resource_id=pss&tag=hours&resource_link_id=rl-program",
    ) not in methods
    assert course.program_row().state == "sent"


def test_a_link_without_a_grade_service_is_refused_for_a_person_to_see(
    course: Course,
) -> None:
    launched(course, "program", None)
    course.credit(15)
    only_program_link_due(course)

    course.worker().run(threading.Event(), once=True)

    row = course.program_row()
    assert row.state == "failed"
    assert "no grade service" in row.last_error


def test_a_worker_that_lost_its_lease_changes_nothing(course: Course) -> None:
    course.credit(15)
    worker = course.worker()
    claims = worker.claim("old-lease")
    with course.session() as session:
        session.execute(update(ScoreOutbox).values(lease_owner="someone-else"))
        session.commit()

    from lti_tool.services.worker import Delivery

    worker.settle(
        claims, "old-lease", {c.id: Delivery(ok=True, score=1.0) for c in claims}
    )

    assert all(row.lease_owner == "someone-else" for row in course.rows())
    assert all(row.state == "pending" for row in course.rows())


def test_a_crashing_batch_does_not_stop_the_worker(
    course: Course, monkeypatch: pytest.MonkeyPatch
) -> None:
    course.credit(15)
    worker = course.worker()

    def broken(*_: Any) -> Any:
        raise RuntimeError("database went away")

    monkeypatch.setattr(worker, "plan", broken)

    assert worker.run(threading.Event(), once=True) == 0


# What the score says


def score_of(course: Course, target_name: str) -> Any:
    target = find_target(course.app.extensions["catalog"], target_name)
    assert target is not None
    with course.session() as session:
        return compute_score(session, course.learner, target)


def test_progress_follows_the_participants_study(course: Course) -> None:
    assert score_of(course, "pss").activity_progress == "Initialized"
    program = course.app.extensions["catalog"].program("pss")
    activity = program.find_module(PSS_MODULE_ID).activities[0]
    with course.session() as session:
        session.add(
            ActivityProgress(
                user_id=course.learner.user_id,
                context_pk=course.context_pk,
                program_id="pss",
                activity_id=activity.id,
                active_seconds=40,
            )
        )
        session.commit()
    assert score_of(course, "pss").activity_progress == "Started"

    course.credit(activity.minutes)
    program_score = score_of(course, "pss")
    assert program_score.activity_progress == "InProgress"
    assert program_score.comment == (
        f"{activity.minutes // 15 * 15 / 60:g} of 100 hours credited"
    )
    course.credit(program.find_module(PSS_MODULE_ID).planned_minutes)
    module_score = score_of(course, f"pss/{PSS_MODULE_ID}")
    assert module_score.activity_progress == "Completed"
    assert module_score.grading_progress == "FullyGraded"
    assert module_score.score_given == module_score.score_maximum


def test_work_awaiting_review_is_pending_manual(course: Course) -> None:
    program = course.app.extensions["catalog"].program("pss")
    reflection = next(a for a in program.activities() if a.kind == "reflection")
    course.credit(15)
    with course.session() as session:
        session.add(
            Reflection(
                user_id=course.learner.user_id,
                context_pk=course.context_pk,
                program_id="pss",
                program_version=program.version,
                activity_id=reflection.id,
                status="submitted",
            )
        )
        session.commit()

    score = score_of(course, "pss")

    assert score.grading_progress == "PendingManual"
    assert score.activity_progress == "Submitted"
    assert score.comment.endswith("work awaits review")
    assert score_of(course, f"pss/{PSS_MODULE_ID}").grading_progress == (
        "FullyGraded" if reflection.module_id != PSS_MODULE_ID else "PendingManual"
    )
