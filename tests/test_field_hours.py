"""Internship and shadowing logs: entries, readiness, approval and bad input."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from sqlalchemy import select

from lti_tool.models import FieldHours, HoursEntry, WorkEvent
from lti_tool.work.crypto import load_data_cipher
from tests.work_helpers import (  # noqa: F401  (data_key_fixture registers a fixture)
    activity_of,
    count,
    credit_category,
    data_key_fixture,
    form,
    launch,
    ledger_minutes,
    participant_of,
    today,
)

DESCRIPTION = "Sat in on the warm line and watched how the peer opened each call"


@pytest.fixture
def learner(launcher) -> str:  # type: ignore[no-untyped-def]
    return launch(launcher, sub="learner-1")


@pytest.fixture
def coordinator(launcher) -> str:  # type: ignore[no-untyped-def]
    return launch(launcher, coordinator=True, sub="coordinator-1")


@pytest.fixture
def internship(app):  # type: ignore[no-untyped-def]
    return activity_of(app, "pss", "internship", 1)


def entry_fields(activity, **changes):  # type: ignore[no-untyped-def]
    fields = {
        "activity": activity.id,
        "worked_on": (today() - timedelta(days=1)).isoformat(),
        "hours": "3.5",
        "site": "Harbor Wellness Center",
        "supervisor": "R. Gomez",
        "description": DESCRIPTION,
    }
    return {**fields, **changes}


def log(client, app, token, activity, **changes):  # type: ignore[no-untyped-def]
    return client.post(
        f"/work/pss/field-hours?ls={token}",
        data=form(app, token, **entry_fields(activity, **changes)),
    )


def only_entry(engine) -> FieldHours:  # type: ignore[no-untyped-def]
    with engine.connect() as connection:
        return connection.execute(select(FieldHours)).one()  # type: ignore[return-value]


def review(client, app, token, entry, **fields):  # type: ignore[no-untyped-def]
    return client.post(
        f"/work/field-hours/{entry.id}/review",
        data=form(app, token, version=str(entry.version), **fields),
    )


def test_activity_page_links_to_the_log(client, learner, internship):
    page = client.get(f"/study/pss/activities/{internship.id}?ls={learner}")

    assert page.status_code == 200
    assert "Log field hours" in page.text
    assert f"/work/pss/field-hours?activity={internship.id}" in page.text


def test_entry_is_stored_encrypted_and_listed(client, app, learner, internship, engine):
    response = log(client, app, learner, internship)

    assert response.status_code == 303
    entry = only_entry(engine)
    assert (entry.minutes, entry.status, entry.activity_id) == (
        210,
        "submitted",
        internship.id,
    )
    assert DESCRIPTION.encode() not in bytes(entry.description_encrypted)
    listing = client.get(response.headers["Location"])
    assert "Harbor Wellness Center" in listing.text
    assert "Waiting for review" in listing.text
    assert ledger_minutes(engine) == 0


def test_logging_early_warns_and_flags_the_entry(
    client, app, learner, coordinator, internship, engine
):
    page = client.get(f"/work/pss/field-hours?ls={learner}&activity={internship.id}")
    assert "It is recommended to finish 40.0 hours" in page.text

    assert log(client, app, learner, internship).status_code == 303
    assert only_entry(engine).before_readiness is True
    assert "logged early" in client.get(f"/work/review?ls={coordinator}").text


def test_logging_early_is_refused_in_block_mode(
    client, app, learner, internship, engine
):
    app.config["SETTINGS"] = dataclasses.replace(
        app.config["SETTINGS"], field_hours_before_readiness="block"
    )
    response = log(client, app, learner, internship)

    assert response.status_code == 422
    assert "Field hours can be logged once 40 online hours are done" in response.text
    assert count(engine, FieldHours) == 0


def test_logging_after_half_the_online_hours_is_not_flagged(
    client, app, learner, internship, engine
):
    app.config["SETTINGS"] = dataclasses.replace(
        app.config["SETTINGS"], field_hours_before_readiness="block"
    )
    credit_category(engine, app, participant_of(engine, "learner-1"), "pss",
                    "online", 40 * 60)  # fmt: skip

    assert log(client, app, learner, internship).status_code == 303
    assert only_entry(engine).before_readiness is False


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"hours": "-2"}, "must be more than zero"),
        ({"hours": "0"}, "must be more than zero"),
        ({"hours": "abc"}, "Enter the hours as a number"),
        ({"hours": "NaN"}, "Enter the hours as a number"),
        ({"hours": "1e9"}, "Enter the hours as a number"),
        ({"hours": "1E+999999999"}, "Enter the hours as a number"),
        ({"hours": "1E-999999999"}, "Enter the hours as a number"),
        ({"hours": "9" * 5000}, "Enter the hours as a number"),
        ({"hours": "Infinity"}, "Enter the hours as a number"),
        ({"hours": "\u0663"}, "Enter the hours as a number"),
        ({"hours": "1,5"}, "Enter the hours as a number"),
        ({"hours": ""}, "Enter the hours as a number"),
        ({"hours": "999"}, "at most 12 hours"),
        ({"hours": "0.1"}, "at least a quarter hour"),
        ({"hours": "0.0001"}, "at least a quarter hour"),
        ({"hours": "-0.25"}, "must be more than zero"),
        ({"hours": "12.25"}, "at most 12 hours"),
        ({"hours": "1.1"}, "quarter hours"),
        ({"worked_on": "2099-01-01"}, "cannot be in the future"),
        ({"worked_on": "tomorrow"}, "as a date (YYYY-MM-DD)"),
        ({"worked_on": "2001-01-01"}, "more than a year ago"),
        ({"site": "  "}, "Fill in the site"),
        ({"supervisor": ""}, "Fill in the supervisor"),
        ({"description": ""}, "Fill in the description"),
        ({"site": "s" * 201}, "at most 200 characters"),
    ],
)
def test_bad_entries_store_nothing_and_keep_what_was_typed(
    client, app, learner, internship, engine, changes, message
):
    response = log(client, app, learner, internship, **changes)

    assert response.status_code == 422
    assert message in response.text
    assert count(engine, FieldHours) == 0
    assert count(engine, WorkEvent) == 0
    assert DESCRIPTION in response.text or changes.get("description") == ""


def test_future_date_is_refused_relative_to_the_program_day(
    client, app, learner, internship, engine
):
    tomorrow = (today() + timedelta(days=1)).isoformat()
    response = log(client, app, learner, internship, worked_on=tomorrow)

    assert response.status_code == 422
    assert count(engine, FieldHours) == 0


def test_more_than_sixteen_hours_on_one_day_is_refused(
    client, app, learner, internship, engine
):
    assert log(client, app, learner, internship, hours="10").status_code == 303
    response = log(client, app, learner, internship, hours="6.25")

    assert response.status_code == 422
    assert "more than 16 hours logged on" in response.text
    assert count(engine, FieldHours) == 1


def test_approval_credits_the_minutes_once(
    client, app, learner, coordinator, internship, engine
):
    log(client, app, learner, internship)
    entry = only_entry(engine)
    page = client.get(f"/work/field-hours/{entry.id}?ls={coordinator}")
    assert DESCRIPTION in page.text

    approved = review(client, app, coordinator, entry, decision="approve", comment="")
    again = review(client, app, coordinator, entry, decision="approve", comment="")
    assert approved.status_code == 303
    assert "210 minutes credited" in client.get(approved.headers["Location"]).text
    assert again.status_code == 409
    with engine.connect() as connection:
        line = connection.execute(select(HoursEntry)).one()
    assert (line.minutes, line.source, line.category) == (
        210,
        "field_hours_approved",
        "internship",
    )
    assert line.event_key == f"field_hours:{entry.id}"
    assert line.approved_by_user_id == participant_of(engine, "coordinator-1").user_id


def test_returned_entry_can_be_corrected_and_approved(
    client, app, learner, coordinator, internship, engine, keys_dir
):
    log(client, app, learner, internship, hours="2")
    entry = only_entry(engine)
    no_comment = review(client, app, coordinator, entry, decision="return", comment="")
    assert no_comment.status_code == 422
    assert "Say why you return the entry" in no_comment.text

    returned = review(client, app, coordinator, entry, decision="return",
                      comment="The supervisor's full name, please.")  # fmt: skip
    assert returned.status_code == 303
    edit = client.get(f"/work/field-hours/{entry.id}/edit?ls={learner}")
    assert "The supervisor&#39;s full name, please." in edit.text
    corrected = client.post(
        f"/work/field-hours/{entry.id}/edit",
        data=form(app, learner, **entry_fields(internship, supervisor="Rosa Gomez")),
    )
    assert corrected.status_code == 303
    entry = only_entry(engine)
    supervisor = load_data_cipher(keys_dir).decrypt_text(entry.supervisor_encrypted)
    assert (entry.status, supervisor, entry.minutes) == ("submitted", "Rosa Gomez", 210)
    assert review(client, app, coordinator, entry, decision="approve",
                  comment="").status_code == 303  # fmt: skip
    assert ledger_minutes(engine) == 210
    with engine.connect() as connection:
        actions = connection.scalars(select(WorkEvent.action).order_by(WorkEvent.id))
        assert list(actions) == ["submitted", "returned", "submitted", "approved"]


def test_review_of_an_entry_changed_meanwhile_is_refused(
    client, app, learner, coordinator, internship, engine
):
    log(client, app, learner, internship)
    seen = only_entry(engine)
    client.post(
        f"/work/field-hours/{seen.id}/edit",
        data=form(app, learner, **entry_fields(internship, hours="4")),
    )

    response = review(client, app, coordinator, seen, decision="approve", comment="")
    assert response.status_code == 409
    assert ledger_minutes(engine) == 0


def test_bad_correction_keeps_the_stored_entry(
    client, app, learner, internship, engine
):
    log(client, app, learner, internship)
    entry = only_entry(engine)

    response = client.post(
        f"/work/field-hours/{entry.id}/edit",
        data=form(app, learner, **entry_fields(internship, hours="-1")),
    )
    assert response.status_code == 422
    assert only_entry(engine).minutes == 210


def test_approved_entry_cannot_change(
    client, app, learner, coordinator, internship, engine
):
    log(client, app, learner, internship)
    entry = only_entry(engine)
    review(client, app, coordinator, entry, decision="approve", comment="")

    response = client.post(
        f"/work/field-hours/{entry.id}/edit",
        data=form(app, learner, **entry_fields(internship, hours="12")),
    )
    assert response.status_code == 409
    assert only_entry(engine).minutes == 210


def test_tampered_requests_are_refused(
    client, app, launcher, learner, internship, engine
):
    log(client, app, learner, internship)
    entry = only_entry(engine)
    other = launch(launcher, sub="learner-2")
    foreign = launch(launcher, coordinator=True, context="course-2", sub="c-2")
    reading = activity_of(app, "pss", "reading")

    assert client.get(f"/work/field-hours/{entry.id}/edit?ls={other}").status_code == (
        404
    )
    steal = client.post(
        f"/work/field-hours/{entry.id}/edit",
        data=form(app, other, **entry_fields(internship, hours="1")),
    )
    assert steal.status_code == 404
    assert review(client, app, other, entry, decision="approve",
                  comment="").status_code == 403  # fmt: skip
    assert review(client, app, foreign, entry, decision="approve",
                  comment="").status_code == 404  # fmt: skip
    assert log(client, app, learner, reading).status_code == 403
    shadowing = client.post(
        f"/work/pcfm/field-hours?ls={learner}",
        data=form(app, learner, **entry_fields(activity_of(app, "pcfm", "shadowing"))),
    )
    assert shadowing.status_code == 403
    assert count(engine, FieldHours) == 1
    assert only_entry(engine).minutes == 210
    assert ledger_minutes(engine) == 0


def test_tiny_and_huge_hours_in_a_correction_store_nothing(
    client, app, learner, internship, engine
):
    log(client, app, learner, internship)
    entry = only_entry(engine)
    for hours in ("1E+999999999", "1E-999999999", "0.0001"):
        response = client.post(
            f"/work/field-hours/{entry.id}/edit",
            data=form(app, learner, **entry_fields(internship, hours=hours)),
        )
        assert response.status_code == 422, hours
        assert "hours" in response.text
    assert only_entry(engine).minutes == 210
    assert count(engine, WorkEvent) == 1


def test_coordinator_cannot_approve_their_own_entry(
    client, app, coordinator, internship, engine
):
    logged = log(client, app, coordinator, internship, hours="8")
    assert logged.status_code == 303
    entry = only_entry(engine)

    queue = client.get(f"/work/review?ls={coordinator}")
    assert f"/work/field-hours/{entry.id}" not in queue.text
    response = review(client, app, coordinator, entry, decision="approve", comment="")

    assert response.status_code == 403
    assert "cannot review your own work" in response.text
    assert only_entry(engine).status == "submitted"
    assert only_entry(engine).reviewed_by_user_id is None
    assert count(engine, HoursEntry) == 0
    assert count(engine, WorkEvent) == 1


def test_another_coordinator_approves_a_coordinators_entry(
    client, app, launcher, coordinator, internship, engine
):
    log(client, app, coordinator, internship, hours="8")
    entry = only_entry(engine)
    colleague = launch(launcher, coordinator=True, sub="coordinator-2")

    queue = client.get(f"/work/review?ls={colleague}")
    assert f"/work/field-hours/{entry.id}" in queue.text
    response = review(client, app, colleague, entry, decision="approve", comment="")
    assert response.status_code == 303
    assert ledger_minutes(engine) == 480


def test_site_and_supervisor_are_not_stored_in_plain_text(
    client, app, learner, internship, engine
):
    log(client, app, learner, internship)

    with engine.connect() as connection:
        row = connection.execute(
            select(FieldHours.site_encrypted, FieldHours.supervisor_encrypted)
        ).one()
    assert b"Harbor" not in bytes(row.site_encrypted)
    assert b"Gomez" not in bytes(row.supervisor_encrypted)
    page = client.get(f"/work/pss/field-hours?ls={learner}")
    assert "Harbor Wellness Center" in page.text
