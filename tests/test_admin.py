"""The administrator's pages: sign-in, throttling, CSRF, registrations, keys,
and the scope of an LMS administrator who arrives from a launch."""

from __future__ import annotations

import re
import socket
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from click.testing import CliRunner
from flask import Flask, g, render_template_string
from flask.testing import FlaskClient
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from lti_tool import create_app
from lti_tool.admin_accounts import create_account
from lti_tool.cli import main
from lti_tool.db import session_scope
from lti_tool.lti.keys import KeyRing
from lti_tool.models import (
    AdminAccount,
    Context,
    Deployment,
    LaunchFailure,
    LaunchSession,
    Membership,
    Registration,
    User,
)
from lti_tool.models.base import utcnow
from tests.conftest import TOOL_URL, Launcher, register
from tests.platform import LEARNER, SigningPlatform

LTI = "https://purl.imsglobal.org/spec/lti/claim/"
SYSTEM_ADMIN = "http://purl.imsglobal.org/vocab/lis/v2/system/person#Administrator"
INSTITUTION_ADMIN = (
    "http://purl.imsglobal.org/vocab/lis/v2/institution/person#Administrator"
)
PASSWORD = "correct horse battery staple"
PUBLIC_ADDRESS = "93.184.215.14"


@pytest.fixture
def account(engine: Engine) -> int:
    with session_scope(engine) as session:
        return create_account(session, "ada", PASSWORD).id


def csrf_token(page: Any) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match, "the page has no CSRF token"
    return match.group(1)


class AdminBrowser:
    """Signs in and submits the admin forms the way a browser would."""

    def __init__(self, client: FlaskClient, address: str = "127.0.0.1") -> None:
        self.client = client
        self.environ = {"REMOTE_ADDR": address}

    def sign_in(self, username: str = "ada", password: str = PASSWORD) -> Any:
        page = self.client.get("/admin/sign-in", environ_base=self.environ)
        return self.client.post(
            "/admin/sign-in",
            data={
                "username": username,
                "password": password,
                "csrf_token": csrf_token(page),
            },
            environ_base=self.environ,
        )

    def get(self, path: str) -> Any:
        return self.client.get(path, environ_base=self.environ)

    def submit(self, form_page: str, action: str, **data: str) -> Any:
        """POST `data` with the CSRF token of the page the form is on."""
        token = csrf_token(self.get(form_page))
        return self.client.post(
            action, data={**data, "csrf_token": token}, environ_base=self.environ
        )


def registration_id(engine: Engine, issuer: str) -> int:
    with Session(engine) as session:
        return int(
            session.scalar(select(Registration.id).where(Registration.issuer == issuer))
            or 0
        )


def count(engine: Engine, model: type) -> int:
    with Session(engine) as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def stub_resolver(app: Flask, names: dict[str, str]) -> None:
    """DNS for the tests: literal addresses, listed names; never a real query."""

    def resolve(host: str, _port: int) -> list[str]:
        try:
            socket.inet_pton(socket.AF_INET6 if ":" in host else socket.AF_INET, host)
            return [host]
        except OSError:
            if host in names:
                return [names[host]]
            raise socket.gaierror(host) from None

    policy = app.extensions["registration_policy"]
    app.extensions["registration_policy"] = replace(policy, resolver=resolve)


def session_token(launch_response: Any) -> str:
    assert launch_response.status_code == 303, launch_response.text
    query = parse_qs(urlsplit(launch_response.headers["Location"]).query)
    return query["ls"][0]


# Signing in


def test_admin_pages_send_visitors_to_sign_in(client, platform, engine):
    listing = client.get("/admin/registrations")
    detail = client.get(
        f"/admin/registrations/{registration_id(engine, platform.issuer)}"
    )

    assert listing.status_code == 303
    assert urlsplit(listing.headers["Location"]).path == "/admin/sign-in"
    assert detail.status_code == 303
    assert platform.issuer not in detail.text


