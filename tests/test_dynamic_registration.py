"""LTI Dynamic Registration: Moodle's and Canvas's recorded exchanges, every
refusal (nothing stored, no request sent where none may be), and the whole flow
over real HTTP against the sandbox LMS."""

from __future__ import annotations

import json
import shutil
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import replace
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import pytest
import requests
import responses
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from lti_tool import create_app
from lti_tool.lti.dynamic_registration import (
    TOOL_CONFIGURATION,
    PlatformConfiguration,
    ToolDescription,
    registration_request,
)
from lti_tool.lti.outbound import OutboundPolicy, UnsafeUrl, guarded_session
from lti_tool.models import Deployment, LaunchFailure, Registration
from tests.conftest import TOOL_URL
from tests.live import live_tool_and_sandbox

FIXTURES = Path(__file__).parent / "fixtures" / "dynamic-registration"
# Any global address will do: `responses` answers before a connection is made.
PUBLIC_ADDRESS = "93.184.215.14"
CANVAS_HOSTS = ("westfield.instructure.com", "sso.canvaslms.com")
CANVAS = "https://canvas.instructure.com/lti/"
SCOPES = {
    "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem",
    "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly",
    "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly",
    "https://purl.imsglobal.org/spec/lti-ags/scope/score",
    "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly",
}


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


MOODLE = load("moodle-4.5.json")
CANVAS_CONFIGURATION = load("canvas-openid-configuration.json")
CANVAS_REQUEST = load("canvas-registration-request.json")
CANVAS_ANSWER = load("canvas-registration-response.json")
MOODLE_CONFIGURATION_URL = MOODLE["received_query"]["openid_configuration"]
MOODLE_TOKEN = MOODLE["received_query"]["registration_token"]
CANVAS_TOKEN = "canvas-registration-token-7Q2x"
CANVAS_CONFIGURATION_URL = (
    "https://westfield.instructure.com/api/lti/security/openid-configuration"
    f"?registration_token={CANVAS_TOKEN}"
)


def fake_resolver(names: dict[str, str]) -> Callable[[str, int], list[str]]:
    """DNS for the tests: literal addresses as themselves, listed names, else fail.

    No test may send a query to a real resolver.
    """

    def resolve(host: str, _port: int) -> list[str]:
        try:
            socket.inet_pton(socket.AF_INET6 if ":" in host else socket.AF_INET, host)
            return [host]
        except OSError:
            pass
        if host in names:
            return [names[host]]
        raise socket.gaierror(f"{host} is not in the test resolver")

    return resolve


@pytest.fixture
def make_app(database_url: str, keys_dir: Path) -> Callable[..., Flask]:
    def build(names: dict[str, str] | None = None, **settings: Any) -> Flask:
        app = create_app(
            {
                "database_url": database_url,
                "keys_dir": keys_dir,
                "base_url": TOOL_URL,
                "secret_key": "test-secret",
                "redis_url": "",
                **settings,
            }
        )
        policy = app.extensions["registration_policy"]
        app.extensions["registration_policy"] = replace(
            policy, resolver=fake_resolver(names or {})
        )
        return app

    return build


@pytest.fixture
def platform_http() -> Iterator[responses.RequestsMock]:
    """Every call to a platform; an unexpected one fails with ConnectionError."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def start_registration(
    client: FlaskClient, configuration_url: str, token: str | None = None
) -> Any:
    query = {"openid_configuration": configuration_url}
    if token is not None:
        query["registration_token"] = token
    return client.get("/lti/register", query_string=query)


def registrations(engine: Engine) -> list[Registration]:
    with Session(engine) as session:
        return list(session.scalars(select(Registration).order_by(Registration.id)))


def count(engine: Engine, model: type) -> int:
    with Session(engine) as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def sent_json(call: Any) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(call.request.body)
    return body


# What each platform requires of a registration request


def moodle_problems(body: dict[str, Any]) -> list[str]:
    """Moodle 4.5's checks in openid-registration.php, as observed."""
    problems = []
    if "id_token" not in body.get("response_types", []):
        problems.append("response_types lacks id_token")
    for name in ("initiate_login_uri", "client_name", "jwks_uri"):
        if not body.get(name):
            problems.append(f"no {name}")
    if not body.get("redirect_uris"):
        problems.append("no redirect_uris")
    if body.get("token_endpoint_auth_method") != "private_key_jwt":
        problems.append("token_endpoint_auth_method is not private_key_jwt")
    tool = body.get(TOOL_CONFIGURATION, {})
    if not tool.get("domain"):
        problems.append("missing_domain")
    elif urlsplit(tool.get("target_link_uri", "")).netloc != tool["domain"]:
        problems.append("domain does not match target_link_uri")
    if any(not isinstance(m.get("type"), str) for m in tool.get("messages", [])):
        problems.append("a message type is not a string")
    return problems


