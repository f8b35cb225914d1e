"""The sandbox LMS behaves like a strict LTI 1.3 platform."""

from __future__ import annotations

import json
import shutil
import stat
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from flask import Flask, render_template_string, request
from flask.testing import FlaskClient
from jwt.algorithms import RSAAlgorithm
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.test import TestResponse

from lti_tool.sandbox import (
    PSS_MODULE_ID,
    SandboxConfig,
    create_sandbox_app,
    sandbox_registration,
)
from lti_tool.sandbox.hints import MessageHint, MessageHintStore

LTI = "https://purl.imsglobal.org/spec/lti/claim/"
LEARNER = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"
INSTRUCTOR = "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"
INSTITUTION_INSTRUCTOR = (
    "http://purl.imsglobal.org/vocab/lis/v2/institution/person#Instructor"
)
TOOL_URL = "http://localhost:8000"


class FakeClock:
    """A clock that moves only when the test says so."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Form:
    attrs: dict[str, str | None]
    fields: list[tuple[str, str]] = field(default_factory=list)

    @property
    def values(self) -> dict[str, str]:
        return dict(self.fields)


class PageParser(HTMLParser):
    """Collects forms with their inputs, iframes and script sources."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []
        self.iframes: list[dict[str, str | None]] = []
        self.scripts: list[str | None] = []
        self.html_attrs: dict[str, str | None] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "html":
            self.html_attrs = attributes
        elif tag == "form":
            self.forms.append(Form(attributes))
        elif tag == "input" and self.forms:
            name = attributes.get("name") or ""
            self.forms[-1].fields.append((name, attributes.get("value") or ""))
        elif tag == "iframe":
            self.iframes.append(attributes)
        elif tag == "script":
            self.scripts.append(attributes.get("src"))


def parse(response: TestResponse) -> PageParser:
    parser = PageParser()
    parser.feed(response.get_data(as_text=True))
    return parser


class Sandbox:
    """Drives the sandbox through its pages, like a browser and a tool would."""

    def __init__(self, client: FlaskClient, config: SandboxConfig) -> None:
        self.client = client
        self.config = config

    def open_launch(
        self, course_id: str = "pss-cohort", link_id: str = "pss-program", **query: str
    ) -> TestResponse:
        url = f"/courses/{course_id}/links/{link_id}/launch"
        return self.client.get(url, query_string=query)

    def login_form(self, **kwargs: str) -> Form:
        response = self.open_launch(**kwargs)
        assert response.status_code == 200
        (form,) = parse(response).forms
        return form

    def auth_params(self, login: dict[str, str], **overrides: str) -> dict[str, str]:
        params = {
            "scope": "openid",
            "response_type": "id_token",
            "response_mode": "form_post",
            "prompt": "none",
            "client_id": login["client_id"],
            "redirect_uri": f"{TOOL_URL}/lti/launch",
            "login_hint": login["login_hint"],
            "lti_message_hint": login["lti_message_hint"],
            "nonce": "nonce-7f3a",
            "state": "state-91c2",
        }
        params.update(overrides)
        return params

    def authorize(self, login: dict[str, str], **overrides: str) -> TestResponse:
        return self.client.get(
            "/auth", query_string=self.auth_params(login, **overrides)
        )

    def launch_claims(self, **kwargs: str) -> dict[str, Any]:
        response = self.authorize(self.login_form(**kwargs).values)
        assert response.status_code == 200
        (form,) = parse(response).forms
        return verify_id_token(self.client, self.config, form.values["id_token"])


def verify_id_token(
    client: FlaskClient, config: SandboxConfig, token: str
) -> dict[str, Any]:
    """Check the token against the key the sandbox publishes, as a tool would."""
    keys = client.get("/.well-known/jwks.json").get_json()["keys"]
    kid = jwt.get_unverified_header(token)["kid"]
    (jwk,) = [key for key in keys if key["kid"] == kid]
    public_key = RSAAlgorithm.from_jwk(jwk)
    assert isinstance(public_key, RSAPublicKey)
    claims: dict[str, Any] = jwt.decode(
        token,
        public_key,
        algorithms=["RS256"],
        audience=config.client_id,
        issuer=config.issuer,
        options={"require": ["exp", "iat", "nonce", "sub", "aud", "iss"]},
    )
    return claims


@pytest.fixture(scope="session")
def key_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("sandbox-keys") / "sandbox-platform.pem"


@pytest.fixture
def config(key_path: Path) -> SandboxConfig:
    return SandboxConfig(tool_url=TOOL_URL, key_path=key_path)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def app(config: SandboxConfig, clock: FakeClock) -> Flask:
    return create_sandbox_app(config, clock=clock)


@pytest.fixture
def sandbox(app: Flask, config: SandboxConfig) -> Sandbox:
    return Sandbox(app.test_client(), config)


# Registration and keys


