"""Deep linking, grades and rosters between the tool and the sandbox LMS over HTTP."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jwt
import pytest
import requests
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from lti_tool.hours.ledger import Participant, credit_activity
from lti_tool.hours.rules import CreditRules, Source
from lti_tool.models import (
    LineItem,
    Membership,
    ResourceLink,
    ScoreOutbox,
    User,
)
from lti_tool.sandbox import PSS_MODULE_ID
from lti_tool.sandbox.demo import find_person
from lti_tool.sandbox.roster import roster_sub
from lti_tool.services.ags import SCORE_MEDIA, AgsScope
from lti_tool.services.nrps import NRPS_SCOPE
from lti_tool.services.token import AccessTokens, ServiceAccount
from lti_tool.services.worker import ScoreWorker, WorkerOptions
from tests.services_live import Person, Services, forms_of, tool_and_sandbox

LEARNER = find_person("learner")
assert LEARNER is not None
TIMESTAMP_WITH_MS_AND_ZONE = re.compile(
    r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00$"
)


@pytest.fixture
def services(database_url: str, keys_dir: Path, tmp_path: Path) -> Iterator[Services]:
    with tool_and_sandbox(database_url, keys_dir, tmp_path) as running:
        yield running


def tokens_of(services: Services) -> AccessTokens:
    extensions = services.tool_app.extensions
    return AccessTokens(extensions["store"], extensions["http"], extensions["key_ring"])


def deliver(services: Services) -> int:
    """One worker pass over everything due, in this process."""
    extensions = services.tool_app.extensions
    worker = ScoreWorker(
        extensions["db_engine"],
        extensions["store"],
        tokens_of(services),
        extensions["http"],
        extensions["catalog"],
        WorkerOptions(concurrency=2, backoff_base_seconds=0.01),
    )
    return worker.run(threading.Event(), once=True)


def credit(services: Services, engine: Engine, sub: str, module_id: str, minutes: int):
    """Credit study minutes to a person's first activities of a PSS module."""
    program = services.tool_app.extensions["catalog"].program("pss")
    module = program.find_module(module_id)
    with Session(engine) as session:
        user = session.scalars(select(User).where(User.sub == sub)).one()
        membership = session.scalars(
            select(Membership).where(Membership.user_id == user.id)
        ).first()
        who = Participant(user.id, membership.context_pk)
        remaining = minutes
        for activity in module.activities:
            if remaining <= 0:
                break
            credited = credit_activity(
                session,
                CreditRules(daily_cap_minutes=10_000),
                who,
                program,
                activity,
                min(remaining, activity.minutes),
                Source.TRACKED_STUDY,
            )
            remaining -= credited
        session.commit()
    return who


def column_for(services: Services, course: str, resource_id: str) -> Any:
    (column,) = [
        c for c in services.book.columns(course) if c.resource_id == resource_id
    ]
    return column


# Tokens


def test_token_endpoint_accepts_our_assertion_once_per_scope_set(services, engine):
    tokens = tokens_of(services)
    with Session(engine) as session:
        account = ServiceAccount.of(_registration(session, services))
    ags = [str(AgsScope.SCORE), str(AgsScope.LINE_ITEM)]

    first = tokens.get(account, ags)
    again = tokens.get(account, list(reversed(ags)))
    roster = tokens.get(account, [NRPS_SCOPE])

    assert first == again
    assert roster != first
    assert services.book.counters["tokens_issued"] == 2
    assert services.book.token(first).scopes == frozenset(ags)


def test_token_endpoint_refuses_a_replayed_or_misaddressed_assertion(services, engine):
    tokens = tokens_of(services)
    with Session(engine) as session:
        account = ServiceAccount.of(_registration(session, services))
    assertion = tokens.client_assertion(account)
    form = {
        "grant_type": "client_credentials",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:"
        "jwt-bearer",
        "client_assertion": assertion,
        "scope": str(AgsScope.SCORE),
    }
    url = services.sandbox_url + "/token"

    assert requests.post(url, data=form, timeout=10).status_code == 200
    replay = requests.post(url, data=form, timeout=10)
    wrong_audience = requests.post(
        url,
        data={
            **form,
            "client_assertion": tokens.client_assertion(
                ServiceAccount(account.registration_id, account.client_id, url, "x")
            ),
        },
        timeout=10,
    )

    assert replay.status_code == 400
    assert "jti" in replay.json()["error_description"]
    assert wrong_audience.status_code == 400
    assert "aud" in wrong_audience.json()["error_description"]