def canvas_problems(body: dict[str, Any]) -> list[str]:
    """Canvas's JSON schema for registrations (oidc_registration.rb)."""
    problems = []
    if body.get("application_type") != "web":
        problems.append("application_type is not web")
    if not {"client_credentials", "implicit"} <= set(body.get("grant_types", [])):
        problems.append("grant_types lacks client_credentials or implicit")
    for name in ("initiate_login_uri", "client_name", "jwks_uri", "redirect_uris"):
        if not body.get(name):
            problems.append(f"no {name}")
    tool = body.get(TOOL_CONFIGURATION, {})
    if ":" in tool.get("domain", ":") and "//" in tool.get("domain", "//"):
        problems.append("domain must be a host name, no scheme")
    if not isinstance(tool.get("messages"), list):
        problems.append("messages is not a list")
    if not all(isinstance(claim, str) for claim in tool.get("claims", [None])):
        problems.append("claims are not strings")
    privacy = tool.get(CANVAS + "privacy_level")
    if privacy not in {"public", "name_only", "email_only", "anonymous"}:
        problems.append("privacy_level is missing or unknown")
    custom = tool.get("custom_parameters", {})
    if not all(isinstance(value, str) for value in custom.values()):
        problems.append("custom parameter values must be strings")
    return problems


def messages_by_type(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["type"]: m for m in body[TOOL_CONFIGURATION]["messages"]}


# Moodle 4.5, as recorded


def moodle_http(mock: responses.RequestsMock, answer: Any = None) -> None:
    configuration = MOODLE["openid_configuration"]
    mock.get(MOODLE_CONFIGURATION_URL, json=configuration)
    mock.post(
        configuration["registration_endpoint"],
        json=MOODLE["registration_response"] if answer is None else answer,
    )


def test_moodle_gets_a_registration_it_accepts_and_the_answer_is_stored(
    make_app, platform_http, engine
):
    app = make_app(registration_allow_private=True)
    moodle_http(platform_http)

    response = start_registration(
        app.test_client(), MOODLE_CONFIGURATION_URL, MOODLE_TOKEN
    )

    assert response.status_code == 200, response.text
    get, post = platform_http.calls
    body = sent_json(post)
    assert moodle_problems(body) == []
    # Everything the tool that Moodle accepted sent, we send too.
    recorded = MOODLE["registration_request_body"]
    assert set(recorded) <= set(body)
    assert set(recorded[TOOL_CONFIGURATION]) <= set(body[TOOL_CONFIGURATION])
    assert body["initiate_login_uri"] == "http://localhost/lti/login"
    assert body["redirect_uris"] == ["http://localhost/lti/launch"]
    assert body["jwks_uri"] == "http://localhost/.well-known/jwks.json"
    assert body[TOOL_CONFIGURATION]["domain"] == "localhost"
    assert set(body["scope"].split()) == SCOPES
    assert "email" not in body[TOOL_CONFIGURATION]["claims"]
    messages = messages_by_type(body)
    assert set(messages) == {"LtiResourceLinkRequest", "LtiDeepLinkingRequest"}
    assert messages["LtiDeepLinkingRequest"]["placements"] == ["ContentArea"]
    assert "placements" not in messages["LtiResourceLinkRequest"]
    assert not [key for key in body[TOOL_CONFIGURATION] if key.startswith(CANVAS)]

    (registration,) = registrations(engine)
    assert registration.issuer == "http://127.0.0.1:8081"
    assert registration.client_id == "GiQONXuaiDrtRbR"
    assert registration.auth_login_url == "http://127.0.0.1:8081/mod/lti/auth.php"
    assert registration.auth_token_url == "http://127.0.0.1:8081/mod/lti/token.php"
    assert registration.key_set_url == "http://127.0.0.1:8081/mod/lti/certs.php"
    assert registration.auth_audience is None
    assert (registration.source, registration.product_family) == ("dynamic", "moodle")
    # Anyone can open /lti/register: a tool administrator approves first.
    assert registration.is_enabled is False
    with Session(engine) as session:
        deployments = session.scalars(select(Deployment.deployment_id)).all()
    assert deployments == ["3"]