def test_sign_in_opens_the_registrations_with_a_first_party_cookie(
    client, platform, account, engine
):
    signed_in = AdminBrowser(client).sign_in()

    assert signed_in.status_code == 303
    assert urlsplit(signed_in.headers["Location"]).path == "/admin/registrations"
    cookie = next(
        value
        for value in signed_in.headers.getlist("Set-Cookie")
        if value.startswith("lti_tool_admin=")
    )
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" in cookie
    page = client.get("/admin/registrations")
    assert page.status_code == 200
    assert platform.issuer in page.text and platform.client_id in page.text
    with Session(engine) as session:
        stored = session.get(AdminAccount, account)
        assert stored is not None and stored.last_sign_in_at is not None
        assert stored.password_hash.startswith("scrypt:")


def test_admin_pages_cannot_be_framed(client, account):
    AdminBrowser(client).sign_in()

    response = client.get("/admin/registrations")

    assert response.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["Referrer-Policy"] == "same-origin"


@pytest.mark.parametrize(
    ("username", "password"), [("ada", "wrong password!!"), ("nobody", PASSWORD)]
)
def test_a_wrong_password_or_unknown_name_is_refused_alike(
    client, account, username, password
):
    response = AdminBrowser(client).sign_in(username, password)

    assert response.status_code == 401
    assert "The user name or the password is wrong." in response.text
    assert client.get("/admin/registrations").status_code == 303


def test_sign_in_is_throttled_per_name_and_address(client, account):
    browser = AdminBrowser(client, "203.0.113.7")
    for _ in range(5):
        assert browser.sign_in(password="wrong password!!").status_code == 401

    locked = browser.sign_in()
    other_name = browser.sign_in("grace", "whatever password")
    other_address = AdminBrowser(client, "203.0.113.8").sign_in()

    assert locked.status_code == 429
    assert "Too many failed sign-ins" in locked.text
    assert other_name.status_code == 401
    assert other_address.status_code == 303


def test_a_successful_sign_in_clears_earlier_failures(client, account):
    browser = AdminBrowser(client)
    for _ in range(4):
        browser.sign_in(password="wrong password!!")
    assert browser.sign_in().status_code == 303

    for _ in range(4):
        assert browser.sign_in(password="wrong password!!").status_code == 401
    assert browser.sign_in().status_code == 303


def test_forms_without_a_valid_csrf_token_are_refused(
    client, platform, account, engine
):
    browser = AdminBrowser(client)
    browser.sign_in()
    target = registration_id(engine, platform.issuer)

    missing = client.post(
        f"/admin/registrations/{target}/enabled", data={"enabled": "0"}
    )
    forged = client.post(
        f"/admin/registrations/{target}/enabled",
        data={"enabled": "0", "csrf_token": "forged"},
    )
    sign_in = client.post(
        "/admin/sign-in", data={"username": "ada", "password": PASSWORD}
    )

    for response in (missing, forged, sign_in):
        assert response.status_code == 400
        assert "csrf_invalid" in response.text
    with Session(engine) as session:
        registration = session.get(Registration, target)
        assert registration is not None and registration.is_enabled


def test_sign_out_ends_the_session(client, account):
    browser = AdminBrowser(client)
    browser.sign_in()

    response = browser.submit("/admin/registrations", "/admin/sign-out")

    assert response.status_code == 303
    assert client.get("/admin/registrations").status_code == 303


# Registrations


def test_disabling_keeps_history_and_refuses_launches(
    launcher, platform, account, engine
):
    assert launcher.launch_as().status_code == 303
    browser = AdminBrowser(launcher.client)
    browser.sign_in()
    target = registration_id(engine, platform.issuer)
    page = f"/admin/registrations/{target}"

    disabled = browser.submit(page, f"{page}/enabled", enabled="0")
    refused = launcher.client.post("/lti/login", data=login_params(platform))

    assert disabled.status_code == 302
    assert refused.status_code == 400
    assert "platform_disabled" in refused.text
    assert (count(engine, Deployment), count(engine, User)) == (1, 1)
    assert (count(engine, Context), count(engine, Membership)) == (1, 1)
    with Session(engine) as session:
        failure = session.scalars(select(LaunchFailure)).one()
        assert (failure.registration_id, failure.reason) == (
            target,
            "platform_disabled",
        )
    detail = browser.get(page)
    assert "platform_disabled" in detail.text
    assert "Enable this registration" in detail.text

    browser.submit(page, f"{page}/enabled", enabled="1")
    assert launcher.launch_as().status_code == 303


