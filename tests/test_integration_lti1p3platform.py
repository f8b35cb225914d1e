"""The tool launched over real HTTP by a platform built on `lti1p3platform`."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from lti_tool import create_app
from lti_tool.db import session_scope
from lti_tool.models import (
    Context,
    Deployment,
    LaunchSession,
    Membership,
    Registration,
    ResourceLink,
    User,
)
from lti_tool.registrations import RegistrationInput, save_registration
from tests.integration_http import Browser, auth_url_from_login, read_page, submit
from tests.integration_lti1p3platform_app import (
    PEOPLE,
    PlatformSettings,
    create_platform_app,
)
from tests.live import free_port, serving

PSS_TITLE = "Medi-Cal Peer Support Specialist Training"
PCFM_TITLE = "Parent, Caregiver, and Family Member Peer Specialization"


@dataclass
class SecondPlatform:
    settings: PlatformSettings

    @property
    def url(self) -> str:
        return self.settings.base_url


def _register(engine: Engine, settings: PlatformSettings) -> None:
    with session_scope(engine) as session:
        save_registration(
            session,
            RegistrationInput(
                issuer=settings.base_url,
                client_id=settings.client_id,
                auth_login_url=settings.base_url + "/auth",
                auth_token_url=settings.base_url + "/token",
                key_set_url=settings.base_url + "/jwks",
                deployment_ids=(settings.deployment_id,),
                name="lti1p3platform",
            ),
        )


@pytest.fixture
def second_platform(
    engine: Engine, database_url: str, keys_dir: Path
) -> Iterator[SecondPlatform]:
    tool_port, platform_port = free_port(), free_port()
    settings = PlatformSettings(
        base_url=f"http://127.0.0.1:{platform_port}",
        tool_url=f"http://localhost:{tool_port}",
    )
    _register(engine, settings)
    tool = create_app(
        {
            "database_url": database_url,
            "keys_dir": keys_dir,
            "base_url": settings.tool_url,
            "secret_key": "lti1p3platform-test-secret",
            "redis_url": "",
        }
    )
    with (
        serving(tool, tool_port),
        serving(create_platform_app(settings), platform_port),
    ):
        yield SecondPlatform(settings)


def _launch(
    platform: SecondPlatform, person: str, browser: Browser, **query: str
) -> requests.Response:
    """Start at the platform, pass the tool's login, post the id_token; the reply."""
    start = browser.get(f"{platform.url}/launch/{person}", params=query)
    assert start.status_code == 302, start.text
    assert start.headers["Location"].startswith(
        platform.settings.tool_url + "/lti/login?"
    )
    login = browser.follow(start)
    auth = browser.get(auth_url_from_login(browser, login))
    assert auth.status_code == 200, auth.text
    return submit(browser, read_page(auth).only_form())


def _land(platform: SecondPlatform, person: str, **query: str) -> str:
    browser = Browser()
    launched = _launch(platform, person, browser, **query)
    assert launched.status_code == 303, launched.text
    landing = browser.follow(launched)
    assert landing.status_code == 200, landing.text
    return landing.text


def _one(engine: Engine, model: type) -> Any:
    with Session(engine) as session:
        (row,) = session.scalars(select(model)).all()
        return row


def test_learner_launch_from_lti1p3platform_lands_on_program(second_platform, engine):
    page = _land(second_platform, "learner")

    assert PSS_TITLE in page
    assert "Casey Morgan" in page
    assert "(participant)" in page
    user = _one(engine, User)
    assert (user.issuer, user.sub) == (
        second_platform.url,
        PEOPLE["learner"].sub,
    )
    assert _one(engine, Membership).role == "learner"
    context = _one(engine, Context)
    assert (context.context_id, context.title, context.label) == (
        "course-lti1p3platform",
        "Cohort on lti1p3platform",
        "L13P",
    )
    link = _one(engine, ResourceLink)
    assert (link.resource_link_id, link.target) == ("link-1", "pss")


def test_instructor_launch_from_lti1p3platform_is_coordinator(second_platform, engine):
    page = _land(second_platform, "instructor", target="pcfm")

    assert PCFM_TITLE in page
    assert "Robin Okoye" in page
    assert "(coordinator)" in page
    assert _one(engine, Membership).role == "coordinator"
    assert _one(engine, ResourceLink).target == "pcfm"


def test_lti1p3platform_launch_records_its_service_endpoints(second_platform, engine):
    _land(second_platform, "learner")

    claims = _one(engine, LaunchSession).claims
    assert claims["ags"]["lineitems"] == second_platform.url + "/lineitems"
    assert claims["nrps"]["context_memberships_url"] == (
        second_platform.url + "/memberships"
    )
    assert claims["return_url"] == second_platform.url + "/return"
    deployment = _one(engine, Deployment)
    assert deployment.deployment_id == second_platform.settings.deployment_id
    assert _one(engine, Registration).last_launch_at is not None


def test_lti1p3platform_login_initiation_is_a_get_the_tool_accepts(second_platform):
    browser = Browser()
    start = browser.get(f"{second_platform.url}/launch/learner")

    login = browser.follow(start)

    assert login.status_code == 200
    auth_url = auth_url_from_login(browser, login)
    query = {k: v[0] for k, v in parse_qs(urlsplit(auth_url).query).items()}
    assert auth_url.startswith(second_platform.url + "/auth?")
    assert query["client_id"] == second_platform.settings.client_id
    assert query["login_hint"] == PEOPLE["learner"].login_hint
    assert query["redirect_uri"] == second_platform.settings.redirect_uri


def test_lti1p3platform_deep_linking_request_is_recorded_for_coordinator(
    second_platform, engine
):
    browser = Browser()
    launched = _launch(second_platform, "instructor", browser, deep_link="1")

    assert launched.status_code == 303, launched.text
    assert browser.follow(launched).status_code == 200
    launch_session = _one(engine, LaunchSession)
    assert launch_session.role == "coordinator"
    assert launch_session.resource_link_pk is None
    assert launch_session.claims["message_type"] == "LtiDeepLinkingRequest"
    assert launch_session.claims["deep_linking"]["deep_link_return_url"] == (
        second_platform.url + "/deep_link_return"
    )
    with Session(engine) as session:
        assert session.scalars(select(ResourceLink)).all() == []


def test_tool_refuses_lti1p3platform_deployment_it_does_not_know(
    second_platform, engine
):
    with engine.begin() as connection:
        connection.execute(Deployment.__table__.delete())

    response = _launch(second_platform, "learner", Browser())

    assert response.status_code == 400
    assert "Reason code: unknown_deployment" in response.text
    with Session(engine) as session:
        assert session.scalars(select(User)).all() == []