def test_moodle_closing_page_says_the_tool_is_pending_and_closes_the_dialog(
    make_app, platform_http
):
    app = make_app(registration_allow_private=True)
    moodle_http(platform_http)

    response = start_registration(
        app.test_client(), MOODLE_CONFIGURATION_URL, MOODLE_TOKEN
    )
    page = response.text

    assert "pending" in page and "Manage tools" in page
    assert "pending approval by a tool administrator" in page
    assert "GiQONXuaiDrtRbR" in page
    assert "/static/js/registration-close.js" in page
    assert "data-lti-close" in page
    assert "<script>" not in page.replace("<script src=", "")
    assert response.headers["Cache-Control"] == "no-store"
    script = app.test_client().get("/static/js/registration-close.js").text
    assert 'subject: "org.imsglobal.lti.close"' in script
    assert "window.opener || " in script and '"*"' in script


def test_the_registration_token_goes_as_bearer_to_both_calls(make_app, platform_http):
    app = make_app(registration_allow_private=True)
    moodle_http(platform_http)

    start_registration(app.test_client(), MOODLE_CONFIGURATION_URL, MOODLE_TOKEN)

    for call in platform_http.calls:
        assert call.request.headers["Authorization"] == f"Bearer {MOODLE_TOKEN}"
        assert call.request.headers["Accept"] == "application/json"
        assert call.request.headers["User-Agent"].startswith("peer-support-lti-tool")


def test_without_a_registration_token_no_authorization_is_sent(
    make_app, platform_http, engine
):
    # D2L opens the registration URL without a token.
    app = make_app(registration_allow_private=True)
    moodle_http(platform_http)

    response = start_registration(app.test_client(), MOODLE_CONFIGURATION_URL)

    assert response.status_code == 200
    assert len(platform_http.calls) == 2
    for call in platform_http.calls:
        assert "Authorization" not in call.request.headers
    assert len(registrations(engine)) == 1


def test_the_registration_token_never_reaches_the_log(make_app, platform_http, caplog):
    app = make_app(registration_allow_private=True)
    moodle_http(platform_http)

    start_registration(app.test_client(), MOODLE_CONFIGURATION_URL, MOODLE_TOKEN)

    assert "dynamic registration stored" in caplog.text
    assert MOODLE_TOKEN not in caplog.text
    assert MOODLE_TOKEN[:20] not in caplog.text


# Canvas, in the shapes its source publishes


def canvas_http(mock: responses.RequestsMock, answer: Any = None) -> None:
    mock.get(CANVAS_CONFIGURATION_URL, json=CANVAS_CONFIGURATION["response_body"])
    mock.post(
        CANVAS_CONFIGURATION["response_body"]["registration_endpoint"],
        json=CANVAS_ANSWER["body"] if answer is None else answer,
    )


@pytest.fixture
def canvas_app(make_app) -> Flask:
    app: Flask = make_app({host: PUBLIC_ADDRESS for host in CANVAS_HOSTS})
    return app


def test_canvas_gets_its_placements_and_privacy_level(canvas_app, platform_http):
    canvas_http(platform_http)

    response = start_registration(
        canvas_app.test_client(), CANVAS_CONFIGURATION_URL, CANVAS_TOKEN
    )

    assert response.status_code == 200, response.text
    get, post = platform_http.calls
    # Canvas's URL carries the token already; it is fetched as given.
    assert get.request.url == CANVAS_CONFIGURATION_URL
    assert post.request.headers["Authorization"] == f"Bearer {CANVAS_TOKEN}"
    body = sent_json(post)
    assert canvas_problems(body) == []
    assert set(body) <= set(CANVAS_REQUEST["body"])
    tool = body[TOOL_CONFIGURATION]
    assert tool[CANVAS + "privacy_level"] == "name_only"
    assert tool["target_link_uri"] == "http://localhost/lti/launch"
    messages = messages_by_type(body)
    resource_link = messages["LtiResourceLinkRequest"]
    assert resource_link["placements"] == ["course_navigation"]
    assert resource_link[CANVAS + "course_navigation/default_enabled"] is False
    deep_linking = messages["LtiDeepLinkingRequest"]
    assert deep_linking["placements"] == ["link_selection", "assignment_selection"]
    assert set(body["scope"].split()) == SCOPES


