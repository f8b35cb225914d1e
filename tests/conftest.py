"""Fixtures: an app on a migrated database, a test platform, a launch helper.

Set LTI_TOOL_TEST_DATABASE_URL to run the suite on PostgreSQL (CI does).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import responses
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, create_engine, text

from lti_tool import create_app, migrate
from lti_tool.db import session_scope
from lti_tool.lti.keys import KeyRing
from lti_tool.models import Base
from lti_tool.registrations import RegistrationInput, save_registration
from tests.platform import SigningPlatform, auth_request_params

TOOL_URL = "http://localhost"


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = os.environ.get("LTI_TOOL_TEST_DATABASE_URL")
    if not url:
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.sqlite3'}"
    elif url.startswith("postgresql"):
        # A dedicated test database: start every run from an empty schema so the
        # migrations themselves are tested, not a leftover state.
        engine = create_engine(url)
        with engine.begin() as connection:
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
        engine.dispose()
    migrate.upgrade(url)
    return url


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    engine = create_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture(autouse=True)
def _empty_tables(engine: Engine) -> None:
    with engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(text(f"DELETE FROM {table.name}"))


@pytest.fixture(scope="session")
def keys_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("keys")
    KeyRing(folder, grace=__import__("datetime").timedelta(days=14)).generate()
    return folder


@pytest.fixture
def app(database_url: str, keys_dir: Path) -> Flask:
    return create_app(
        {
            "database_url": database_url,
            "keys_dir": keys_dir,
            "base_url": TOOL_URL,
            "secret_key": "test-secret",
            "redis_url": "",
        }
    )


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def platform(engine: Engine) -> SigningPlatform:
    test_platform = SigningPlatform()
    register(engine, test_platform)
    return test_platform


def register(engine: Engine, test_platform: SigningPlatform) -> None:
    with session_scope(engine) as session:
        save_registration(
            session,
            RegistrationInput(
                issuer=test_platform.issuer,
                client_id=test_platform.client_id,
                auth_login_url=test_platform.auth_login_url,
                auth_token_url=test_platform.auth_token_url,
                key_set_url=test_platform.key_set_url,
                deployment_ids=(test_platform.deployment_id,),
            ),
        )


@pytest.fixture
def platform_http(platform: SigningPlatform) -> Iterator[responses.RequestsMock]:
    """The platform's JWKS endpoint, at the HTTP boundary."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.get(platform.key_set_url, json=platform.jwks())
        yield mock


@dataclass
class Login:
    state: str
    nonce: str
    location: str


class Launcher:
    """Drives login then launch through the Flask test client."""

    def __init__(self, client: FlaskClient, platform: SigningPlatform) -> None:
        self.client = client
        self.platform = platform

    def login(self, **extra: str) -> Login:
        params = {
            "iss": self.platform.issuer,
            "client_id": self.platform.client_id,
            "login_hint": "hint-1",
            "lti_message_hint": '{"cmid":2,"launchid":"x"}',
            "target_link_uri": TOOL_URL + "/lti/launch",
            "lti_deployment_id": self.platform.deployment_id,
            "new_window": "1",
            **extra,
        }
        response = self.client.post("/lti/login", data=params)
        assert response.status_code == 302, response.text
        query = auth_request_params(response.headers["Location"])
        return Login(query["state"], query["nonce"], response.headers["Location"])

    def launch(self, token: str, state: str) -> Any:
        return self.client.post("/lti/launch", data={"id_token": token, "state": state})

    def launch_as(self, **claims: Any) -> Any:
        login = self.login()
        token = self.platform.sign(self.platform.claims(login.nonce, **claims))
        return self.launch(token, login.state)


@pytest.fixture
def launcher(
    client: FlaskClient,
    platform: SigningPlatform,
    platform_http: responses.RequestsMock,
) -> Launcher:
    return Launcher(client, platform)


@pytest.fixture
def live(database_url: str, keys_dir: Path, tmp_path: Path) -> Iterator[Any]:
    """The tool and the sandbox LMS over real HTTP on free loopback ports."""
    from tests.live import live_tool_and_sandbox

    with live_tool_and_sandbox(database_url, keys_dir, tmp_path) as setup:
        yield setup
