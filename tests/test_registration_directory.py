"""Registrations as logins and launches read them, through the per-process cache."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import insert, select, update

from lti_tool.lti.directory import RegistrationDirectory
from lti_tool.models import Deployment, Registration
from tests.conftest import register
from tests.platform import SigningPlatform


@pytest.fixture
def clock(monkeypatch):  # type: ignore[no-untyped-def]
    """time.monotonic as the directory sees it, moved by the test."""
    now = [1000.0]
    monkeypatch.setattr("lti_tool.lti.directory.time.monotonic", lambda: now[0])
    return now


def _set_enabled(engine, enabled: bool) -> None:  # type: ignore[no-untyped-def]
    # As another process (the command line, another worker) would.
    with engine.begin() as connection:
        connection.execute(update(Registration).values(is_enabled=enabled))


def test_found_registration_carries_its_deployments(engine, platform):
    directory = RegistrationDirectory(engine, cache_seconds=30)

    found = directory.find(platform.issuer, platform.client_id)

    assert found is not None
    assert found.client_id == platform.client_id
    assert set(found.deployments) == {platform.deployment_id}
    assert directory.find(platform.issuer, "another-client") is None


def test_by_issuer_alone_only_when_it_has_one_client(engine, platform):
    directory = RegistrationDirectory(engine, cache_seconds=30)
    assert directory.find(platform.issuer, None) is not None

    second = SigningPlatform()
    second.issuer = platform.issuer
    second.client_id = "second-client"
    register(engine, second)
    directory.forget()

    assert directory.find(platform.issuer, None) is None


def test_an_unknown_registration_is_found_as_soon_as_it_exists(engine):
    directory = RegistrationDirectory(engine, cache_seconds=30)
    newcomer = SigningPlatform()
    assert directory.find(newcomer.issuer, newcomer.client_id) is None

    register(engine, newcomer)

    assert directory.find(newcomer.issuer, newcomer.client_id) is not None


def test_a_change_elsewhere_shows_after_the_cache_time(engine, platform, clock):
    directory = RegistrationDirectory(engine, cache_seconds=30)
    assert directory.find(platform.issuer, platform.client_id).is_enabled

    _set_enabled(engine, False)
    clock[0] += 29
    assert directory.find(platform.issuer, platform.client_id).is_enabled
    clock[0] += 2
    assert not directory.find(platform.issuer, platform.client_id).is_enabled


def test_enabling_again_shows_at_once(engine, platform, clock):
    directory = RegistrationDirectory(engine, cache_seconds=30)
    _set_enabled(engine, False)
    assert not directory.find(platform.issuer, platform.client_id).is_enabled

    _set_enabled(engine, True)

    assert directory.find(platform.issuer, platform.client_id).is_enabled


def test_forget_drops_every_snapshot(engine, platform, clock):
    directory = RegistrationDirectory(engine, cache_seconds=30)
    directory.find(platform.issuer, platform.client_id)
    _set_enabled(engine, False)

    directory.forget()

    assert not directory.find(platform.issuer, platform.client_id).is_enabled


def test_zero_cache_time_reads_every_time(engine, platform):
    directory = RegistrationDirectory(engine, cache_seconds=0)
    directory.find(platform.issuer, platform.client_id)
    _set_enabled(engine, False)

    assert not directory.find(platform.issuer, platform.client_id).is_enabled


def test_a_deployment_added_elsewhere_launches_at_once(launcher, engine):
    # Fill this process's cache first, then add a deployment as the CLI would.
    assert launcher.launch_as().status_code == 303
    with engine.begin() as connection:
        registration_id = connection.scalar(select(Registration.id))
        connection.execute(
            insert(Deployment).values(
                registration_id=registration_id,
                deployment_id="added-later",
                created_at=datetime.now(UTC),
            )
        )

    response = launcher.launch_as(
        **{"https://purl.imsglobal.org/spec/lti/claim/deployment_id": "added-later"}
    )

    assert response.status_code == 303


def test_disabling_in_the_admin_process_refuses_at_once(launcher, app, engine):
    assert launcher.launch_as().status_code == 303
    _set_enabled(engine, False)
    # The admin pages call this after their commit.
    app.extensions["registrations"].forget()

    response = launcher.client.post(
        "/lti/login",
        data={
            "iss": launcher.platform.issuer,
            "client_id": launcher.platform.client_id,
            "login_hint": "h",
            "target_link_uri": "http://localhost/lti/launch",
        },
    )

    assert response.status_code == 400
    assert "platform_disabled" in response.text


def test_launch_times_are_written_at_most_once_a_minute(engine, platform, clock):
    directory = RegistrationDirectory(engine, cache_seconds=30)
    found = directory.find(platform.issuer, platform.client_id)
    deployment_pk = found.deployments[platform.deployment_id]

    directory.note_launch(found.id, deployment_pk)
    with engine.connect() as connection:
        first = connection.scalar(select(Deployment.last_launch_at))
    assert first is not None

    # Someone clears it; within the minute this process does not write again.
    with engine.begin() as connection:
        connection.execute(update(Deployment).values(last_launch_at=None))
    clock[0] += 30
    directory.note_launch(found.id, deployment_pk)
    with engine.connect() as connection:
        assert connection.scalar(select(Deployment.last_launch_at)) is None

    clock[0] += 31
    directory.note_launch(found.id, deployment_pk)
    with engine.connect() as connection:
        later = connection.scalar(select(Deployment.last_launch_at))
    assert later is not None