def test_a_dynamic_registration_waits_until_a_tool_admin_enables_it(
    app, client, account, engine
):
    platform = SigningPlatform()
    stub_resolver(app, {"lms.example.edu": PUBLIC_ADDRESS})
    configuration_url = platform.issuer + "/openid-configuration"
    configuration = {
        "issuer": platform.issuer,
        "authorization_endpoint": platform.auth_login_url,
        "token_endpoint": platform.auth_token_url,
        "jwks_uri": platform.key_set_url,
        "registration_endpoint": platform.issuer + "/register",
    }
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.get(configuration_url, json=configuration)
        mock.post(
            configuration["registration_endpoint"],
            json={
                "client_id": platform.client_id,
                "deployment_id": platform.deployment_id,
            },
        )
        mock.get(platform.key_set_url, json=platform.jwks())
        done = client.get(
            "/lti/register", query_string={"openid_configuration": configuration_url}
        )
        assert done.status_code == 200, done.text
        assert "pending approval by a tool administrator" in done.text

        refused = client.post("/lti/login", data=login_params(platform))
        assert refused.status_code == 400
        assert "platform_disabled" in refused.text

        browser = AdminBrowser(client)
        browser.sign_in()
        target = registration_id(engine, platform.issuer)
        page = f"/admin/registrations/{target}"
        assert "Enable this registration" in browser.get(page).text
        enabled = browser.submit(page, f"{page}/enabled", enabled="1")
        assert enabled.status_code == 302

        assert Launcher(client, platform).launch_as().status_code == 303
    with Session(engine) as session:
        registration = session.get(Registration, target)
        assert registration is not None
        assert (registration.source, registration.is_enabled) == ("dynamic", True)


def login_params(platform: SigningPlatform) -> dict[str, str]:
    return {
        "iss": platform.issuer,
        "client_id": platform.client_id,
        "login_hint": "hint-1",
        "target_link_uri": TOOL_URL + "/lti/launch",
        "lti_deployment_id": platform.deployment_id,
        "new_window": "1",
    }


def test_registration_page_shows_deployments_launches_and_the_last_20_failures(
    launcher, platform, account, engine
):
    launcher.launch_as()
    target = registration_id(engine, platform.issuer)
    other = SigningPlatform(issuer="https://other.example.edu")
    register(engine, other)
    with session_scope(engine) as session:
        for reason in ["nonce_replayed"] * 5 + ["bad_signature"] * 20:
            session.add(LaunchFailure(registration_id=target, reason=reason))
        session.add(
            LaunchFailure(
                registration_id=registration_id(engine, other.issuer),
                reason="token_expired",
            )
        )
    browser = AdminBrowser(launcher.client)
    browser.sign_in()

    page = browser.get(f"/admin/registrations/{target}").text

    assert page.count("<code>bad_signature</code>") == 20
    assert "nonce_replayed" not in page
    assert "token_expired" not in page
    assert platform.deployment_id in page
    deployments_section = page.split("<h2>Deployments</h2>")[1].split("<h2>")[0]
    assert deployments_section.count(" UTC") == 2  # added and last launch


