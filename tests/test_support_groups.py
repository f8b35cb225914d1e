"""Support-group sessions: recording, attendance credit, bad input, tampering."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from lti_tool.models import (
    HoursEntry,
    SupportGroupAttendance,
    SupportGroupSession,
)
from tests.work_helpers import (  # noqa: F401  (data_key_fixture registers a fixture)
    activity_of,
    count,
    data_key_fixture,
    form,
    launch,
    ledger_minutes,
    participant_of,
    today,
)


@pytest.fixture
def people(launcher):  # type: ignore[no-untyped-def]
    """A PCFM course with a coordinator and two participants."""
    return {
        "coordinator": launch(launcher, coordinator=True, target="pcfm", sub="co"),
        "sam": launch(launcher, target="pcfm", sub="sam", name="Sam Ortiz"),
        "kim": launch(launcher, target="pcfm", sub="kim", name="Kim Tran"),
    }


def session_fields(activity, **changes):  # type: ignore[no-untyped-def]
    fields = {
        "activity": activity.id,
        "held_on": (today() - timedelta(days=2)).isoformat(),
        "topic": "Carrying hope",
        "minutes": "60",
    }
    return {**fields, **changes}


def record(client, app, token, activity, attended=(), program="pcfm", **changes):  # type: ignore[no-untyped-def]
    data = form(app, token, **session_fields(activity, **changes))
    data["attended"] = [str(user_id) for user_id, _ in attended]
    for user_id, minutes in attended:
        data[f"minutes-{user_id}"] = minutes
    return client.post(f"/work/{program}/support-groups?ls={token}", data=data)


def test_coordinator_records_a_session_and_attendance_credits_hours(
    client, app, engine, people
):
    circle = activity_of(app, "pcfm", "support_group")
    sam, kim = participant_of(engine, "sam"), participant_of(engine, "kim")
    page = client.get(f"/work/pcfm/support-groups?ls={people['coordinator']}")
    assert page.status_code == 200
    assert "Sam Ortiz" in page.text and "Kim Tran" in page.text

    response = record(client, app, people["coordinator"], circle,
                      attended=[(sam.user_id, ""), (kim.user_id, "45")])  # fmt: skip
    assert response.status_code == 303
    detail = client.get(response.headers["Location"])
    assert "Sam Ortiz – 60 minutes" in detail.text
    assert "Kim Tran – 45 minutes" in detail.text
    assert ledger_minutes(engine, user_id=sam.user_id) == 60
    assert ledger_minutes(engine, user_id=kim.user_id) == 45
    with engine.connect() as connection:
        lines = connection.execute(select(HoursEntry)).all()
    assert {line.category for line in lines} == {"support_group"}
    assert {line.source for line in lines} == {"support_group_attended"}
    assert all(line.event_key.startswith("attendance:") for line in lines)


def test_learner_sees_attendance_on_the_activity_page(client, app, engine, people):
    circle = activity_of(app, "pcfm", "support_group")
    sam = participant_of(engine, "sam")
    record(client, app, people["coordinator"], circle, attended=[(sam.user_id, "50")])

    page = client.get(f"/study/pcfm/activities/{circle.id}?ls={people['sam']}")
    assert "Carrying hope · 50 of 60 minutes present" in page.text
    assert "Record a support group session" not in page.text
    coordinator_page = client.get(
        f"/study/pcfm/activities/{circle.id}?ls={people['coordinator']}"
    )
    assert "Record a support group session" in coordinator_page.text


def test_pss_support_circles_count_as_online_hours(client, app, engine, launcher):
    coordinator = launch(launcher, coordinator=True, sub="co")
    launch(launcher, sub="pat")
    pat = participant_of(engine, "pat")
    circle = activity_of(app, "pss", "support_group")

    response = record(client, app, coordinator, circle, program="pss",
                      attended=[(pat.user_id, "60")])  # fmt: skip
    assert response.status_code == 303
    with engine.connect() as connection:
        line = connection.execute(select(HoursEntry)).one()
    assert (line.category, line.minutes) == ("online", 60)


def test_later_attendance_is_added_and_never_twice(client, app, engine, people):
    circle = activity_of(app, "pcfm", "support_group")
    sam, kim = participant_of(engine, "sam"), participant_of(engine, "kim")
    record(client, app, people["coordinator"], circle, attended=[(sam.user_id, "")])
    (group_id,) = [g.id for g in _sessions(engine)]

    added = client.post(
        f"/work/support-groups/{group_id}/attendance",
        data={
            **form(app, people["coordinator"]),
            "attended": [str(kim.user_id)],
            f"minutes-{kim.user_id}": "30",
        },
    )
    twice = client.post(
        f"/work/support-groups/{group_id}/attendance",
        data={**form(app, people["coordinator"]), "attended": [str(sam.user_id)]},
    )
    nobody = client.post(
        f"/work/support-groups/{group_id}/attendance",
        data=form(app, people["coordinator"]),
    )
    assert added.status_code == 303
    assert twice.status_code == 422
    assert "already in" in twice.text
    assert nobody.status_code == 422
    assert "Tick at least one participant" in nobody.text
    assert count(engine, SupportGroupAttendance) == 2
    assert ledger_minutes(engine) == 90


def _sessions(engine):  # type: ignore[no-untyped-def]
    with engine.connect() as connection:
        return connection.execute(select(SupportGroupSession)).all()


@pytest.mark.parametrize(
    ("changes", "minutes_present", "message"),
    [
        ({"held_on": "2099-05-01"}, "", "cannot be in the future"),
        ({"held_on": "last week"}, "", "as a date (YYYY-MM-DD)"),
        ({"topic": "   "}, "", "Fill in the topic"),
        ({"minutes": "0"}, "", "between 15 and 240 minutes"),
        ({"minutes": "-60"}, "", "between 15 and 240 minutes"),
        ({"minutes": "9999"}, "", "between 15 and 240 minutes"),
        ({"minutes": "an hour"}, "", "as whole minutes"),
        ({}, "61", "between 1 and 60 minutes"),
        ({}, "0", "between 1 and 60 minutes"),
        ({}, "-5", "between 1 and 60 minutes"),
        ({"minutes": ""}, "", "as whole minutes"),
        ({"minutes": "60.5"}, "", "as whole minutes"),
        ({"minutes": "6e1"}, "", "as whole minutes"),
        ({"minutes": "1E+999999999"}, "", "as whole minutes"),
        ({"minutes": "9" * 5000}, "", "as whole minutes"),
        ({"minutes": "1_0"}, "", "as whole minutes"),
        ({"minutes": "\u0666\u0660"}, "", "as whole minutes"),
        ({"minutes": "999999999"}, "", "between 15 and 240 minutes"),
        ({"minutes": "99999999999999999999"}, "", "as whole minutes"),
        ({}, "  ", "as whole minutes"),
        ({}, "1e1", "as whole minutes"),
        ({}, "NaN", "as whole minutes"),
        ({}, "9" * 5000, "as whole minutes"),
        ({}, "30.5", "as whole minutes"),
    ],
)
def test_bad_sessions_store_nothing(
    client, app, engine, people, changes, minutes_present, message
):
    circle = activity_of(app, "pcfm", "support_group")
    sam = participant_of(engine, "sam")

    response = record(client, app, people["coordinator"], circle,
                      attended=[(sam.user_id, minutes_present)], **changes)  # fmt: skip
    assert response.status_code == 422
    assert message in response.text
    assert count(engine, SupportGroupSession) == 0
    assert count(engine, SupportGroupAttendance) == 0
    assert ledger_minutes(engine) == 0


def test_tampered_attendance_is_refused(client, app, engine, launcher, people):
    circle = activity_of(app, "pcfm", "support_group")
    launch(launcher, target="pcfm", context="course-2", sub="outsider")
    outsider = participant_of(engine, "outsider", context="course-2")
    coordinator = participant_of(engine, "co")

    foreign = record(client, app, people["coordinator"], circle,
                     attended=[(outsider.user_id, "")])  # fmt: skip
    self_credit = record(client, app, people["coordinator"], circle,
                         attended=[(coordinator.user_id, "")])  # fmt: skip
    garbage = client.post(
        f"/work/pcfm/support-groups?ls={people['coordinator']}",
        data={**form(app, people["coordinator"], **session_fields(circle)),
              "attended": ["1 OR 1=1"]},
    )  # fmt: skip
    reading = record(client, app, people["coordinator"],
                     activity_of(app, "pcfm", "reading"))  # fmt: skip
    assert foreign.status_code == 403
    assert self_credit.status_code == 403
    assert garbage.status_code == 403
    assert reading.status_code == 403
    assert count(engine, SupportGroupSession) == 0
    assert ledger_minutes(engine) == 0


def test_only_coordinators_of_the_course_record_sessions(
    client, app, engine, launcher, people
):
    circle = activity_of(app, "pcfm", "support_group")
    sam = participant_of(engine, "sam")
    by_learner = record(client, app, people["sam"], circle,
                        attended=[(sam.user_id, "")])  # fmt: skip
    assert by_learner.status_code == 403
    assert client.get(
        f"/work/pcfm/support-groups?ls={people['sam']}"
    ).status_code == 403  # fmt: skip

    record(client, app, people["coordinator"], circle, attended=[(sam.user_id, "")])
    (group_id,) = [g.id for g in _sessions(engine)]
    foreign = launch(launcher, coordinator=True, target="pcfm", context="course-2")
    assert client.get(f"/work/support-groups/{group_id}?ls={foreign}").status_code == (
        404
    )
    wrong_program = record(client, app, people["coordinator"], circle, program="pss")
    assert wrong_program.status_code == 403
    assert ledger_minutes(engine) == 60


@pytest.mark.parametrize(
    "minutes", ["0", "-5", "61", "1e1", "", "9" * 5000, "\u0663\u0660", "x"]
)
def test_bad_later_attendance_stores_nothing(client, app, engine, people, minutes):
    circle = activity_of(app, "pcfm", "support_group")
    sam, kim = participant_of(engine, "sam"), participant_of(engine, "kim")
    record(client, app, people["coordinator"], circle, attended=[(sam.user_id, "")])
    (group_id,) = [g.id for g in _sessions(engine)]
    token = people["coordinator"]
    data = form(app, token, attended=[str(kim.user_id)])
    data[f"minutes-{kim.user_id}"] = minutes or " "

    response = client.post(f"/work/support-groups/{group_id}/attendance", data=data)
    assert response.status_code == 422
    assert "minutes" in response.text
    assert count(engine, SupportGroupAttendance) == 1
    assert ledger_minutes(engine) == 60


def test_attendance_is_never_recorded_for_the_recorder(engine, app):
    """Even a recorder on the roster (a learner membership) is refused."""
    from sqlalchemy.orm import Session

    from lti_tool.hours.rules import CreditRules
    from lti_tool.work.errors import WorkRejected
    from lti_tool.work.support_groups import SessionForm, record_session

    circle = activity_of(app, "pcfm", "support_group")
    program = app.extensions["catalog"].program("pcfm")
    with Session(engine) as session:
        with pytest.raises(WorkRejected, match="your own attendance"):
            record_session(
                session,
                CreditRules(),
                program,
                circle,
                context_pk=1,
                recorder_id=7,
                form=SessionForm(
                    held_on=(today() - timedelta(days=1)).isoformat(),
                    topic="Carrying hope",
                    minutes="60",
                ),
                attendance={7: ""},
            )
        session.rollback()
    assert count(engine, SupportGroupSession) == 0