def test_canvas_answer_is_stored_with_its_top_level_deployment(
    canvas_app, platform_http, engine
):
    canvas_http(platform_http)

    response = start_registration(
        canvas_app.test_client(), CANVAS_CONFIGURATION_URL, CANVAS_TOKEN
    )

    (registration,) = registrations(engine)
    assert registration.issuer == "https://canvas.instructure.com"
    assert registration.client_id == "170000000000123"
    assert registration.name == "Westfield State College"
    assert registration.auth_login_url == (
        "https://sso.canvaslms.com/api/lti/authorize_redirect"
    )
    assert registration.auth_token_url == "https://sso.canvaslms.com/login/oauth2/token"
    assert registration.key_set_url == "https://sso.canvaslms.com/api/lti/security/jwks"
    # Canvas names a bare host as authorization_server; the token URL is the aud.
    assert registration.auth_audience is None
    assert registration.product_family == "canvas"
    with Session(engine) as session:
        (deployment,) = session.scalars(select(Deployment)).all()
    assert deployment.deployment_id == CANVAS_ANSWER["body"]["deployment_id"]
    assert "One more step in Moodle" not in response.text
    assert "pending approval by a tool administrator" in response.text
    assert "Canvas now shows you" in response.text


def test_a_platform_that_lists_messages_as_strings_gets_both_messages() -> None:
    # Moodle before 4.x published messages_supported as plain strings.
    document = dict(MOODLE["openid_configuration"])
    lti = dict(document["https://purl.imsglobal.org/spec/lti-platform-configuration"])
    lti["messages_supported"] = ["LtiResourceLinkRequest", "LtiDeepLinkingRequest"]
    document["https://purl.imsglobal.org/spec/lti-platform-configuration"] = lti

    platform = PlatformConfiguration.parse(document)
    body = registration_request(
        ToolDescription("https://training.example.org"), platform
    )

    messages = messages_by_type(body)
    assert set(messages) == {"LtiResourceLinkRequest", "LtiDeepLinkingRequest"}
    assert all("placements" not in message for message in messages.values())
    assert body[TOOL_CONFIGURATION]["domain"] == "training.example.org"


def test_registering_the_same_client_again_is_refused_and_changes_nothing(
    make_app, platform_http, engine
):
    app = make_app(registration_allow_private=True)
    moodle_http(platform_http)
    start_registration(app.test_client(), MOODLE_CONFIGURATION_URL, MOODLE_TOKEN)
    (before,) = registrations(engine)

    response = start_registration(app.test_client(), MOODLE_CONFIGURATION_URL, "t2")

    assert response.status_code == 409, response.text
    assert "Reason code: already_registered" in response.text
    assert "admin view" in response.text
    (after,) = registrations(engine)
    assert (after.id, after.auth_login_url, after.key_set_url) == (
        before.id,
        before.auth_login_url,
        before.key_set_url,
    )
    assert count(engine, Deployment) == 1


def test_a_platform_answering_with_a_known_client_id_cannot_take_it_over(
    make_app, platform_http, engine
):
    # The pen test's hijack: one JSON file on the school's LMS site names the
    # attacker's endpoints, and "registration" answers with the school's client.
    with Session(engine) as session:
        session.add(
            Registration(
                issuer="https://lms.example.edu",
                client_id="school-client",
                auth_login_url="https://lms.example.edu/auth",
                auth_token_url="https://lms.example.edu/token",
                key_set_url="https://lms.example.edu/certs",
            )
        )
        session.commit()
    app = make_app({"lms.example.edu": PUBLIC_ADDRESS})
    url = "https://lms.example.edu/uploads/evil.json"
    configuration = {
        **MOODLE["openid_configuration"],
        "issuer": "https://lms.example.edu",
        "authorization_endpoint": "https://lms.example.edu/auth",
        "token_endpoint": "https://lms.example.edu/token",
        # Even on the school's own host, a known client_id changes nothing.
        "jwks_uri": "https://lms.example.edu/uploads/attacker-keys.json",
        "registration_endpoint": "https://lms.example.edu/uploads/register.json",
    }
    platform_http.get(url, json=configuration)
    platform_http.post(
        configuration["registration_endpoint"], json={"client_id": "school-client"}
    )

    response = start_registration(app.test_client(), url)

    assert response.status_code == 409, response.text
    assert "Reason code: already_registered" in response.text
    (registration,) = registrations(engine)
    assert registration.key_set_url == "https://lms.example.edu/certs"
    assert registration.auth_login_url == "https://lms.example.edu/auth"
    assert registration.source == "manual" and registration.is_enabled
    assert count(engine, Deployment) == 0


