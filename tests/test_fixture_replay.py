"""Real Moodle 4.5 and Canvas-shaped launch messages, re-signed and replayed.

Each captured payload keeps its issuer, client_id, deployment and every other
claim; only nonce, iat/exp and target_link_uri are rewritten, since those belong
to a login with this tool. Platform keys are served at the HTTP boundary.
"""

from __future__ import annotations

import copy
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jwt
import pytest
import responses
from cryptography.hazmat.primitives.asymmetric import rsa
from flask.testing import FlaskClient
from jwt.algorithms import RSAAlgorithm
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

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
from tests.integration_http import Page, parse_html
from tests.platform import LTI, auth_request_params

FIXTURES = Path(__file__).resolve().parent / "fixtures"
MOODLE = FIXTURES / "moodle-4.5"
CANVAS = FIXTURES / "canvas"
TOOL_URL = "http://localhost"  # the `app` fixture's base_url
TOOL_LAUNCH_URL = TOOL_URL + "/lti/launch"

LIS = "http://purl.imsglobal.org/vocab/lis/v2/"
INSTITUTION_ADMIN = LIS + "institution/person#Administrator"
ROLES = LTI + "roles"
CUSTOM = LTI + "custom"
TARGET_LINK_URI = LTI + "target_link_uri"
DEPLOYMENT_ID = LTI + "deployment_id"


def strip_docs(value: Any) -> Any:
    """Drop every key starting with `_`: the Canvas fixtures' documentation."""
    if isinstance(value, dict):
        return {k: strip_docs(v) for k, v in value.items() if not k.startswith("_")}
    if isinstance(value, list):
        return [strip_docs(item) for item in value]
    return value