def _registration(session: Session, services: Services) -> Any:
    from lti_tool.registrations import find_registration

    return find_registration(
        session, services.sandbox.issuer, services.sandbox.client_id
    )


# Grades


def test_learner_hours_reach_the_grade_book_and_update(services, engine):
    learner = Person(services, "learner")
    assert learner.launch("pss-cohort", "pss-program").status_code == 303
    credit(services, engine, LEARNER.sub, PSS_MODULE_ID, 50)

    assert deliver(services) == 1
    column = column_for(services, "pss-cohort", "pss")
    first = services.book.result(column.id, LEARNER.sub)
    credit(services, engine, LEARNER.sub, PSS_MODULE_ID, 40)
    assert deliver(services) == 1
    latest = services.book.result(column.id, LEARNER.sub)

    assert (column.tag, column.score_maximum, column.label) == (
        "hours",
        100.0,
        "Medi-Cal Peer Support Specialist Training",
    )
    assert first.history[0][1] == 0.75
    assert latest.score_given == 1.5
    assert latest.score_maximum == 100.0
    assert (latest.activity_progress, latest.grading_progress) == (
        "InProgress",
        "FullyGraded",
    )
    assert latest.comment == "1.5 of 100 hours credited"
    assert [given for _, given in latest.history] == [0.75, 1.5]
    assert latest.history[0][0] < latest.history[1][0]
    with Session(engine) as session:
        (row,) = session.scalars(select(ScoreOutbox))
        # Three ledger lines, two deliveries: each sent the latest value.
        assert (row.state, row.sent_score) == ("sent", 1.5)
        assert row.sent_version == row.due_version == 3
    page = requests.get(
        f"{services.sandbox_url}/courses/pss-cohort/grades",
        params={"user": "coordinator"},
        timeout=10,
    )
    assert "1.5 / 100.0" in page.text
    assert "InProgress, FullyGraded" in page.text


def test_module_link_scores_module_hours_in_its_own_column(services, engine):
    learner = Person(services, "learner")
    learner.launch("pss-cohort", "pss-program")
    learner.launch("pss-cohort", "pss-module")
    credit(services, engine, LEARNER.sub, PSS_MODULE_ID, 30)

    assert deliver(services) == 2

    module_column = column_for(services, "pss-cohort", f"pss/{PSS_MODULE_ID}")
    program = services.tool_app.extensions["catalog"].program("pss")
    planned = program.find_module(PSS_MODULE_ID).planned_minutes
    result = services.book.result(module_column.id, LEARNER.sub)
    assert module_column.score_maximum == round(planned / 60, 2)
    assert result.score_given == 0.5
    assert len(services.book.columns("pss-cohort")) == 2


def test_a_lost_line_item_row_is_found_again_not_duplicated(services, engine):
    Person(services, "learner").launch("pss-cohort", "pss-program")
    credit(services, engine, LEARNER.sub, PSS_MODULE_ID, 15)
    deliver(services)
    with Session(engine) as session:
        (stored,) = session.scalars(select(LineItem))
        url = stored.line_item_url
        session.delete(stored)
        session.commit()

    credit(services, engine, LEARNER.sub, PSS_MODULE_ID, 15)
    deliver(services)

    assert len(services.book.columns("pss-cohort")) == 1
    assert services.book.counters["line_items_created"] == 1
    with Session(engine) as session:
        (found,) = session.scalars(select(LineItem))
    assert found.line_item_url == url


def test_a_deleted_column_is_recreated_and_scored(services, engine):
    Person(services, "learner").launch("pss-cohort", "pss-program")
    credit(services, engine, LEARNER.sub, PSS_MODULE_ID, 15)
    deliver(services)
    services.book.delete_column(column_for(services, "pss-cohort", "pss").id)

    credit(services, engine, LEARNER.sub, PSS_MODULE_ID, 15)
    deliver(services)

    column = column_for(services, "pss-cohort", "pss")
    assert services.book.result(column.id, LEARNER.sub).score_given == 0.5


def test_revoked_token_is_replaced_once_and_the_score_lands(services, engine):
    Person(services, "learner").launch("pss-cohort", "pss-program")
    credit(services, engine, LEARNER.sub, PSS_MODULE_ID, 15)
    deliver(services)
    services.book.revoke_tokens()

    credit(services, engine, LEARNER.sub, PSS_MODULE_ID, 15)
    deliver(services)

    column = column_for(services, "pss-cohort", "pss")
    assert services.book.result(column.id, LEARNER.sub).score_given == 0.5
    assert services.book.counters["tokens_issued"] == 2