@pytest.mark.parametrize(
    "endpoint",
    ["registration_endpoint", "jwks_uri", "token_endpoint", "authorization_endpoint"],
)
def test_endpoints_on_a_foreign_host_are_refused_and_nothing_stored(
    make_app, platform_http, engine, endpoint
):
    app = make_app(
        {"lms.example.edu": PUBLIC_ADDRESS, "attacker.example": PUBLIC_ADDRESS}
    )
    url = "https://lms.example.edu/uploads/evil.json"
    configuration = {
        **MOODLE["openid_configuration"],
        "issuer": "https://lms.example.edu",
        "authorization_endpoint": "https://lms.example.edu/auth",
        "token_endpoint": "https://lms.example.edu/token",
        "jwks_uri": "https://lms.example.edu/certs",
        "registration_endpoint": "https://lms.example.edu/register",
    }
    configuration[endpoint] = "https://attacker.example/" + endpoint
    platform_http.get(url, json=configuration)

    response = start_registration(app.test_client(), url, "token")

    assert_refused(response, "url_refused", engine, 400)
    assert "attacker.example" in response.text
    # Only the configuration was read; nothing was posted anywhere.
    assert [call.request.method for call in platform_http.calls] == ["GET"]


def test_allowed_hosts_may_name_an_lms_with_endpoints_on_another_host(
    make_app, platform_http, engine
):
    app = make_app(
        {"lms.example.edu": PUBLIC_ADDRESS, "sso.example.edu": PUBLIC_ADDRESS},
        registration_allowed_hosts="lms.example.edu, sso.example.edu",
    )
    url = "https://lms.example.edu/openid-configuration"
    configuration = {
        **MOODLE["openid_configuration"],
        "issuer": "https://lms.example.edu",
        "authorization_endpoint": "https://sso.example.edu/auth",
        "token_endpoint": "https://sso.example.edu/token",
        "jwks_uri": "https://sso.example.edu/certs",
        "registration_endpoint": "https://lms.example.edu/register",
    }
    platform_http.get(url, json=configuration)
    platform_http.post(configuration["registration_endpoint"], json={"client_id": "c1"})

    response = start_registration(app.test_client(), url, "token")

    assert response.status_code == 200, response.text
    (registration,) = registrations(engine)
    assert registration.key_set_url == "https://sso.example.edu/certs"


# Refusals: a clear page, nothing stored, no request where none may be made


def assert_refused(response: Any, reason: str, engine: Engine, status: int) -> None:
    assert response.status_code == status, response.text
    assert f"Reason code: {reason}" in response.text
    assert "Nothing was saved" in response.text
    assert count(engine, Registration) == 0
    assert count(engine, Deployment) == 0
    # A registration failure is not a launch failure.
    assert count(engine, LaunchFailure) == 0


def test_without_parameters_the_page_says_where_to_paste_the_address(
    make_app, platform_http, engine
):
    response = make_app().test_client().get("/lti/register")

    assert_refused(response, "registration_not_started", engine, 400)
    assert "Tool URL" in response.text and "Developer Keys" in response.text
    assert len(platform_http.calls) == 0


def test_an_issuer_that_is_not_the_configuration_site_is_refused(
    make_app, platform_http, engine
):
    app = make_app({"lms.example.edu": PUBLIC_ADDRESS})
    configuration = dict(CANVAS_CONFIGURATION["response_body"])
    configuration["issuer"] = "https://other-school.example.edu"
    url = "https://lms.example.edu/openid-configuration"
    platform_http.get(url, json=configuration)

    response = start_registration(app.test_client(), url, "token")

    assert_refused(response, "issuer_mismatch", engine, 400)
    assert len(platform_http.calls) == 1