def test_registration_lists_sandbox_endpoints(config: SandboxConfig) -> None:
    assert sandbox_registration(config) == {
        "issuer": "http://127.0.0.1:8001",
        "client_id": "sandbox-client",
        "auth_login_url": "http://127.0.0.1:8001/auth",
        "auth_token_url": "http://127.0.0.1:8001/token",
        "key_set_url": "http://127.0.0.1:8001/.well-known/jwks.json",
        "deployment_ids": ["sandbox-deployment-1"],
        "name": "Sandbox LMS",
    }


def test_jwks_publishes_only_the_public_signing_key(sandbox: Sandbox) -> None:
    response = sandbox.client.get("/.well-known/jwks.json")

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "public, max-age=300"
    (key,) = response.get_json()["keys"]
    assert {"kty": "RSA", "alg": "RS256", "use": "sig"}.items() <= key.items()
    assert key["kid"]
    assert set(key) == {"kty", "n", "e", "kid", "alg", "use"}


def test_key_file_is_created_private_and_reused(tmp_path: Path) -> None:
    key_path = tmp_path / "keys" / "sandbox-platform.pem"
    config = SandboxConfig(key_path=key_path)

    first = create_sandbox_app(config).test_client().get("/.well-known/jwks.json")
    second = create_sandbox_app(config).test_client().get("/.well-known/jwks.json")

    assert stat.S_IMODE(key_path.stat().st_mode) == 0o600
    assert first.get_json() == second.get_json()
    assert [path.name for path in key_path.parent.iterdir()] == [key_path.name]


def test_config_rejects_a_base_url_with_a_path(key_path: Path) -> None:
    with pytest.raises(ValueError, match="base_url"):
        create_sandbox_app(
            SandboxConfig(base_url="http://127.0.0.1:8001/lms", key_path=key_path)
        )


# Pages


def test_home_page_offers_demo_people_and_courses(sandbox: Sandbox) -> None:
    response = sandbox.client.get("/?user=coordinator")
    page = response.get_data(as_text=True)

    assert response.status_code == 200
    assert parse(response).html_attrs["lang"] == "en"
    for text in (
        "Alex Rivera",
        "Jordan Lee",
        "PSS Cohort (demo)",
        "PCFM Cohort (demo)",
    ):
        assert text in page
    assert "You are <strong>Jordan Lee</strong>" in page
    assert "/courses/pss-cohort/links/not-set-up/launch?user=coordinator" in page


def test_home_page_rejects_an_unknown_demo_person(sandbox: Sandbox) -> None:
    assert sandbox.client.get("/?user=admin").status_code == 400


def test_launch_page_posts_login_initiation_into_the_tool_frame(
    sandbox: Sandbox,
) -> None:
    response = sandbox.open_launch(user="coordinator")
    parsed = parse(response)

    (form,) = parsed.forms
    assert response.headers["Cache-Control"] == "no-store"
    assert form.attrs["method"] == "post"
    assert form.attrs["action"] == f"{TOOL_URL}/lti/login"
    assert form.attrs["target"] == "tool_frame"
    assert "data-auto-submit" in form.attrs
    assert {frame["name"] for frame in parsed.iframes} == {
        "tool_frame",
        "post_message_forwarding",
    }
    assert [name for name, _ in form.fields] == [
        "iss",
        "target_link_uri",
        "login_hint",
        "lti_message_hint",
        "client_id",
        "lti_deployment_id",
        "lti_storage_target",
    ]
    values = form.values
    assert values["iss"] == "http://127.0.0.1:8001"
    assert values["target_link_uri"] == f"{TOOL_URL}/lti/launch"
    assert values["client_id"] == "sandbox-client"
    assert values["lti_deployment_id"] == "sandbox-deployment-1"
    assert values["lti_storage_target"] == "post_message_forwarding"


def test_launch_page_without_storage_offers_no_storage_target(
    sandbox: Sandbox,
) -> None:
    parsed = parse(sandbox.open_launch(storage="0"))

    (form,) = parsed.forms
    assert "lti_storage_target" not in form.values
    assert [frame["name"] for frame in parsed.iframes] == ["tool_frame"]
    assert "/static/platform_storage.js" not in parsed.scripts


def test_window_launch_waits_for_a_click_on_a_named_window(sandbox: Sandbox) -> None:
    parsed = parse(sandbox.open_launch(frame="window"))

    (form,) = parsed.forms
    assert form.attrs["target"] == "tool_window"
    assert "data-auto-submit" not in form.attrs
    assert [frame["name"] for frame in parsed.iframes] == ["post_message_forwarding"]


def test_login_hints_are_opaque_per_person(sandbox: Sandbox) -> None:
    learner = sandbox.login_form(user="learner").values["login_hint"]
    coordinator = sandbox.login_form(user="coordinator").values["login_hint"]

    assert learner != coordinator
    assert learner == sandbox.login_form(user="learner").values["login_hint"]
    assert "learner" not in learner