def test_refused_score_is_kept_with_the_platform_answer_and_retried(services, engine):
    coordinator = Person(services, "coordinator")
    coordinator.launch("pss-cohort", "pss-program")
    Person(services, "learner").launch("pss-cohort", "pss-program")
    with Session(engine) as session:
        # The platform dropped this learner from the course meanwhile.
        session.execute(update(User).where(User.sub == LEARNER.sub).values(sub="gone"))
        session.commit()
    credit(services, engine, "gone", PSS_MODULE_ID, 15)

    deliver(services)
    landing = coordinator.launch("pss-cohort", "pss-program")
    roster_page = coordinator.get(
        services.tool_url + "/roster",
        params={"ls": _session_token(landing)},
    )
    with Session(engine) as session:
        (row,) = session.scalars(select(ScoreOutbox))
    (retry_form,) = [f for f in forms_of(roster_page) if "/roster/retry" in f.action]
    coordinator.post(retry_form.action, data=retry_form.fields)
    with Session(engine) as session:
        (retried,) = session.scalars(select(ScoreOutbox))

    assert (row.state, row.last_status) == ("failed", 422)
    assert "not a student" in row.last_error
    assert "Bearer" not in row.last_error
    assert "not a student" in roster_page.text
    assert (retried.state, retried.attempts) == ("pending", 0)


def _session_token(landing: requests.Response) -> str:
    location = landing.headers["Location"]
    return dict(part.split("=", 1) for part in urlsplit(location).query.split("&"))[
        "ls"
    ]


# Sandbox strictness, as a platform would answer our mistakes


def test_sandbox_refuses_scores_a_strict_platform_would(services, engine):
    learner = Person(services, "learner")
    learner.launch("pss-cohort", "pss-program")
    credit(services, engine, LEARNER.sub, PSS_MODULE_ID, 15)
    deliver(services)
    column = column_for(services, "pss-cohort", "pss")
    with Session(engine) as session:
        account = ServiceAccount.of(_registration(session, services))
    token = tokens_of(services).get(account, [str(AgsScope.SCORE)])
    url = f"{services.sandbox_url}/api/courses/pss-cohort/lineitems/{column.id}/scores"
    good = {
        "userId": LEARNER.sub,
        "scoreGiven": 1,
        "scoreMaximum": 100,
        "activityProgress": "InProgress",
        "gradingProgress": "FullyGraded",
        "timestamp": "2020-01-01T00:00:00.000+00:00",
    }

    def post(body: dict[str, Any], media: str = SCORE_MEDIA) -> requests.Response:
        return requests.post(
            url,
            json=body,
            headers={"Authorization": f"Bearer {token}", "Content-Type": media},
            timeout=10,
        )

    assert post(good, "application/json").status_code == 415
    assert post(good).status_code == 400  # older than the stored result
    no_maximum = {**good, "timestamp": "2099-01-01T00:00:00.000Z"}
    del no_maximum["scoreMaximum"]
    assert post(no_maximum).status_code == 422
    no_zone = {**good, "timestamp": "2099-01-01T00:00:00.000"}
    assert post(no_zone).status_code == 400
    teacher = {**good, "userId": find_person("coordinator").sub}
    assert post({**teacher, "timestamp": "2099-01-01T00:00:00Z"}).status_code == 422


# Deep linking


def test_deep_linking_places_several_items_with_line_items(services, engine):
    coordinator = Person(services, "coordinator")
    landing = coordinator.add_content("pss-cohort", style="moodle")
    assert landing.status_code == 303
    assert urlsplit(landing.headers["Location"]).path == "/deep-linking"
    picker = coordinator.follow(landing)
    assert picker.status_code == 200
    assert 'type="checkbox"' in picker.text
    (form,) = forms_of(picker)

    answer = coordinator.post(
        form.action,
        data={**form.fields, "target": ["pss", f"pss/{PSS_MODULE_ID}"]},
    )
    assert answer.status_code == 200, answer.text
    (return_form,) = forms_of(answer)
    assert return_form.action.startswith(services.sandbox_url)
    header = jwt.get_unverified_header(return_form.fields["JWT"])
    done = coordinator.post(return_form.action, data=return_form.fields)

    assert done.status_code == 200, done.text
    assert header["kid"] == services.tool_app.extensions["key_ring"].current().kid
    added = services.book.links(_course("pss-cohort"))[-2:]
    assert [link.custom_target for link in added] == ["pss", f"pss/{PSS_MODULE_ID}"]
    columns = {c.resource_id: c for c in services.book.columns("pss-cohort")}
    assert set(columns) == {"pss", f"pss/{PSS_MODULE_ID}"}
    assert columns["pss"].tag == "hours"
    assert columns["pss"].score_maximum == 100
    assert columns["pss"].resource_link_id == added[0].resource_link_id