def test_canvas_issuer_served_from_outside_instructure_is_refused(
    make_app, platform_http, engine
):
    # Only Canvas's own domains may speak for the shared Canvas issuer.
    app = make_app(
        {"lms.example.edu": PUBLIC_ADDRESS, "sso.canvaslms.com": PUBLIC_ADDRESS}
    )
    url = "https://lms.example.edu/api/lti/security/openid-configuration"
    platform_http.get(url, json=CANVAS_CONFIGURATION["response_body"])

    response = start_registration(app.test_client(), url, "token")

    assert_refused(response, "issuer_mismatch", engine, 400)
    assert len(platform_http.calls) == 1


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://lms.example.edu/openid-configuration",
        "gopher://lms.example.edu:70/_x",
        "javascript:alert(1)",
        "//lms.example.edu/openid-configuration",
        "https://user:secret@lms.example.edu/openid-configuration",
    ],
)
def test_a_configuration_url_that_is_not_plain_http_is_refused_unfetched(
    make_app, platform_http, engine, url
):
    app = make_app({"lms.example.edu": PUBLIC_ADDRESS})

    response = start_registration(app.test_client(), url, "token")

    assert_refused(response, "url_refused", engine, 400)
    assert len(platform_http.calls) == 0


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8081/mod/lti/openid-configuration.php",
        "http://localhost-alias.example.edu/openid-configuration",
        "http://10.0.0.5/openid-configuration",
        "http://192.168.1.20/openid-configuration",
        "http://[::1]:8081/openid-configuration",
        "http://[::ffff:127.0.0.1]/openid-configuration",
        "http://169.254.169.254/latest/meta-data/",
        "http://[fe80::1]/openid-configuration",
        "http://0.0.0.0:8081/openid-configuration",
    ],
)
def test_loopback_private_and_link_local_addresses_are_refused_unfetched(
    make_app, platform_http, engine, url
):
    app = make_app({"localhost-alias.example.edu": "127.0.0.1"})

    response = start_registration(app.test_client(), url, "token")

    assert_refused(response, "url_refused", engine, 400)
    assert "private or reserved network" in response.text
    assert len(platform_http.calls) == 0


def test_link_local_stays_refused_when_private_addresses_are_allowed(
    make_app, platform_http, engine
):
    app = make_app(registration_allow_private=True)

    response = start_registration(
        app.test_client(), "http://169.254.169.254/latest/meta-data/", "token"
    )

    assert_refused(response, "url_refused", engine, 400)
    assert len(platform_http.calls) == 0


@pytest.mark.parametrize(
    "endpoint", ["registration_endpoint", "jwks_uri", "token_endpoint"]
)
def test_a_public_configuration_may_not_name_internal_endpoints(
    make_app, platform_http, engine, endpoint
):
    app = make_app({"lms.example.edu": PUBLIC_ADDRESS})
    url = "https://lms.example.edu/openid-configuration"
    configuration = {
        **MOODLE["openid_configuration"],
        "issuer": "https://lms.example.edu",
        "registration_endpoint": "https://lms.example.edu/register",
        "jwks_uri": "https://lms.example.edu/certs",
        "token_endpoint": "https://lms.example.edu/token",
    }
    configuration[endpoint] = "http://10.0.0.9/internal"
    platform_http.get(url, json=configuration)

    response = start_registration(app.test_client(), url, "token")

    assert_refused(response, "url_refused", engine, 400)
    assert [call.request.method for call in platform_http.calls] == ["GET"]


def test_allowed_hosts_limit_which_platforms_may_register(
    make_app, platform_http, engine
):
    app = make_app(
        {
            "lms.example.edu": PUBLIC_ADDRESS,
            **{h: PUBLIC_ADDRESS for h in CANVAS_HOSTS},
        },
        registration_allowed_hosts="*.instructure.com, moodle.example.edu",
    )
    canvas_http(platform_http)

    refused = start_registration(
        app.test_client(), "https://lms.example.edu/openid-configuration", "token"
    )
    assert_refused(refused, "url_refused", engine, 400)
    assert len(platform_http.calls) == 0
    accepted = start_registration(app.test_client(), CANVAS_CONFIGURATION_URL, "t")

    assert accepted.status_code == 200
    assert len(registrations(engine)) == 1


def test_a_redirect_from_the_platform_is_not_followed(make_app, platform_http, engine):
    app = make_app({"lms.example.edu": PUBLIC_ADDRESS})
    url = "https://lms.example.edu/openid-configuration"
    platform_http.get(
        url, status=302, headers={"Location": "http://169.254.169.254/latest/"}
    )

    response = start_registration(app.test_client(), url, "token")

    assert_refused(response, "configuration_unavailable", engine, 502)
    assert len(platform_http.calls) == 1


def test_a_configuration_that_is_not_json_is_refused(make_app, platform_http, engine):
    app = make_app(registration_allow_private=True)
    platform_http.get(MOODLE_CONFIGURATION_URL, body="<html>Moodle maintenance</html>")

    response = start_registration(app.test_client(), MOODLE_CONFIGURATION_URL, "t")

    assert_refused(response, "configuration_invalid", engine, 502)
    assert "Moodle maintenance" in response.text