def test_each_launch_page_carries_a_new_message_hint(sandbox: Sandbox) -> None:
    first = sandbox.login_form().values["lti_message_hint"]
    second = sandbox.login_form().values["lti_message_hint"]

    assert first != second


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/courses/nope/links/pss-program/launch", 404),
        ("/courses/pss-cohort/links/nope/launch", 404),
        ("/courses/pss-cohort/links/pss-program/launch?user=nobody", 400),
        ("/courses/pss-cohort/links/pss-program/launch?storage=yes", 400),
        ("/courses/pss-cohort/links/pss-program/launch?frame=popup", 400),
    ],
)
def test_launch_page_refuses_unknown_links_and_options(
    sandbox: Sandbox, path: str, status: int
) -> None:
    response = sandbox.client.get(path)

    assert response.status_code == status
    assert response.mimetype == "text/html"


def test_forwarding_frame_may_only_be_embedded_by_the_sandbox(
    sandbox: Sandbox,
) -> None:
    response = sandbox.client.get("/post_message_forwarding")

    assert response.status_code == 200
    assert response.headers["Content-Security-Policy"] == "frame-ancestors 'self'"
    assert response.headers["X-Frame-Options"] == "SAMEORIGIN"


def test_return_page_shows_tool_messages_escaped(sandbox: Sandbox) -> None:
    response = sandbox.client.get(
        "/return",
        query_string={
            "course": "pss-cohort",
            "link": "pss-program",
            "user": "learner",
            "lti_msg": "Saved <b>3</b> hours",
            "lti_errormsg": "<script>alert(1)</script>",
        },
    )
    page = response.get_data(as_text=True)

    assert response.status_code == 200
    assert "Saved &lt;b&gt;3&lt;/b&gt; hours" in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script>alert" not in page
    assert "/courses/pss-cohort?user=learner" in page


# The OIDC authorization endpoint


def test_auth_answers_with_a_form_posting_a_verifiable_id_token(
    sandbox: Sandbox, config: SandboxConfig
) -> None:
    login = sandbox.login_form(user="learner").values

    response = sandbox.authorize(login)

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    (form,) = parse(response).forms
    assert form.attrs["method"] == "post"
    assert form.attrs["action"] == f"{TOOL_URL}/lti/launch"
    assert form.values["state"] == "state-91c2"
    assert form.values["lti_storage_target"] == "post_message_forwarding"
    claims = verify_id_token(sandbox.client, config, form.values["id_token"])
    assert claims["aud"] == "sandbox-client"
    assert claims["azp"] == "sandbox-client"
    assert claims["nonce"] == "nonce-7f3a"
    assert claims["exp"] - claims["iat"] == 60
    assert claims["name"] == "Alex Rivera"
    assert "email" not in claims


def test_id_token_carries_the_lti_claims_of_the_launch(sandbox: Sandbox) -> None:
    claims = sandbox.launch_claims(user="learner")

    assert claims[LTI + "message_type"] == "LtiResourceLinkRequest"
    assert claims[LTI + "version"] == "1.3.0"
    assert claims[LTI + "deployment_id"] == "sandbox-deployment-1"
    assert claims[LTI + "resource_link"]["title"] == "Peer Support Specialist program"
    assert claims[LTI + "context"] == {
        "id": "7c1e4b9a2d6f38e05a9c1b7d4e2f60a83b5c9d1e",
        "label": "PSS-DEMO",
        "title": "PSS Cohort (demo)",
        "type": ["http://purl.imsglobal.org/vocab/lis/v2/course#CourseOffering"],
    }
    assert claims[LTI + "launch_presentation"] == {
        "document_target": "iframe",
        "return_url": (
            "http://127.0.0.1:8001/return?course=pss-cohort&link=pss-program&user=learner"
        ),
        "locale": "en",
    }
    assert claims[LTI + "tool_platform"]["name"] == "Sandbox LMS"
    assert claims[LTI + "tool_platform"]["product_family_code"] == "sandbox"
    ags = claims["https://purl.imsglobal.org/spec/lti-ags/claim/endpoint"]
    assert ags["lineitems"] == "http://127.0.0.1:8001/api/courses/pss-cohort/lineitems"
    nrps = claims["https://purl.imsglobal.org/spec/lti-nrps/claim/namesroleservice"]
    assert nrps["context_memberships_url"] == (
        "http://127.0.0.1:8001/api/courses/pss-cohort/memberships"
    )


def test_id_token_roles_follow_the_demo_person(sandbox: Sandbox) -> None:
    learner = sandbox.launch_claims(user="learner")
    coordinator = sandbox.launch_claims(user="coordinator")

    assert LEARNER in learner[LTI + "roles"]
    assert INSTRUCTOR not in learner[LTI + "roles"]
    assert {INSTRUCTOR, INSTITUTION_INSTRUCTOR} <= set(coordinator[LTI + "roles"])
    assert learner["sub"] != coordinator["sub"]
    assert coordinator["name"] == "Jordan Lee"