def test_endpoint_edits_are_validated(app, client, platform, account, engine):
    stub_resolver(app, {"lms.example.edu": PUBLIC_ADDRESS, "intranet.lms": "10.2.3.4"})
    browser = AdminBrowser(client)
    browser.sign_in()
    target = registration_id(engine, platform.issuer)
    page = f"/admin/registrations/{target}"
    good = {
        "name": "Example LMS",
        "auth_login_url": "https://lms.example.edu/auth2",
        "auth_token_url": "https://lms.example.edu/token2",
        "key_set_url": "https://lms.example.edu/jwks2",
        "auth_audience": "",
    }

    not_http = browser.submit(
        page, f"{page}/endpoints", **{**good, "key_set_url": "ftp://x"}
    )
    internal = browser.submit(
        page, f"{page}/endpoints", **{**good, "auth_token_url": "http://intranet.lms/t"}
    )
    with Session(engine) as session:
        unchanged = session.get(Registration, target)
        assert unchanged is not None
        assert unchanged.key_set_url == platform.key_set_url
        assert unchanged.auth_token_url == platform.auth_token_url
    saved = browser.submit(page, f"{page}/endpoints", **good)

    assert not_http.status_code == 400
    assert "key_set_url must be an http(s) URL" in not_http.text
    assert 'value="ftp://x"' in not_http.text  # the form keeps what was typed
    assert internal.status_code == 400
    assert "private or reserved network" in internal.text
    assert saved.status_code == 302
    with Session(engine) as session:
        edited = session.get(Registration, target)
        assert edited is not None
        assert (edited.name, edited.key_set_url) == ("Example LMS", good["key_set_url"])
        assert edited.auth_login_url == good["auth_login_url"]
        assert edited.issuer == platform.issuer


def test_a_deployment_can_be_added_and_an_empty_one_is_refused(
    client, platform, account, engine
):
    browser = AdminBrowser(client)
    browser.sign_in()
    page = f"/admin/registrations/{registration_id(engine, platform.issuer)}"

    empty = browser.submit(page, f"{page}/deployments", deployment_id="   ")
    added = browser.submit(page, f"{page}/deployments", deployment_id="deployment-2")
    again = browser.submit(page, f"{page}/deployments", deployment_id="deployment-2")

    assert empty.status_code == 400
    assert (added.status_code, again.status_code) == (302, 302)
    with Session(engine) as session:
        ids = session.scalars(select(Deployment.deployment_id)).all()
    assert sorted(ids) == ["deployment-1", "deployment-2"]


def test_unknown_platform_failures_are_listed_for_tool_admins(client, account, engine):
    launch = client.post(
        "/lti/login", data={**login_params(SigningPlatform()), "iss": "https://x.edu"}
    )
    assert launch.status_code == 400
    browser = AdminBrowser(client)
    browser.sign_in()

    page = browser.get("/admin/registrations").text

    assert "https://x.edu" in page and "unknown_platform" in page


def test_the_manual_registration_urls_are_shown(client, account):
    AdminBrowser(client).sign_in()

    page = client.get("/admin/registrations").text

    for url in (
        "http://localhost/lti/launch",
        "http://localhost/lti/login",
        "http://localhost/.well-known/jwks.json",
        "http://localhost/lti/register",
    ):
        assert f"<code>{url}</code>" in page


@pytest.fixture
def keys_app(database_url: str, tmp_path: Path) -> Flask:
    """An app with its own keys, so rotating them leaves other tests' keys alone."""
    KeyRing(tmp_path / "keys", timedelta(days=14)).generate()
    return create_app(
        {
            "database_url": database_url,
            "keys_dir": tmp_path / "keys",
            "base_url": TOOL_URL,
            "secret_key": "test-secret",
            "redis_url": "",
        }
    )


def test_key_rotation_publishes_a_new_key_and_keeps_the_old(keys_app, account):
    client = keys_app.test_client()
    browser = AdminBrowser(client)
    browser.sign_in()
    (old,) = [key["kid"] for key in client.get("/.well-known/jwks.json").json["keys"]]

    rotated = browser.submit("/admin/registrations", "/admin/keys/rotate")

    kids = [key["kid"] for key in client.get("/.well-known/jwks.json").json["keys"]]
    current = keys_app.extensions["key_ring"].current().kid
    assert rotated.status_code == 302
    assert old in kids and current in kids and current != old
    page = client.get("/admin/registrations").text
    assert f"<code>{current}</code> – signing now" in page
    assert f"<code>{old}</code> – retired" in page