def test_an_unreachable_platform_gets_its_own_page(make_app, platform_http, engine):
    app = make_app(registration_allow_private=True)
    platform_http.get(
        MOODLE_CONFIGURATION_URL, body=requests.ConnectionError("refused")
    )

    response = start_registration(app.test_client(), MOODLE_CONFIGURATION_URL, "t")

    assert_refused(response, "platform_unreachable", engine, 502)


@pytest.mark.parametrize(
    ("status", "answer", "shown", "advice"),
    [
        (400, "missing_domain", "missing_domain", "says what it refused"),
        (401, "token_already_used", "token_already_used", "each token works once"),
        (
            422,
            {"errors": ["<script>alert(1)</script> is not a valid domain"]},
            "&lt;script&gt;alert(1)&lt;/script&gt; is not a valid domain",
            "says what it refused",
        ),
    ],
)
def test_a_platform_refusal_is_shown_escaped_with_advice_and_nothing_stored(
    make_app, platform_http, engine, status, answer, shown, advice
):
    app = make_app(registration_allow_private=True)
    configuration = MOODLE["openid_configuration"]
    platform_http.get(MOODLE_CONFIGURATION_URL, json=configuration)
    kwargs = {"json": answer} if isinstance(answer, dict) else {"body": answer}
    platform_http.post(configuration["registration_endpoint"], status=status, **kwargs)

    response = start_registration(app.test_client(), MOODLE_CONFIGURATION_URL, "t")

    assert_refused(response, "platform_rejected", engine, 502)
    assert f"HTTP {status}" in response.text
    assert shown in response.text
    assert advice in response.text
    assert "<script>alert" not in response.text


def test_a_configuration_refusal_is_shown(make_app, platform_http, engine):
    app = make_app(registration_allow_private=True)
    platform_http.get(MOODLE_CONFIGURATION_URL, status=401, body="invalid_token")

    response = start_registration(app.test_client(), MOODLE_CONFIGURATION_URL, "t")

    assert_refused(response, "configuration_unavailable", engine, 502)
    assert "HTTP 401" in response.text and "invalid_token" in response.text


def test_an_answer_without_client_id_stores_nothing(make_app, platform_http, engine):
    app = make_app(registration_allow_private=True)
    answer = {
        k: v for k, v in MOODLE["registration_response"].items() if k != "client_id"
    }
    moodle_http(platform_http, answer=answer)

    response = start_registration(app.test_client(), MOODLE_CONFIGURATION_URL, "t")

    assert_refused(response, "registration_answer_invalid", engine, 502)
    assert "delete it in the LMS" in response.text


# The connection itself is checked (a name may resolve differently the second time)


class RecordingHandler(BaseHTTPRequestHandler):
    paths: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        RecordingHandler.paths.append(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *_args: Any) -> None:
        pass


@pytest.fixture
def loopback_server() -> Iterator[str]:
    RecordingHandler.paths = []
    server = HTTPServer(("127.0.0.1", 0), RecordingHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=5)


def test_a_connection_that_reaches_a_private_address_sends_nothing(loopback_server):
    session = guarded_session(5, OutboundPolicy(allow_private=False))

    with pytest.raises(UnsafeUrl):
        session.get(loopback_server + "/openid-configuration")

    assert RecordingHandler.paths == []


def test_the_guarded_session_talks_to_allowed_addresses(loopback_server):
    session = guarded_session(5, OutboundPolicy(allow_private=True))

    response = session.get(loopback_server + "/openid-configuration")

    assert response.status_code == 200
    assert RecordingHandler.paths == ["/openid-configuration"]


# The whole flow over real HTTP: the sandbox LMS registers the tool, then launches