@pytest.mark.parametrize(
    ("course_id", "link_id", "custom", "target_link_uri"),
    [
        ("pss-cohort", "pss-program", {"target": "pss"}, f"{TOOL_URL}/lti/launch"),
        (
            "pss-cohort",
            "pss-module",
            {"target": f"pss/{PSS_MODULE_ID}"},
            f"{TOOL_URL}/lti/launch",
        ),
        ("pss-cohort", "not-set-up", None, f"{TOOL_URL}/lti/launch"),
        ("pcfm-cohort", "pcfm-program", {"target": "pcfm"}, f"{TOOL_URL}/lti/launch"),
        (
            "pcfm-cohort",
            "pcfm-canvas-style",
            None,
            f"{TOOL_URL}/lti/launch?target=pcfm",
        ),
    ],
)
def test_each_link_sends_its_target_where_its_platform_would(
    sandbox: Sandbox,
    course_id: str,
    link_id: str,
    custom: dict[str, str] | None,
    target_link_uri: str,
) -> None:
    login = sandbox.login_form(course_id=course_id, link_id=link_id).values
    claims = sandbox.launch_claims(course_id=course_id, link_id=link_id)

    assert login["target_link_uri"] == target_link_uri
    assert claims[LTI + "target_link_uri"] == target_link_uri
    assert claims.get(LTI + "custom") == custom


def test_window_launch_says_so_in_the_id_token(sandbox: Sandbox) -> None:
    claims = sandbox.launch_claims(frame="window")

    assert claims[LTI + "launch_presentation"]["document_target"] == "window"


def test_auth_without_storage_posts_no_storage_target(sandbox: Sandbox) -> None:
    response = sandbox.authorize(sandbox.login_form(storage="0").values)

    (form,) = parse(response).forms
    assert response.status_code == 200
    assert set(form.values) == {"id_token", "state"}


def test_auth_accepts_a_post(sandbox: Sandbox) -> None:
    params = sandbox.auth_params(sandbox.login_form().values)

    response = sandbox.client.post("/auth", data=params)

    assert response.status_code == 200
    assert "id_token" in parse(response).forms[0].values


@pytest.mark.parametrize(
    "redirect_uri",
    [
        f"{TOOL_URL}/lti/launch?target=pcfm",
        f"{TOOL_URL}/lti/launch/",
        "http://localhost:8001/lti/launch",
        "https://localhost:8000/lti/launch",
    ],
)
def test_auth_rejects_a_redirect_uri_not_registered_exactly(
    sandbox: Sandbox, redirect_uri: str
) -> None:
    response = sandbox.authorize(sandbox.login_form().values, redirect_uri=redirect_uri)

    assert response.status_code == 400
    assert "Invalid request" in response.get_data(as_text=True)
    assert parse(response).forms == []


def test_auth_rejects_a_reused_message_hint(sandbox: Sandbox) -> None:
    login = sandbox.login_form().values

    first = sandbox.authorize(login)
    second = sandbox.authorize(login, nonce="nonce-other", state="state-other")

    assert first.status_code == 200
    assert second.status_code == 400
    assert "already used" in second.get_data(as_text=True)


def test_auth_rejects_an_unknown_client_id(sandbox: Sandbox) -> None:
    response = sandbox.authorize(sandbox.login_form().values, client_id="other-client")

    assert response.status_code == 400
    assert "client_id is not registered" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"scope": "openid profile"}, "scope parameter must be"),
        ({"response_type": "code"}, "response_type parameter must be"),
        ({"response_mode": "query"}, "response_mode parameter must be"),
        ({"prompt": "login"}, "prompt parameter must be"),
        ({"nonce": ""}, "nonce parameter is missing"),
        ({"state": ""}, "state parameter is missing"),
        ({"lti_message_hint": "made-up"}, "unknown or was already used"),
    ],
)
def test_auth_rejects_a_malformed_request(
    sandbox: Sandbox, overrides: dict[str, str], reason: str
) -> None:
    response = sandbox.authorize(sandbox.login_form().values, **overrides)

    assert response.status_code == 400
    assert reason in response.get_data(as_text=True)


def test_auth_rejects_an_altered_message_hint(sandbox: Sandbox) -> None:
    login = sandbox.login_form().values

    response = sandbox.authorize(
        login, lti_message_hint=login["lti_message_hint"] + "x"
    )

    assert response.status_code == 400


def test_auth_rejects_a_parameter_given_twice(sandbox: Sandbox) -> None:
    params = sandbox.auth_params(sandbox.login_form().values)
    query = [*params.items(), ("redirect_uri", f"{TOOL_URL}/other")]

    response = sandbox.client.get("/auth", query_string=query)

    assert response.status_code == 400
    assert "more than once" in response.get_data(as_text=True)