# An LMS administrator arriving from a launch


@pytest.fixture
def other_platform(engine: Engine) -> SigningPlatform:
    other = SigningPlatform(issuer="https://other-school.example.edu")
    register(engine, other)
    with session_scope(engine) as session:
        session.add(
            LaunchFailure(
                registration_id=registration_id(engine, other.issuer),
                reason="token_expired",
            )
        )
        session.add(LaunchFailure(issuer="https://unknown.example", reason="x_code"))
    return other


def lti_admin(launcher: Launcher, roles: list[str]) -> Any:
    token = session_token(launcher.launch_as(**{LTI + "roles": roles}))
    return launcher.client.get("/admin/from-launch", query_string={"ls": token})


def test_lms_system_admin_sees_only_its_own_registration(
    app, launcher, platform, other_platform, engine
):
    stub_resolver(app, {"lms.example.edu": PUBLIC_ADDRESS})
    own = registration_id(engine, platform.issuer)
    other = registration_id(engine, other_platform.issuer)

    entered = lti_admin(launcher, [SYSTEM_ADMIN, LEARNER])

    assert entered.status_code == 303
    assert urlsplit(entered.headers["Location"]).path == f"/admin/registrations/{own}"
    browser = AdminBrowser(launcher.client)
    listing = browser.get("/admin/registrations").text
    assert platform.issuer in listing
    assert other_platform.issuer not in listing
    assert "https://unknown.example" not in listing
    assert "Rotate the signing key" not in listing
    assert browser.get(f"/admin/registrations/{other}").status_code == 403
    detail = browser.get(f"/admin/registrations/{own}").text
    assert "Disable this registration" not in detail


def test_lms_system_admin_cannot_rotate_keys_or_switch_registrations(
    launcher, platform, other_platform, engine
):
    lti_admin(launcher, [SYSTEM_ADMIN])
    browser = AdminBrowser(launcher.client)
    own = registration_id(engine, platform.issuer)
    other = registration_id(engine, other_platform.issuer)
    page = f"/admin/registrations/{own}"
    key_ring = launcher.client.application.extensions["key_ring"]
    kid = key_ring.current().kid

    rotate = browser.submit(page, "/admin/keys/rotate")
    disable_own = browser.submit(page, f"{page}/enabled", enabled="0")
    edit_other = browser.submit(
        page,
        f"/admin/registrations/{other}/endpoints",
        auth_login_url="https://evil.example/auth",
        auth_token_url="https://evil.example/token",
        key_set_url="https://evil.example/jwks",
    )

    assert (rotate.status_code, disable_own.status_code) == (403, 403)
    assert edit_other.status_code == 403
    assert key_ring.current().kid == kid
    with Session(engine) as session:
        assert all(r.is_enabled for r in session.scalars(select(Registration)))
        edited = session.get(Registration, other)
        assert edited is not None and edited.key_set_url == other_platform.key_set_url


def test_lms_system_admin_may_fix_its_own_endpoints(app, launcher, platform, engine):
    stub_resolver(app, {"lms.example.edu": PUBLIC_ADDRESS})
    lti_admin(launcher, [SYSTEM_ADMIN])
    own = registration_id(engine, platform.issuer)
    page = f"/admin/registrations/{own}"

    saved = AdminBrowser(launcher.client).submit(
        page,
        f"{page}/endpoints",
        auth_login_url=platform.auth_login_url,
        auth_token_url=platform.auth_token_url,
        key_set_url="https://lms.example.edu/jwks-rotated",
    )

    assert saved.status_code == 302
    with Session(engine) as session:
        edited = session.get(Registration, own)
        assert edited is not None and edited.key_set_url.endswith("/jwks-rotated")