class Page(HTMLParser):
    """The forms and iframes of a page."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.forms: list[tuple[dict[str, str | None], dict[str, str]]] = []
        self.iframes: list[dict[str, str | None]] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "form":
            self.forms.append((attributes, {}))
        elif tag == "input" and self.forms and attributes.get("name"):
            self.forms[-1][1][str(attributes["name"])] = attributes.get("value") or ""
        elif tag == "iframe":
            self.iframes.append(attributes)


def browser() -> requests.Session:
    session = requests.Session()
    # Loopback only: never a proxy from the environment.
    session.trust_env = False
    return session


def test_sandbox_registers_the_tool_dynamically_then_launches_it(
    database_url, keys_dir, tmp_path, engine
):
    with live_tool_and_sandbox(
        database_url,
        keys_dir,
        tmp_path,
        registration_allow_private=True,
        registration_auto_enable=True,
    ) as live:
        client = browser()
        dialog = client.get(
            live.sandbox_url + "/register-tool",
            params={"registration_url": live.tool_url + "/lti/register"},
            timeout=10,
        )
        (frame,) = Page(dialog.text).iframes
        frame_url = str(frame["src"])
        assert frame["data-tool-origin"] == live.tool_url
        done = client.get(frame_url, timeout=10)

        assert done.status_code == 200, done.text
        assert "registration-close.js" in done.text
        with Session(engine) as session:
            registration = session.scalars(
                select(Registration).where(Registration.source == "dynamic")
            ).one()
            client_id = registration.client_id
            assert registration.issuer == live.sandbox_url
            assert registration.product_family == "sandbox"
            (deployment,) = registration.deployments
        assert client_id != live.sandbox.client_id
        # The token was single use: opening the same dialog again is refused.
        again = client.get(frame_url, timeout=10)
        assert again.status_code == 502
        assert "token_already_used" in again.text

        landed = launch_through_sandbox(client, live.sandbox_url, client_id)

    assert urlsplit(landed).path == "/program"
    with Session(engine) as session:
        registration = session.get(Registration, registration.id)
        assert registration is not None and registration.last_launch_at is not None
        launched = session.get(Deployment, deployment.id)
        assert launched is not None and launched.last_launch_at is not None
        fixed = session.scalars(
            select(Registration).where(Registration.source == "manual")
        ).one()
        assert fixed.last_launch_at is None


def launch_through_sandbox(
    client: requests.Session, sandbox_url: str, client_id: str
) -> str:
    """Login initiation, auth, launch; returns where the tool sent the browser."""
    course_page = client.get(
        sandbox_url + "/courses/pss-cohort/links/pss-program/launch",
        params={"client": client_id, "storage": "0", "user": "learner"},
        timeout=10,
    )
    ((form, fields),) = Page(course_page.text).forms
    assert fields["client_id"] == client_id

    login = client.post(
        str(form["action"]),
        data={**fields, "new_window": "1"},
        allow_redirects=False,
        timeout=10,
    )
    assert login.status_code == 302, login.text
    # The state cookie is Secure; Python's jar will not send it over plain http
    # (browsers do, on loopback), so it is passed by hand.
    state_cookie = {cookie.name: cookie.value for cookie in login.cookies}
    auth = client.get(login.headers["Location"], timeout=10)
    assert auth.status_code == 200, auth.text
    ((form, fields),) = Page(auth.text).forms
    assert parse_qs(urlsplit(login.headers["Location"]).query)["client_id"] == [
        client_id
    ]

    launched = client.post(
        str(form["action"]),
        data=fields,
        cookies=state_cookie,
        allow_redirects=False,
        timeout=10,
    )
    assert launched.status_code == 303, launched.text
    return urljoin(str(form["action"]), launched.headers["Location"])


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api")
    executable = shutil.which("chromium")
    if executable is None:
        pytest.skip("Chromium is not installed")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable)
        yield browser
        browser.close()


@pytest.mark.browser
def test_in_a_browser_the_closing_page_closes_the_sandbox_dialog(
    database_url, keys_dir, tmp_path, engine, chromium
):
    with live_tool_and_sandbox(
        database_url,
        keys_dir,
        tmp_path,
        registration_allow_private=True,
        registration_auto_enable=True,
    ) as live:
        page = chromium.new_page()
        query = urlencode({"registration_url": live.tool_url + "/lti/register"})
        page.goto(f"{live.sandbox_url}/register-tool?{query}")
        dialog = page.frame_locator("iframe[data-tool-origin]")
        dialog.get_by_role("button", name="Close and return to your LMS").click()

        page.wait_for_selector("#registration-done", state="visible", timeout=15_000)
        assert page.locator("iframe").count() == 0
        page.close()

    assert [r.source for r in registrations(engine)] == ["manual", "dynamic"]


def test_registration_attempts_are_limited_per_address(make_app, platform_http):
    app = make_app(registration_rate_per_minute=3)
    client = app.test_client()

    # Attempts without a configuration URL count too: each costs the tool a page.
    statuses = [client.get("/lti/register").status_code for _ in range(3)]
    limited = client.get("/lti/register")

    assert statuses == [400, 400, 400]
    assert limited.status_code == 429
    assert "registration_rate_limited" in limited.text
    assert "Wait a minute" in limited.text
    # No platform was contacted by the refused attempt.
    assert len(platform_http.calls) == 0