def test_auth_rejects_another_persons_login_hint(sandbox: Sandbox) -> None:
    learner_login = sandbox.login_form(user="learner").values
    coordinator_hint = sandbox.login_form(user="coordinator").values["login_hint"]

    response = sandbox.authorize(learner_login, login_hint=coordinator_hint)

    assert response.status_code == 400
    assert "login_hint does not belong" in response.get_data(as_text=True)


def test_message_hint_is_accepted_until_it_expires(
    sandbox: Sandbox, clock: FakeClock
) -> None:
    fresh = sandbox.login_form().values
    stale = sandbox.login_form().values

    clock.advance(299)
    assert sandbox.authorize(fresh).status_code == 200
    clock.advance(1)
    response = sandbox.authorize(stale)

    assert response.status_code == 400
    assert "has expired" in response.get_data(as_text=True)


def issue_hint(store: MessageHintStore) -> MessageHint:
    return store.issue(
        person_key="learner",
        course_id="pss-cohort",
        link_id="pss-program",
        document_target="iframe",
        has_storage=True,
    )


def test_expired_hints_are_dropped_when_new_ones_are_issued(clock: FakeClock) -> None:
    store = MessageHintStore(ttl_seconds=300, clock=clock)
    old = issue_hint(store)

    clock.advance(301)
    issue_hint(store)

    assert len(store) == 1
    assert store.consume(old.value) is None


def test_a_consumed_hint_is_gone_from_the_store(clock: FakeClock) -> None:
    store = MessageHintStore(ttl_seconds=300, clock=clock)
    hint = issue_hint(store)

    assert store.consume(hint.value) == hint
    assert store.consume(hint.value) is None


# The whole launch in a real browser, with a small fake tool on another origin.

FAKE_TOOL_LOGIN = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Fake tool</title></head>
<body>
<script id="login" type="application/json">{{ fields | tojson }}</script>
<script>
(async function () {
  const login = JSON.parse(document.getElementById("login").textContent);
  const platform = window.opener || window.parent;
  const platformOrigin = new URL(login.iss).origin;
  const results = {};

  function ask(target, message, targetOrigin) {
    return new Promise(function (resolve) {
      function onMessage(event) {
        const data = event.data || {};
        const isAnswer = /\\.response$/.test(data.subject);
        if (data.message_id === message.message_id && isAnswer) {
          window.removeEventListener("message", onMessage);
          resolve({ origin: event.origin, data: data });
        }
      }
      window.addEventListener("message", onMessage);
      target.postMessage(message, targetOrigin);
      window.setTimeout(function () { resolve({ timeout: true }); }, 1500);
    });
  }

  results.capabilities = await ask(
    platform, { subject: "lti.capabilities", message_id: "m1" }, "*");
  if (login.lti_storage_target) {
    const frame = platform.frames[login.lti_storage_target];
    const put = { subject: "lti.put_data", message_id: "m2", key: "state-abc",
                  value: "nonce-xyz" };
    results.put = await ask(frame, put, platformOrigin);
    results.get = await ask(
      frame, { subject: "lti.get_data", message_id: "m3", key: "state-abc" },
      platformOrigin);
    results.prefixed = await ask(
      frame,
      { subject: "org.imsglobal.lti.get_data", message_id: "m4", key: "state-abc" },
      platformOrigin);
    results.missing = await ask(
      frame, { subject: "lti.get_data", message_id: "m5", key: "nope" },
      platformOrigin);
    results.no_key = await ask(
      frame, { subject: "lti.put_data", message_id: "m6", value: "v" },
      platformOrigin);
    results.unsupported = await ask(
      frame, { subject: "lti.doesNotExist", message_id: "m7" }, platformOrigin);
    results.via_parent = await ask(
      platform, { subject: "lti.get_data", message_id: "m8", key: "state-abc" },
      platformOrigin);
  }

  const query = new URLSearchParams({
    scope: "openid", response_type: "id_token", response_mode: "form_post",
    prompt: "none", client_id: login.client_id,
    redirect_uri: window.location.origin + "/lti/launch",
    login_hint: login.login_hint, lti_message_hint: login.lti_message_hint,
    nonce: "browser-nonce", state: JSON.stringify(results),
  });
  window.location.assign(platformOrigin + "/auth?" + query.toString());
})();
</script>
</body></html>
"""

FAKE_TOOL_LAUNCH = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Launched</title></head>
<body><pre id="received">{{ fields | tojson }}</pre></body></html>
"""


def create_fake_tool() -> Flask:
    """A tool that exercises platform storage, then completes the OIDC flow."""
    tool = Flask("fake_tool")

    @tool.route("/lti/login", methods=["GET", "POST"])
    def login() -> str:
        return render_template_string(FAKE_TOOL_LOGIN, fields=request.values.to_dict())

    @tool.post("/lti/launch")
    def launch() -> str:
        return render_template_string(FAKE_TOOL_LAUNCH, fields=request.form.to_dict())

    return tool