@pytest.mark.parametrize(
    "roles",
    [
        [INSTITUTION_ADMIN],
        [INSTITUTION_ADMIN, LEARNER],
        ["http://purl.imsglobal.org/vocab/lis/v2/membership#Administrator"],
    ],
)
def test_institution_or_course_admin_launch_gets_no_admin_access(
    launcher, platform, roles
):
    entered = lti_admin(launcher, roles)

    assert entered.status_code == 403
    assert launcher.client.get("/admin/registrations").status_code == 303


def test_lms_admin_access_ends_with_the_launch_session(launcher, platform, engine):
    lti_admin(launcher, [SYSTEM_ADMIN])
    assert launcher.client.get("/admin/registrations").status_code == 200

    with session_scope(engine) as session:
        session.execute(
            update(LaunchSession).values(expires_at=utcnow() - timedelta(seconds=1))
        )

    assert launcher.client.get("/admin/registrations").status_code == 303


def test_from_launch_without_a_session_token_is_refused(client):
    response = client.get("/admin/from-launch", query_string={"ls": "made-up"})

    assert response.status_code == 401
    assert client.get("/admin/registrations").status_code == 303


# The command line


@pytest.fixture
def run(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("LTI_TOOL_DATABASE_URL", database_url)
    monkeypatch.setenv("LTI_TOOL_KEYS_DIR", str(tmp_path / "keys"))
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None) -> Any:
        return runner.invoke(main, list(args), input=input, catch_exceptions=False)

    return invoke


def test_admin_create_asks_for_the_password_twice_and_list_shows_the_account(
    run, engine
):
    created = run("admin", "create", "Grace", input=f"{PASSWORD}\n{PASSWORD}\n")

    assert created.exit_code == 0, created.output
    assert PASSWORD not in created.output  # the prompt does not echo it
    assert "created administrator" in created.output
    listed = run("admin", "list")
    assert "grace" in listed.output and "last sign-in never" in listed.output
    with Session(engine) as session:
        stored = session.scalars(select(AdminAccount)).one()
        assert stored.password_hash != PASSWORD


def test_admin_create_refuses_a_mismatch_a_short_password_and_a_taken_name(run):
    mismatch = run("admin", "create", "grace", input=f"{PASSWORD}\nother password!\n")
    short = run("admin", "create", "grace", input="short\nshort\n")
    run("admin", "create", "grace", input=f"{PASSWORD}\n{PASSWORD}\n")
    taken = run("admin", "create", "GRACE", input=f"{PASSWORD}\n{PASSWORD}\n")

    assert mismatch.exit_code != 0
    assert short.exit_code != 0 and "at least 12 characters" in short.output
    assert taken.exit_code != 0 and "already an administrator" in taken.output


def test_admin_remove_deletes_the_account(run, engine):
    run("admin", "create", "grace", input=f"{PASSWORD}\n{PASSWORD}\n")

    removed = run("admin", "remove", "grace")
    missing = run("admin", "remove", "grace")

    assert removed.exit_code == 0
    assert missing.exit_code != 0
    assert count(engine, AdminAccount) == 0


@pytest.mark.parametrize(("role", "shown"), [("admin", True), ("coordinator", False)])
def test_the_program_page_link_to_administration_is_for_system_admins_only(
    app, role, shown
):
    visit = SimpleNamespace(role=SimpleNamespace(value=role))
    with app.test_request_context("/program?ls=token-1"):
        g.session_token = "token-1"
        html = render_template_string(
            '{% include "admin/_launch_link.html" %}', visit=visit
        )

    assert ('href="/admin/from-launch?ls=token-1"' in html) is shown
    assert ('target="_blank"' in html) is shown


def test_parallel_wrong_passwords_cannot_exceed_the_limit(app):
    import threading

    from lti_tool.web.admin_access import SignInThrottle

    throttle = SignInThrottle(app.extensions["store"], limit=5)
    granted: list[int | None] = []
    barrier = threading.Barrier(12)

    def guess() -> None:
        barrier.wait()
        granted.append(throttle.reserve("ghost", "10.0.0.1"))

    threads = [threading.Thread(target=guess) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(g for g in granted if g is not None) == [1, 2, 3, 4, 5]
    assert granted.count(None) == 7