def _read(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(path.read_text())
    return document


@dataclass(frozen=True)
class Captured:
    """A launch as a platform sent it: the JWT header and the decoded claims."""

    header: dict[str, Any]
    claims: dict[str, Any]

    @classmethod
    def moodle(cls, name: str) -> Captured:
        document = _read(MOODLE / name)
        return cls(document["header"], document["payload"])

    @classmethod
    def canvas(cls, name: str) -> Captured:
        document = strip_docs(_read(CANVAS / name))
        return cls(document["id_token_header"], document["claims"])

    @property
    def client_id(self) -> str:
        return str(self.claims["aud"])

    @property
    def deployment_id(self) -> str:
        return str(self.claims[DEPLOYMENT_ID])


@dataclass
class ReplayPlatform:
    """A platform as registered with the tool, signing with a key of our own."""

    issuer: str
    auth_login_url: str
    auth_token_url: str
    key_set_url: str
    kid: str
    deployments: dict[str, str]  # client_id -> deployment_id
    key: Any = field(
        default_factory=lambda: rsa.generate_private_key(
            public_exponent=65537, key_size=2048
        )
    )

    def jwks(self) -> dict[str, Any]:
        jwk = json.loads(RSAAlgorithm.to_jwk(self.key.public_key()))
        jwk.update({"kid": self.kid, "alg": "RS256", "use": "sig"})
        return {"keys": [jwk]}

    def sign(self, claims: dict[str, Any], header: dict[str, Any]) -> str:
        assert header["alg"] == "RS256" and header["kid"] == self.kid
        return jwt.encode(claims, self.key, algorithm="RS256", headers=header)

    def register(self, engine: Engine) -> None:
        with session_scope(engine) as session:
            for client_id, deployment_id in self.deployments.items():
                save_registration(
                    session,
                    RegistrationInput(
                        issuer=self.issuer,
                        client_id=client_id,
                        auth_login_url=self.auth_login_url,
                        auth_token_url=self.auth_token_url,
                        key_set_url=self.key_set_url,
                        deployment_ids=(deployment_id,),
                    ),
                )


MOODLE_CLIENT = "n9Dm4XeRJBumHRs"
MOODLE_DYNAMIC_CLIENT = "GiQONXuaiDrtRbR"
CANVAS_CLIENT = "170000000000123"
# A second developer key on the same cloud issuer, as another school would have.
OTHER_CANVAS_CLIENT = "170000000000987"
OTHER_CANVAS_DEPLOYMENT = "4410:0f9e8d7c6b5a49382716f5e4d3c2b1a098765432"


def moodle_platform() -> ReplayPlatform:
    site = "http://127.0.0.1:8081"
    return ReplayPlatform(
        issuer=site,
        auth_login_url=site + "/mod/lti/auth.php",
        auth_token_url=site + "/mod/lti/token.php",
        key_set_url=site + "/mod/lti/certs.php",
        kid=Captured.moodle("launch-learner.json").header["kid"],
        deployments={MOODLE_CLIENT: "1", MOODLE_DYNAMIC_CLIENT: "3"},
    )


def canvas_platform() -> ReplayPlatform:
    learner = Captured.canvas("launch-learner.json")
    return ReplayPlatform(
        issuer="https://canvas.instructure.com",
        auth_login_url="https://sso.canvaslms.com/api/lti/authorize_redirect",
        auth_token_url="https://sso.canvaslms.com/login/oauth2/token",
        key_set_url="https://sso.canvaslms.com/api/lti/security/jwks",
        kid=learner.header["kid"],
        deployments={
            learner.client_id: learner.deployment_id,
            OTHER_CANVAS_CLIENT: OTHER_CANVAS_DEPLOYMENT,
        },
    )


@dataclass
class Platforms:
    moodle: ReplayPlatform
    canvas: ReplayPlatform


@pytest.fixture
def platforms(engine: Engine) -> Any:
    """Moodle and Canvas registered; their key sets answered without a network."""
    moodle, canvas = moodle_platform(), canvas_platform()
    moodle.register(engine)
    canvas.register(engine)
    # Unmatched requests fail inside `responses`: nothing leaves the machine.
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.get(moodle.key_set_url, json=moodle.jwks())
        mock.get(canvas.key_set_url, json=canvas.jwks())
        yield Platforms(moodle, canvas)


@dataclass
class LoginResult:
    state: str
    nonce: str
    auth_url: str
    page: Page | None


class Replayer:
    """Login at the tool for a captured launch, then post the re-signed claims."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client

    def login(self, form: dict[str, str]) -> LoginResult:
        response = self.client.post("/lti/login", data=form)
        if response.status_code == 302:
            auth_url, page = response.headers["Location"], None
        else:
            assert response.status_code == 200, response.text
            page = _page(response.get_data(as_text=True))
            auth_url = page.elements["lti-login"]["data-auth-url"]
        query = auth_request_params(auth_url)
        return LoginResult(query["state"], query["nonce"], auth_url, page)

    def login_for(self, platform: ReplayPlatform, captured: Captured) -> LoginResult:
        return self.login(
            {
                "iss": platform.issuer,
                "client_id": captured.client_id,
                "login_hint": "replay-login-hint",
                "lti_message_hint": "replay-message-hint",
                "target_link_uri": TOOL_LAUNCH_URL,
                "lti_deployment_id": captured.deployment_id,
                "new_window": "1",
            }
        )

    def launch(
        self,
        platform: ReplayPlatform,
        captured: Captured,
        *,
        login: LoginResult | None = None,
        extra_form: dict[str, str] | None = None,
        **overrides: Any,
    ) -> Any:
        login = login or self.login_for(platform, captured)
        claims = rebase(captured.claims, login.nonce, **overrides)
        token = platform.sign(claims, captured.header)
        form = {**(extra_form or {}), "id_token": token, "state": login.state}
        return self.client.post("/lti/launch", data=form)

    def land(self, platform: ReplayPlatform, captured: Captured, **kw: Any) -> str:
        response = self.launch(platform, captured, **kw)
        assert response.status_code == 303, response.text
        assert response.headers["Location"].startswith(
            ("/program?ls=", "/deep-linking?ls=")
        )
        page = self.client.get(response.headers["Location"])
        assert page.status_code == 200, page.text
        return page.get_data(as_text=True)


def rebase(claims: dict[str, Any], nonce: str, **overrides: Any) -> dict[str, Any]:
    """The captured claims for this login: new nonce and times, our launch URL."""
    rebased = copy.deepcopy(claims)
    lifetime = int(claims["exp"]) - int(claims["iat"])
    now = int(time.time())
    rebased.update({"nonce": nonce, "iat": now, "exp": now + lifetime})
    # The capture's tool lived elsewhere; keep any query it carried.
    query = urlsplit(str(claims.get(TARGET_LINK_URI, ""))).query
    rebased[TARGET_LINK_URI] = TOOL_LAUNCH_URL + (f"?{query}" if query else "")
    for name, value in overrides.items():
        if value is None:
            rebased.pop(name, None)
        else:
            rebased[name] = value
    return rebased


def _page(text: str) -> Page:
    return Page(text, *parse_html(text, TOOL_URL + "/lti/login"))


@pytest.fixture
def replayer(client: FlaskClient, platforms: Platforms) -> Replayer:
    return Replayer(client)


@dataclass(frozen=True)
class Landed:
    """Who landed where: one row per membership, with its registration."""

    sub: str
    name: str
    role: str
    context_id: str
    context_title: str
    client_id: str
    deployment_id: str


def _landed(engine: Engine) -> list[Landed]:
    query = (
        select(
            User.sub,
            User.name,
            Membership.role,
            Context.context_id,
            Context.title,
            Registration.client_id,
            Deployment.deployment_id,
        )
        .join(Membership, Membership.user_id == User.id)
        .join(Context, Context.id == Membership.context_pk)
        .join(Deployment, Deployment.id == Context.deployment_pk)
        .join(Registration, Registration.id == Deployment.registration_id)
        .order_by(Registration.client_id)
    )
    with engine.connect() as connection:
        return [Landed(*row) for row in connection.execute(query)]


def _link_targets(engine: Engine) -> dict[str, str]:
    query = select(ResourceLink.resource_link_id, ResourceLink.target)
    with engine.connect() as connection:
        return {link_id: target for link_id, target in connection.execute(query)}


def _refused(response: Any, reason: str) -> None:
    assert response.status_code == 400, response.text
    assert f"Reason code: {reason}" in response.get_data(as_text=True)


# --- Moodle 4.5 -------------------------------------------------------------


@pytest.mark.parametrize(
    ("fixture", "role", "client_id", "deployment_id", "page_says"),
    [
        (
            "launch-learner.json",
            "learner",
            MOODLE_CLIENT,
            "1",
            ("not set up yet", "Hello Sam Student"),
        ),
        (
            "launch-instructor.json",
            "coordinator",
            MOODLE_CLIENT,
            "1",
            ("Choose what this link opens", "PSS Cohort · coordinator"),
        ),
        (
            "launch-learner-dynamically-registered.json",
            "learner",
            MOODLE_DYNAMIC_CLIENT,
            "3",
            ("not set up yet", "Hello Sam Student"),
        ),
    ],
)
def test_moodle_launch_replays_to_a_page_and_records_people(
    replayer, platforms, engine, fixture, role, client_id, deployment_id, page_says
):
    captured = Captured.moodle(fixture)

    page = replayer.land(platforms.moodle, captured)

    for text in page_says:
        assert text in page
    assert _landed(engine) == [
        Landed(
            sub=captured.claims["sub"],
            name=captured.claims["name"],
            role=role,
            context_id="2",
            context_title="PSS Cohort",
            client_id=client_id,
            deployment_id=deployment_id,
        )
    ]
    link_id = captured.claims[LTI + "resource_link"]["id"]
    # Moodle's custom values carry no target: the link waits to be set up.
    assert _link_targets(engine) == {link_id: ""}


def test_moodle_learner_through_two_tool_registrations_stays_one_person(
    replayer, platforms, engine
):
    replayer.land(platforms.moodle, Captured.moodle("launch-learner.json"))
    replayer.land(
        platforms.moodle, Captured.moodle("launch-learner-dynamically-registered.json")
    )

    landed = _landed(engine)
    assert [(row.client_id, row.deployment_id) for row in landed] == [
        (MOODLE_DYNAMIC_CLIENT, "3"),
        (MOODLE_CLIENT, "1"),
    ]
    with Session(engine) as session:
        assert [(u.issuer, u.sub) for u in session.scalars(select(User))] == [
            (platforms.moodle.issuer, "4")
        ]


def test_moodle_deep_linking_request_is_accepted_as_coordinator(
    replayer, platforms, engine
):
    captured = Captured.moodle("launch-deep-linking-request.json")

    replayer.land(platforms.moodle, captured)

    assert [row.role for row in _landed(engine)] == ["coordinator"]
    assert _link_targets(engine) == {}
    with Session(engine) as session:
        (launch_session,) = session.scalars(select(LaunchSession))
    assert launch_session.claims["message_type"] == "LtiDeepLinkingRequest"
    assert launch_session.claims["deep_linking"]["deep_link_return_url"].startswith(
        "http://127.0.0.1:8081/mod/lti/contentitem_return.php"
    )


def test_moodle_login_initiation_gives_the_captured_auth_request(replayer, platforms):
    capture = _read(MOODLE / "login-initiation-learner.json")
    form = dict(capture["login_initiation"]["form"])
    # The capture's tool lived at another address; ours must be the target.
    form["target_link_uri"] = TOOL_LAUNCH_URL

    login = replayer.login(form)

    assert login.page is not None
    assert login.page.elements["lti-login"]["data-mode"] == "cookie"
    assert login.auth_url.startswith(platforms.moodle.auth_login_url + "?")
    ours = auth_request_params(login.auth_url)
    captured = dict(capture["authentication_request"]["query"])
    different = {"state", "nonce", "redirect_uri"}
    assert {k: v for k, v in ours.items() if k not in different} == {
        k: v for k, v in captured.items() if k not in different
    }
    assert set(ours) == set(captured)
    assert ours["redirect_uri"] == TOOL_LAUNCH_URL
    assert ours["state"] != captured["state"]


def test_moodle_login_from_capture_then_learner_launch_lands(
    replayer, platforms, engine
):
    capture = _read(MOODLE / "login-initiation-learner.json")
    form = {**capture["login_initiation"]["form"], "target_link_uri": TOOL_LAUNCH_URL}
    login = replayer.login(form)

    response = replayer.launch(
        platforms.moodle, Captured.moodle("launch-learner.json"), login=login
    )

    assert response.status_code == 303, response.text
    assert [row.name for row in _landed(engine)] == ["Sam Student"]


# --- Canvas -----------------------------------------------------------------


def test_canvas_learner_launch_with_unexpanded_custom_values_lands(
    replayer, platforms, engine
):
    captured = Captured.canvas("launch-learner.json")
    custom = captured.claims[CUSTOM]
    assert custom["lock_at"].startswith("$Canvas.")
    assert custom["canvas_assignment_published"] is True

    page = replayer.land(platforms.canvas, captured)

    assert "not set up yet" in page
    assert _landed(engine) == [
        Landed(
            sub=captured.claims["sub"],
            name="Jordan Rivera",
            role="learner",
            context_id=captured.claims[LTI + "context"]["id"],
            context_title="Introduction to Biology (Fall 2025)",
            client_id=CANVAS_CLIENT,
            deployment_id=captured.deployment_id,
        )
    ]


def test_canvas_unexpanded_custom_target_gives_way_to_launch_url_target(
    replayer, platforms, engine
):
    captured = Captured.canvas("launch-learner.json")
    custom = {**captured.claims[CUSTOM], "target": "$Canvas.assignment.id"}

    page = replayer.land(
        platforms.canvas,
        Captured(
            captured.header,
            {
                **captured.claims,
                TARGET_LINK_URI: "https://tool.example.org/lti/launch?target=pcfm",
            },
        ),
        **{CUSTOM: custom},
    )

    assert "Parent, Caregiver, and Family Member Peer Specialization" in page
    link_id = captured.claims[LTI + "resource_link"]["id"]
    assert _link_targets(engine) == {link_id: "pcfm"}


def test_canvas_unexpanded_custom_target_alone_is_never_stored(
    replayer, platforms, engine
):
    captured = Captured.canvas("launch-learner.json")
    custom = {**captured.claims[CUSTOM], "target": "$Canvas.assignment.id"}

    page = replayer.land(platforms.canvas, captured, **{CUSTOM: custom})

    assert "not set up yet" in page
    link_id = captured.claims[LTI + "resource_link"]["id"]
    assert _link_targets(engine) == {link_id: ""}


def test_canvas_learner_who_is_also_an_account_admin_stays_learner(
    replayer, platforms, engine
):
    captured = Captured.canvas("launch-learner.json")
    # Canvas adds institution Administrator for account admins, sorted in.
    roles = sorted([*captured.claims[ROLES], INSTITUTION_ADMIN])

    replayer.land(platforms.canvas, captured, **{ROLES: roles})

    assert [row.role for row in _landed(engine)] == ["learner"]


def test_canvas_anonymous_launch_lands_without_a_name(replayer, platforms, engine):
    captured = Captured.canvas("launch-learner.json")
    # Canvas's anonymous privacy level drops every name and the lis claim.
    hidden = {
        name: None for name in ("name", "given_name", "family_name", "email", "picture")
    }

    page = replayer.land(platforms.canvas, captured, **hidden, **{LTI + "lis": None})

    assert "Hello there" in page
    assert "Jordan" not in page
    assert [(row.name, row.role) for row in _landed(engine)] == [("", "learner")]


def test_canvas_deep_linking_request_from_admin_teacher_is_coordinator(
    replayer, platforms, engine
):
    captured = Captured.canvas("launch-deep-linking-request.json")
    assert INSTITUTION_ADMIN in captured.claims[ROLES]
    assert captured.claims[CUSTOM]["canvas_assignment_id"].startswith("$")

    replayer.land(platforms.canvas, captured)

    assert [(row.role, row.name) for row in _landed(engine)] == [
        ("coordinator", "Dr. Maya Okafor")
    ]


def test_canvas_launch_with_legacy_validation_keys_lands(replayer, platforms, engine):
    captured = Captured.canvas("launch-learner.json")
    leaked = {"validation_context": None, "errors": {"errors": {}}}
    nested = {
        name: {**captured.claims[name], **leaked}
        for name in (LTI + "context", LTI + "tool_platform", LTI + "lti1p1")
    }

    replayer.land(platforms.canvas, captured, **nested, **leaked)

    assert [row.context_title for row in _landed(engine)] == [
        "Introduction to Biology (Fall 2025)"
    ]


def test_two_canvas_clients_on_one_issuer_land_in_their_own_deployments(
    replayer, platforms, engine
):
    captured = Captured.canvas("launch-learner.json")
    other = Captured(
        captured.header,
        {
            **captured.claims,
            "aud": OTHER_CANVAS_CLIENT,
            "azp": OTHER_CANVAS_CLIENT,
            DEPLOYMENT_ID: OTHER_CANVAS_DEPLOYMENT,
        },
    )

    replayer.land(platforms.canvas, captured)
    replayer.land(platforms.canvas, other)

    assert [(row.client_id, row.deployment_id) for row in _landed(engine)] == [
        (CANVAS_CLIENT, captured.deployment_id),
        (OTHER_CANVAS_CLIENT, OTHER_CANVAS_DEPLOYMENT),
    ]


def test_canvas_token_for_another_client_than_the_login_is_refused(
    replayer, platforms, engine
):
    captured = Captured.canvas("launch-learner.json")
    login = replayer.login_for(platforms.canvas, captured)

    response = replayer.launch(
        platforms.canvas,
        captured,
        login=login,
        aud=OTHER_CANVAS_CLIENT,
        azp=OTHER_CANVAS_CLIENT,
        **{DEPLOYMENT_ID: OTHER_CANVAS_DEPLOYMENT},
    )

    _refused(response, "wrong_audience")
    assert _landed(engine) == []


def test_canvas_deployment_of_another_client_is_refused(replayer, platforms, engine):
    captured = Captured.canvas("launch-learner.json")

    response = replayer.launch(
        platforms.canvas, captured, **{DEPLOYMENT_ID: OTHER_CANVAS_DEPLOYMENT}
    )

    _refused(response, "unknown_deployment")
    assert _landed(engine) == []


def test_canvas_login_for_an_unregistered_client_is_refused(replayer, platforms):
    captured = Captured.canvas("launch-learner.json")
    response = replayer.client.post(
        "/lti/login",
        data={
            "iss": platforms.canvas.issuer,
            "client_id": "170000000000555",
            "login_hint": "h",
            "target_link_uri": TOOL_LAUNCH_URL,
            "deployment_id": captured.deployment_id,
        },
    )

    _refused(response, "unknown_platform")


def _canvas_login_form(variant: str) -> dict[str, str]:
    request = strip_docs(_read(CANVAS / "login-initiation.json"))["login_request"]
    if variant == "deployment_id":
        fields = dict(request["form_fields"])
        assert "lti_deployment_id" not in fields
    else:
        (spec_named,) = [
            variant
            for variant in request["variants"]
            if "lti_deployment_id" in variant.get("form_fields", {})
        ]
        fields = dict(spec_named["form_fields"])
    fields["target_link_uri"] = TOOL_LAUNCH_URL
    return fields


@pytest.mark.parametrize("variant", ["deployment_id", "lti_deployment_id"])
def test_canvas_login_initiation_gives_storage_page_and_echoes_hint(
    replayer, platforms, variant
):
    form = _canvas_login_form(variant)
    expected = strip_docs(_read(CANVAS / "login-initiation.json"))[
        "authorization_request_tool_must_send"
    ]

    login = replayer.login(form)

    assert login.page is not None
    element = login.page.elements["lti-login"]
    assert element["data-mode"] == "storage"
    assert element["data-storage-target"] == "post_message_forwarding"
    assert element["data-platform-origin"] == "https://sso.canvaslms.com"
    assert login.auth_url.startswith(expected["url"] + "?")
    # A JWT's characters need no escaping: the hint appears in the URL verbatim.
    assert "lti_message_hint=" + form["lti_message_hint"] + "&" in (
        login.auth_url + "&"
    )
    ours = auth_request_params(login.auth_url)
    different = {"state", "nonce", "redirect_uri"}
    assert {k: v for k, v in ours.items() if k not in different} == {
        k: v for k, v in expected["params"].items() if k not in different
    }
    assert ours["redirect_uri"] == TOOL_LAUNCH_URL


def test_canvas_login_then_launch_with_rails_form_fields_lands(
    replayer, platforms, engine
):
    login = replayer.login(_canvas_login_form("deployment_id"))
    posted = strip_docs(_read(CANVAS / "login-initiation.json"))[
        "authentication_response_canvas_posts"
    ]["form_fields"]
    extra = {
        name: posted[name]
        for name in ("utf8", "authenticity_token", "lti_storage_target")
    }

    response = replayer.launch(
        platforms.canvas,
        Captured.canvas("launch-learner.json"),
        login=login,
        extra_form=extra,
    )

    assert response.status_code == 303, response.text
    assert [row.role for row in _landed(engine)] == ["learner"]