@dataclass
class LiveSandbox:
    url: str
    config: SandboxConfig
    app: Flask


def _serve(server: BaseWSGIServer) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return thread


@pytest.fixture(scope="module")
def live_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveSandbox]:
    # Bind both ports first: each app must know the other's origin.
    sandbox_server = make_server("127.0.0.1", 0, Flask("placeholder"), threaded=True)
    tool_server = make_server("127.0.0.1", 0, Flask("placeholder"), threaded=True)
    config = SandboxConfig(
        base_url=f"http://127.0.0.1:{sandbox_server.server_port}",
        tool_url=f"http://127.0.0.1:{tool_server.server_port}",
        key_path=tmp_path_factory.mktemp("live-keys") / "sandbox-platform.pem",
    )
    sandbox_server.app = create_sandbox_app(config)
    tool_server.app = create_fake_tool()
    threads = [_serve(sandbox_server), _serve(tool_server)]

    yield LiveSandbox(config.base_url, config, sandbox_server.app)

    for server, thread in zip((sandbox_server, tool_server), threads, strict=True):
        server.shutdown()
        thread.join(timeout=5)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api")
    executable = shutil.which("chromium")
    if executable is None:
        pytest.skip("Chromium is not installed")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable)
        yield browser
        browser.close()


def _received(frame: Any) -> dict[str, Any]:
    frame.wait_for_selector("#received", state="attached", timeout=15_000)
    fields: dict[str, Any] = json.loads(frame.text_content("#received"))
    return fields


def _check_launch(live: LiveSandbox, received: dict[str, Any]) -> dict[str, Any]:
    claims = verify_id_token(live.app.test_client(), live.config, received["id_token"])
    assert claims["nonce"] == "browser-nonce"
    results: dict[str, Any] = json.loads(received["state"])
    return results


@pytest.mark.browser
def test_browser_launch_answers_platform_storage_and_posts_the_id_token(
    live_sandbox: LiveSandbox, browser: Any
) -> None:
    page = browser.new_page()
    page.goto(f"{live_sandbox.url}/courses/pss-cohort/links/pss-module/launch")

    received = _received(page.frame(name="tool_frame"))
    results = _check_launch(live_sandbox, received)

    origin = live_sandbox.url
    assert received["lti_storage_target"] == "post_message_forwarding"
    assert results["capabilities"]["origin"] == origin
    supported = results["capabilities"]["data"]["supported_messages"]
    assert {"subject": "lti.put_data", "frame": "post_message_forwarding"} in supported
    assert {"subject": "lti.get_data", "frame": "post_message_forwarding"} in supported
    assert results["put"] == {
        "origin": origin,
        "data": {
            "subject": "lti.put_data.response",
            "message_id": "m2",
            "key": "state-abc",
            "value": "nonce-xyz",
        },
    }
    assert results["get"]["data"]["value"] == "nonce-xyz"
    assert (
        results["prefixed"]["data"]["subject"] == "org.imsglobal.lti.get_data.response"
    )
    assert results["prefixed"]["data"]["value"] == "nonce-xyz"
    assert results["missing"]["data"]["value"] is None
    assert results["no_key"]["data"]["error"]["code"] == "bad_request"
    assert results["unsupported"]["data"]["error"]["code"] == "unsupported_subject"
    assert results["via_parent"]["data"]["value"] == "nonce-xyz"
    page.close()


@pytest.mark.browser
def test_browser_storage_refuses_messages_from_other_origins(
    live_sandbox: LiveSandbox, browser: Any
) -> None:
    page = browser.new_page()
    page.goto(f"{live_sandbox.url}/courses/pss-cohort/links/pss-program/launch")
    _received(page.frame(name="tool_frame"))

    # The sandbox page itself is not the tool, so it must get no stored value;
    # and the error it gets must not set the two windows answering each other.
    replies = page.evaluate(
        """() => new Promise((resolve) => {
          const replies = [];
          window.addEventListener("message", (event) => {
            if (event.data && event.data.message_id === "w1") replies.push(event.data);
          });
          window.frames["post_message_forwarding"].postMessage(
            { subject: "lti.get_data", message_id: "w1", key: "state-abc" }, "*");
          window.setTimeout(() => resolve(replies), 1000);
        })"""
    )

    (reply,) = replies
    assert reply["subject"] == "lti.get_data.response"
    assert reply["error"]["code"] == "wrong_origin"
    assert "value" not in reply
    page.close()


