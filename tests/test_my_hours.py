"""The My hours page, completion, and the links to work from other pages."""

from __future__ import annotations

from sqlalchemy import select

from lti_tool.models import ProgramCompletion
from tests.work_helpers import (  # noqa: F401  (data_key_fixture registers a fixture)
    activity_of,
    count,
    credit_category,
    data_key_fixture,
    form,
    launch,
    participant_of,
)


def accept_paper(client, app, learner, coordinator, activity, engine) -> None:  # type: ignore[no-untyped-def]
    from lti_tool.models import PaperSubmission

    response = client.post(
        f"/work/pcfm/papers/{activity.id}?ls={learner}",
        data=form(app, learner, text="An outline and a paper."),
    )
    assert response.status_code == 303
    with engine.connect() as connection:
        paper_id = connection.scalar(
            select(PaperSubmission.id).filter_by(
                activity_id=activity.id, status="submitted"
            )
        )
    accepted = client.post(
        f"/work/papers/{paper_id}/review",
        data=form(app, coordinator, decision="accept", feedback=""),
    )
    assert accepted.status_code == 303


def test_new_participant_sees_every_requirement_missing(client, launcher, app):
    learner = launch(launcher, target="pcfm")
    page = client.get(f"/work/pcfm/hours?ls={learner}")

    assert page.status_code == 200
    for label, hours in (
        ("Online study", "23"),
        ("Support groups", "3"),
        ("Shadowing", "12"),
        ("Integrative paper", "2"),
    ):
        assert f'{label} <span class="meta">· 0.0 of {hours}.0 h' in page.text
        assert f"{label}: {hours}.0 h" in page.text
    program = app.extensions["catalog"].program("pcfm")
    assert page.text.count("<progress") == len(program.requirements) + len(
        program.competencies
    )
    assert "No hours credited yet." in page.text


def test_ledger_and_bars_show_credited_hours(client, launcher, app, engine):
    learner = launch(launcher, target="pcfm", sub="p1")
    credit_category(engine, app, participant_of(engine, "p1"), "pcfm", "online", 690)

    page = client.get(f"/work/pcfm/hours?ls={learner}")
    assert 'Online study <span class="meta">· 11.5 of 23.0 h' in page.text
    assert 'value="50" aria-label="Online study"' in page.text
    assert "Correction by a coordinator" in page.text
    assert '<td class="number">690</td>' in page.text
    assert "Online study: 11.5 h" in page.text


def test_participants_see_only_their_own_ledger(client, launcher, app, engine):
    launch(launcher, target="pcfm", sub="p1")
    other = launch(launcher, target="pcfm", sub="p2")
    credit_category(engine, app, participant_of(engine, "p1"), "pcfm", "online", 95)

    page = client.get(f"/work/pcfm/hours?ls={other}")
    assert "No hours credited yet." in page.text
    assert '<td class="number">95</td>' not in page.text


def test_completion_is_recorded_when_the_last_requirement_is_met(
    client, launcher, app, engine
):
    learner = launch(launcher, target="pcfm", sub="p1")
    coordinator = launch(launcher, coordinator=True, target="pcfm", sub="co")
    who = participant_of(engine, "p1")
    for category, minutes in (("online", 1380), ("support_group", 180),
                              ("shadowing", 720)):  # fmt: skip
        credit_category(engine, app, who, "pcfm", category, minutes)
    outline, paper = (activity_of(app, "pcfm", "paper", n) for n in (0, 1))

    accept_paper(client, app, learner, coordinator, outline, engine)
    assert count(engine, ProgramCompletion) == 0
    accept_paper(client, app, learner, coordinator, paper, engine)

    assert count(engine, ProgramCompletion, user_id=who.user_id) == 1
    page = client.get(f"/work/pcfm/hours?ls={learner}")
    assert "You completed every requirement of this program on" in page.text
    assert "Nothing – every requirement is met." in page.text
    assert page.text.count('value="100" aria-label=') >= 4


def test_program_page_links_to_hours_and_coordinator_pages(client, launcher):
    learner = launch(launcher, target="pcfm")
    coordinator = launch(launcher, coordinator=True, target="pcfm")

    learner_home = client.get(f"/program?ls={learner}")
    coordinator_home = client.get(f"/program?ls={coordinator}")
    assert f'href="/work/pcfm/hours?ls={learner}">My hours' in learner_home.text
    assert "Review queue" not in learner_home.text
    assert "Record a support group session" not in learner_home.text
    assert f'href="/work/review?ls={coordinator}">Review queue' in (
        coordinator_home.text
    )
    assert "Record a support group session" in coordinator_home.text


def test_hours_page_of_another_program_is_refused(client, launcher):
    learner = launch(launcher, target="pcfm")
    assert client.get(f"/work/pss/hours?ls={learner}").status_code == 403
    assert client.get("/work/pcfm/hours").status_code == 401
