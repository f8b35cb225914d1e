"""What a launch writes: users, contexts, links, memberships and sessions."""

from __future__ import annotations

import threading

from sqlalchemy import func, select

from lti_tool.models import (
    Context,
    LaunchSession,
    Membership,
    ResourceLink,
    User,
)
from tests.conftest import Launcher
from tests.platform import INSTRUCTOR, LTI


def _count(engine, model) -> int:  # type: ignore[no-untyped-def]
    with engine.connect() as connection:
        return int(connection.scalar(select(func.count()).select_from(model)) or 0)


def _one(engine, column):  # type: ignore[no-untyped-def]
    with engine.connect() as connection:
        return connection.execute(select(column)).scalar_one()


def test_a_later_launch_updates_the_name_and_role_of_the_same_person(launcher, engine):
    assert launcher.launch_as(sub="person-1").status_code == 303
    again = launcher.launch_as(
        sub="person-1", name="Alex R. Rivera", **{LTI + "roles": [INSTRUCTOR]}
    )

    assert again.status_code == 303
    assert _count(engine, User) == 1
    assert _count(engine, Membership) == 1
    assert _count(engine, LaunchSession) == 2
    assert _one(engine, User.name) == "Alex R. Rivera"
    assert _one(engine, Membership.role) == "coordinator"


def test_given_and_family_names_make_the_name_when_there_is_none(launcher, engine):
    launcher.launch_as(name=None, given_name="Sam", family_name="Lee")

    assert _one(engine, User.name) == "Sam Lee"


def test_a_launch_without_course_titles_keeps_the_known_ones(launcher, engine):
    launcher.launch_as()
    launcher.launch_as(**{LTI + "context": {"id": "course-1"}})
    assert _one(engine, Context.title) == "PSS Cohort"
    assert _one(engine, Context.label) == "PSS"

    launcher.launch_as(**{LTI + "context": {"id": "course-1", "title": "Spring"}})
    assert _one(engine, Context.title) == "Spring"
    assert _one(engine, Context.label) == "PSS"
    assert _count(engine, Context) == 1


def test_long_titles_and_names_are_cut_to_their_columns(launcher, engine):
    response = launcher.launch_as(
        name="N" * 400,
        **{
            LTI + "context": {"id": "course-1", "title": "T" * 400, "label": "L" * 300},
            LTI + "resource_link": {"id": "link-1", "title": "R" * 400},
        },
    )

    assert response.status_code == 303
    assert len(_one(engine, User.name)) == 255
    assert len(_one(engine, Context.title)) == 255
    assert len(_one(engine, ResourceLink.title)) == 255


def test_the_link_remembers_its_target_until_another_known_one_comes(launcher, engine):
    launcher.launch_as()
    assert _one(engine, ResourceLink.target) == "pss"

    # No target in the launch: the stored one stays.
    launcher.launch_as(**{LTI + "custom": None})
    assert _one(engine, ResourceLink.target) == "pss"

    # An unknown target is not stored.
    launcher.launch_as(**{LTI + "custom": {"target": "no-such-program"}})
    assert _one(engine, ResourceLink.target) == "pss"

    launcher.launch_as(**{LTI + "custom": {"target": "pcfm"}})
    assert _one(engine, ResourceLink.target) == "pcfm"
    assert _count(engine, ResourceLink) == 1


def test_a_launch_without_a_course_gets_the_deployments_own_context(launcher, engine):
    response = launcher.launch_as(**{LTI + "context": None})

    assert response.status_code == 303
    assert _one(engine, Context.context_id) == "deployment:deployment-1"


def test_the_session_carries_the_launch_ids_and_service_claims(launcher, engine):
    ags = {"lineitems": "https://lms.example.edu/lineitems", "scope": []}
    launcher.launch_as(
        **{LTI.replace("lti/claim/", "lti-ags/claim/") + "endpoint": ags}
    )

    with engine.connect() as connection:
        session = connection.execute(select(LaunchSession)).one()
        link_pk = connection.scalar(select(ResourceLink.id))
        user_pk = connection.scalar(select(User.id))
    assert session.resource_link_pk == link_pk
    assert session.user_id == user_pk
    assert session.role == "learner"
    assert session.claims["ags"] == ags
    assert session.claims["message_type"] == "LtiResourceLinkRequest"


def test_a_cohort_opening_a_new_course_at_once_writes_each_row_once(
    launcher, app, engine
):
    # Eight learners and one of them in a second tab, all at the same moment.
    learners = [f"learner-{index}" for index in range(8)] + ["learner-0"]
    prepared = []
    for sub in learners:
        own = Launcher(app.test_client(), launcher.platform)
        login = own.login()
        claims = own.platform.claims(login.nonce, sub=sub)
        prepared.append((own, own.platform.sign(claims), login.state))
    statuses: list[int] = []
    barrier = threading.Barrier(len(prepared))

    def launch(own: Launcher, token: str, state: str) -> None:
        barrier.wait()
        statuses.append(own.launch(token, state).status_code)

    threads = [threading.Thread(target=launch, args=item) for item in prepared]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert statuses == [303] * len(prepared)
    assert _count(engine, Context) == 1
    assert _count(engine, ResourceLink) == 1
    assert _count(engine, User) == 8
    assert _count(engine, Membership) == 8
    assert _count(engine, LaunchSession) == len(prepared)