@pytest.mark.browser
def test_browser_launch_without_storage_leaves_capabilities_unanswered(
    live_sandbox: LiveSandbox, browser: Any
) -> None:
    page = browser.new_page()
    page.goto(
        f"{live_sandbox.url}/courses/pcfm-cohort/links/pcfm-program/launch?storage=0"
    )

    received = _received(page.frame(name="tool_frame"))
    results = _check_launch(live_sandbox, received)

    assert results == {"capabilities": {"timeout": True}}
    assert "lti_storage_target" not in received
    page.close()


@pytest.mark.browser
def test_browser_window_launch_uses_the_opener_for_storage(
    live_sandbox: LiveSandbox, browser: Any
) -> None:
    page = browser.new_page()
    page.goto(
        f"{live_sandbox.url}/courses/pss-cohort/links/pss-program/launch?frame=window"
    )

    with page.expect_popup() as popup_info:
        page.click("#open-window")
    popup = popup_info.value
    received = _received(popup.main_frame)
    results = _check_launch(live_sandbox, received)

    assert results["get"]["data"]["value"] == "nonce-xyz"
    assert page.is_disabled("#open-window")
    popup.close()
    page.close()


# Dynamic registration: the platform side

DR_TOOL_CONFIGURATION = "https://purl.imsglobal.org/spec/lti-tool-configuration"


def registration_body(**changes: Any) -> dict[str, Any]:
    """A registration request of the shape Moodle accepts, for TOOL_URL."""
    body: dict[str, Any] = {
        "application_type": "web",
        "response_types": ["id_token"],
        "grant_types": ["implicit", "client_credentials"],
        "initiate_login_uri": f"{TOOL_URL}/lti/login",
        "redirect_uris": [f"{TOOL_URL}/lti/launch"],
        "client_name": "Peer Support Training",
        "jwks_uri": f"{TOOL_URL}/.well-known/jwks.json",
        "token_endpoint_auth_method": "private_key_jwt",
        "scope": "",
        DR_TOOL_CONFIGURATION: {
            "domain": "localhost:8000",
            "target_link_uri": f"{TOOL_URL}/lti/launch",
            "claims": ["iss", "sub", "name"],
            "messages": [{"type": "LtiResourceLinkRequest"}],
        },
    }
    body.update(changes)
    return body


def registration_token(sandbox: Sandbox) -> str:
    """The token the "Register a tool" page hands to the tool's frame."""
    page = sandbox.client.get(
        "/register-tool", query_string={"registration_url": f"{TOOL_URL}/lti/register"}
    )
    (frame,) = parse(page).iframes
    query = parse_qs(urlsplit(str(frame["src"])).query)
    return query["registration_token"][0]


def post_registration(
    sandbox: Sandbox, body: dict[str, Any], token: str | None
) -> TestResponse:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return sandbox.client.post("/lti/registrations", json=body, headers=headers)


def test_openid_configuration_names_the_sandbox_endpoints(sandbox: Sandbox) -> None:
    document = sandbox.client.get("/.well-known/openid-configuration").get_json()

    assert document["issuer"] == "http://127.0.0.1:8001"
    assert (
        document["registration_endpoint"] == "http://127.0.0.1:8001/lti/registrations"
    )
    assert document["authorization_endpoint"] == "http://127.0.0.1:8001/auth"
    assert document["jwks_uri"] == "http://127.0.0.1:8001/.well-known/jwks.json"
    lti = document["https://purl.imsglobal.org/spec/lti-platform-configuration"]
    assert lti["product_family_code"] == "sandbox"
    assert {m["type"] for m in lti["messages_supported"]} == {
        "LtiResourceLinkRequest",
        "LtiDeepLinkingRequest",
    }
    assert (
        "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"
        in document["scopes_supported"]
    )


def test_register_tool_page_frames_the_registration_url_with_a_token(
    sandbox: Sandbox,
) -> None:
    page = sandbox.client.get(
        "/register-tool",
        query_string={"registration_url": f"{TOOL_URL}/lti/register?tenant=7"},
    )
    parsed = parse(page)

    (frame,) = parsed.iframes
    src = urlsplit(str(frame["src"]))
    query = parse_qs(src.query)
    assert f"{src.scheme}://{src.netloc}{src.path}" == f"{TOOL_URL}/lti/register"
    assert query["tenant"] == ["7"]  # the tool's own query is kept
    assert query["openid_configuration"] == [
        "http://127.0.0.1:8001/.well-known/openid-configuration"
    ]
    assert len(query["registration_token"][0]) >= 32
    assert frame["data-tool-origin"] == TOOL_URL
    assert "/static/register_tool.js" in parsed.scripts


def test_register_tool_page_asks_for_the_url_and_refuses_non_http(
    sandbox: Sandbox,
) -> None:
    form_page = sandbox.client.get("/register-tool")
    refused = sandbox.client.get(
        "/register-tool", query_string={"registration_url": "javascript:alert(1)"}
    )

    (form,) = parse(form_page).forms
    assert form.values["registration_url"] == f"{TOOL_URL}/lti/register"
    assert refused.status_code == 400