def test_a_deep_linked_link_is_scored_in_the_column_it_came_with(services, engine):
    _deep_link(services, "pss-cohort", "canvas", ["pss"])
    (added,) = services.book.links(_course("pss-cohort"))[-1:]
    learner = Person(services, "learner")

    landing = learner.launch("pss-cohort", added.link_id)
    credit(services, engine, LEARNER.sub, PSS_MODULE_ID, 30)
    deliver(services)

    assert landing.status_code == 303
    assert urlsplit(landing.headers["Location"]).path == "/program"
    assert added.custom_target is None  # Canvas style: only the URL's query
    (column,) = services.book.columns("pss-cohort")
    assert column.resource_link_id == added.resource_link_id
    assert services.book.result(column.id, LEARNER.sub).score_given == 0.5
    assert services.book.counters["line_items_created"] == 0
    with Session(engine) as session:
        link = session.scalars(
            select(ResourceLink).where(
                ResourceLink.resource_link_id == added.resource_link_id
            )
        ).one()
        assert link.target == "pss"


def test_canvas_style_picker_offers_one_choice_and_refuses_two(services):
    coordinator = Person(services, "coordinator")
    picker = coordinator.follow(coordinator.add_content("pss-cohort", style="canvas"))
    (form,) = forms_of(picker)

    refused = coordinator.post(
        form.action, data={**form.fields, "target": ["pss", "pcfm"]}
    )

    assert 'type="radio"' in picker.text
    assert refused.status_code == 403


def test_learner_cannot_open_the_picker(services):
    learner = Person(services, "learner")

    page = learner.follow(learner.add_content("pss-cohort"))

    assert page.status_code == 403


def _deep_link(
    services: Services, course: str, style: str, targets: list[str]
) -> requests.Response:
    coordinator = Person(services, "coordinator")
    picker = coordinator.follow(coordinator.add_content(course, style=style))
    (form,) = forms_of(picker)
    answer = coordinator.post(form.action, data={**form.fields, "target": targets})
    (return_form,) = forms_of(answer)
    done = coordinator.post(return_form.action, data=return_form.fields)
    assert done.status_code == 200, done.text
    return done


def _course(course_id: str) -> Any:
    from lti_tool.sandbox.demo import find_course

    return find_course(course_id)


# Rosters


def test_roster_lists_every_member_over_all_pages_with_progress(services, engine):
    Person(services, "learner").launch("pss-cohort", "pss-program")
    credit(services, engine, LEARNER.sub, PSS_MODULE_ID, 45)
    coordinator = Person(services, "coordinator")
    landing = coordinator.launch("pss-cohort", "pss-program")
    home = coordinator.follow(landing)

    page = coordinator.get(
        services.tool_url + "/roster", params={"ls": _session_token(landing)}
    )

    assert f'href="/roster?ls={_session_token(landing)}"' in home.text
    assert page.status_code == 200, page.text
    for number in range(1, services.sandbox.roster_size + 1):
        assert f"Learner {number:04d}" in page.text
    rows = re.findall(r"<tr>\s*<th scope=\"row\">(.*?)</tr>", page.text, re.S)
    assert len(rows) == 2 + services.sandbox.roster_size
    alex = next(row for row in rows if row.startswith("Alex Rivera"))
    assert "0.75 of 100" in alex
    assert "In progress" in alex
    never = next(row for row in rows if row.startswith("Learner 0001"))
    assert "not yet" in never
    assert services.sandbox.members_page_size < len(rows)


def test_learner_cannot_see_the_roster(services):
    learner = Person(services, "learner")
    landing = learner.launch("pss-cohort", "pss-program")
    home = learner.follow(landing)

    page = learner.get(
        services.tool_url + "/roster", params={"ls": _session_token(landing)}
    )

    assert "/roster" not in home.text
    assert page.status_code == 403


def test_extra_roster_learners_have_stable_subs(services):
    members = services.book.roster("pss-cohort")

    assert members[-1].sub == roster_sub(
        services.sandbox, "pss-cohort", services.sandbox.roster_size
    )