def test_a_registration_with_its_token_is_accepted_once(sandbox: Sandbox) -> None:
    token = registration_token(sandbox)

    first = post_registration(sandbox, registration_body(), token)
    second = post_registration(sandbox, registration_body(), token)

    assert first.status_code == 200
    answer = first.get_json()
    assert len(answer["client_id"]) == 15 and answer["client_id"] != "sandbox-client"
    assert answer[DR_TOOL_CONFIGURATION]["deployment_id"] == "sandbox-deployment-2"
    assert answer["redirect_uris"] == [f"{TOOL_URL}/lti/launch"]
    assert second.status_code == 401
    assert second.get_data(as_text=True) == "token_already_used"


@pytest.mark.parametrize(
    ("token", "reason"),
    [(None, "missing_token"), ("made-up-token", "invalid_registration_token")],
)
def test_a_registration_without_a_valid_token_is_refused(
    sandbox: Sandbox, token: str | None, reason: str
) -> None:
    response = post_registration(sandbox, registration_body(), token)

    assert response.status_code == 401
    assert response.get_data(as_text=True) == reason


def test_a_registration_token_expires_after_an_hour(
    sandbox: Sandbox, clock: FakeClock
) -> None:
    token = registration_token(sandbox)
    clock.advance(3600)

    response = post_registration(sandbox, registration_body(), token)

    assert response.status_code == 401
    assert response.get_data(as_text=True) == "invalid_registration_token"


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"response_types": ["code"]}, "invalid_response_types"),
        ({"grant_types": ["implicit"]}, "invalid_grant_types"),
        (
            {"token_endpoint_auth_method": "client_secret_basic"},
            "invalid_token_endpoint_auth_method",
        ),
        ({"initiate_login_uri": ""}, "missing_initiate_login_uri"),
        ({"jwks_uri": "ftp://localhost/jwks"}, "missing_jwks_uri"),
        ({"redirect_uris": []}, "missing_redirect_uris"),
        ({"client_name": " "}, "missing_client_name"),
        ({DR_TOOL_CONFIGURATION: None}, "missing_tool_configuration"),
        (
            {DR_TOOL_CONFIGURATION: {"target_link_uri": f"{TOOL_URL}/lti/launch"}},
            "missing_domain",
        ),
        (
            {
                DR_TOOL_CONFIGURATION: {
                    "domain": "tool.example.org",
                    "target_link_uri": f"{TOOL_URL}/lti/launch",
                }
            },
            "domain_mismatch",
        ),
    ],
)
def test_a_registration_moodle_would_refuse_is_refused_and_keeps_the_token(
    sandbox: Sandbox, changes: dict[str, Any], reason: str
) -> None:
    token = registration_token(sandbox)

    refused = post_registration(sandbox, registration_body(**changes), token)
    accepted = post_registration(sandbox, registration_body(), token)

    assert refused.status_code == 400
    assert refused.get_data(as_text=True) == reason
    assert accepted.status_code == 200


def register_client(sandbox: Sandbox) -> dict[str, Any]:
    token = registration_token(sandbox)
    answer: dict[str, Any] = post_registration(
        sandbox, registration_body(), token
    ).get_json()
    return answer


def test_a_dynamically_registered_client_is_launched_with_its_own_ids(
    sandbox: Sandbox, config: SandboxConfig
) -> None:
    answer = register_client(sandbox)
    client_id = answer["client_id"]

    login = sandbox.login_form(client=client_id).values
    response = sandbox.authorize(login)

    assert login["client_id"] == client_id
    assert login["lti_deployment_id"] == "sandbox-deployment-2"
    assert response.status_code == 200
    (form,) = parse(response).forms
    token = form.values["id_token"]
    keys = sandbox.client.get("/.well-known/jwks.json").get_json()["keys"]
    public_key = RSAAlgorithm.from_jwk(keys[0])
    assert isinstance(public_key, RSAPublicKey)
    claims = jwt.decode(
        token,
        public_key,
        algorithms=["RS256"],
        audience=client_id,
        issuer=config.issuer,
    )
    assert claims["azp"] == client_id
    assert claims[LTI + "deployment_id"] == "sandbox-deployment-2"
    home = sandbox.client.get("/", query_string={"client": client_id})
    assert f"client={client_id}" in home.get_data(as_text=True)


def test_a_launch_started_for_one_client_cannot_finish_as_another(
    sandbox: Sandbox,
) -> None:
    client_id = register_client(sandbox)["client_id"]
    login = sandbox.login_form(client=client_id).values

    response = sandbox.authorize(login, client_id="sandbox-client")

    assert response.status_code == 400
    assert "not the one this launch started with" in response.get_data(as_text=True)


def test_a_launch_page_for_an_unknown_client_is_refused(sandbox: Sandbox) -> None:
    response = sandbox.open_launch(client="nobody")

    assert response.status_code == 400
