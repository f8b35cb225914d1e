"""Launches that once failed badly: races, removed registrations, odd values."""

from __future__ import annotations

import base64
import json
import threading
import time

import pytest
from sqlalchemy import select, text

from lti_tool.db import make_engine, session_scope
from lti_tool.models import LaunchSession, ResourceLink, User
from lti_tool.registrations import remove_registration
from tests.conftest import Launcher, register
from tests.platform import LTI


def _refused(response, reason: str, status: int = 400) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text[:300]
    assert reason in response.text
    assert "Traceback" not in response.text


def _unsigned(payload_json: str, header: dict | None = None) -> str:  # type: ignore[type-arg]
    def part(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    head = json.dumps(header or {"alg": "RS256", "kid": "platform-key-1"})
    return f"{part(head.encode())}.{part(payload_json.encode())}.c2ln"


# --- a captured token, or one for another registration, spends nothing ---------


def test_a_captured_token_posted_with_another_login_burns_nothing(launcher, app):
    victim = launcher.login()
    token = launcher.platform.sign(launcher.platform.claims(victim.nonce))

    attacker = Launcher(app.test_client(), launcher.platform)
    own = attacker.login()
    _refused(attacker.launch(token, own.state), "nonce_replayed")

    # The victim's own launch still goes through: neither nonce nor login was used.
    assert launcher.launch(token, victim.state).status_code == 303


def test_one_token_posted_on_many_logins_of_one_browser_wins_on_its_own(launcher):
    logins = [launcher.login() for _ in range(5)]
    rightful = logins[2]
    token = launcher.platform.sign(launcher.platform.claims(rightful.nonce))

    for other in logins[:2] + logins[3:]:
        _refused(launcher.launch(token, other.state), "nonce_replayed")

    assert launcher.launch(token, rightful.state).status_code == 303


def test_a_token_for_another_registration_leaves_the_login_unspent(
    launcher, engine, platform_http
):
    other_platform = type(launcher.platform)(
        issuer="https://other-lms.example.edu", client_id="client-2"
    )
    register(engine, other_platform)
    platform_http.get(other_platform.key_set_url, json=other_platform.jwks())
    login = launcher.login()

    foreign = other_platform.sign(other_platform.claims(login.nonce))
    _refused(launcher.launch(foreign, login.state), "wrong_audience")

    token = launcher.platform.sign(launcher.platform.claims(login.nonce))
    assert launcher.launch(token, login.state).status_code == 303


# --- a registration removed by another process -----------------------------------


def test_a_registration_removed_elsewhere_gets_a_page_not_an_error(
    launcher, engine, database_url
):
    assert launcher.launch_as().status_code == 303  # this process caches it

    # `lti-tool platform remove`, in another process (with the CLI's engine, so
    # SQLite cascades to the courses as it does there).
    cli_engine = make_engine(database_url)
    with session_scope(cli_engine) as session:
        assert remove_registration(
            session, launcher.platform.issuer, launcher.platform.client_id
        )
    cli_engine.dispose()

    # The login still finds the cached registration; the launch cannot be kept.
    _refused(launcher.launch_as(), "registration_changed", status=409)
    refused_login = launcher.client.post(
        "/lti/login",
        data={
            "iss": launcher.platform.issuer,
            "client_id": launcher.platform.client_id,
            "login_hint": "h",
            "target_link_uri": "http://localhost/lti/launch",
        },
    )
    _refused(refused_login, "unknown_platform")

    # `lti-tool platform add` again: launches work at once.
    register(engine, launcher.platform)
    assert launcher.launch_as().status_code == 303


# --- values no database or parser can take -----------------------------------------


def test_json_nested_thousands_deep_is_a_bad_token(launcher):
    login = launcher.login()
    deep = '{"iss": "https://lms.example.edu", "x": ' + "[" * 5000 + "]" * 5000 + "}"
    _refused(launcher.launch(_unsigned(deep), login.state), "bad_token")


@pytest.mark.parametrize(
    "claims",
    [
        {"iss": "https://lms.example.edu\x00"},
        {"iss": "https://lms.example.edu\ud800"},
        {"aud": "client-1\x00"},
        {"aud": "client-\udfff"},
    ],
)
def test_unusable_issuer_or_audience_is_refused_before_any_lookup(launcher, claims):
    login = launcher.login()
    payload = launcher.platform.claims(login.nonce, **claims)
    raw = json.dumps(payload)  # escapes NUL and surrogates as \\u sequences
    response = launcher.launch(_unsigned(raw), login.state)
    assert response.status_code in (400, 403)
    assert "Traceback" not in response.text


@pytest.mark.parametrize("state", ["abc\x00def" * 3, "x" * 500, "a b c d e f g h i j"])
def test_a_state_that_is_not_ours_is_refused(launcher, state):
    login = launcher.login()
    token = launcher.platform.sign(launcher.platform.claims(login.nonce))
    _refused(launcher.launch(token, state), "state_invalid")
    response = launcher.client.post(
        "/lti/launch/storage",
        data={"id_token": token, "state": state, "browser_secret": "s"},
    )
    _refused(response, "state_invalid")


@pytest.mark.parametrize(
    "params",
    [
        {"iss": "https://lms.example.edu\x00"},
        {"client_id": "client-1\x00"},
        {"target_link_uri": "http://[::1/"},
    ],
)
def test_login_with_unusable_values_gets_a_page(launcher, params):
    base = {
        "iss": launcher.platform.issuer,
        "client_id": launcher.platform.client_id,
        "login_hint": "h",
        "target_link_uri": "http://localhost/lti/launch",
    }
    response = launcher.client.post("/lti/login", data={**base, **params})
    assert response.status_code == 400
    assert "Traceback" not in response.text


@pytest.mark.parametrize(
    "claims",
    [
        {"sub": "s" * 256},
        {"sub": "user\x00one"},
        {LTI + "context": {"id": "c" * 256, "title": "T"}},
        {LTI + "resource_link": {"id": "link\x00", "title": "T"}},
        {LTI + "deployment_id": "d" * 256},
    ],
)
def test_identifiers_no_database_can_keep_are_a_bad_token(launcher, claims):
    _refused(launcher.launch_as(**claims), "bad_token")


def test_a_nonce_that_cannot_be_ours_is_refused(launcher):
    login = launcher.login()
    payload = launcher.platform.claims(login.nonce)
    payload["nonce"] = login.nonce + "n" * 300
    _refused(launcher.launch(launcher.platform.sign(payload), login.state), "nonce")


def test_names_and_titles_with_nul_or_broken_unicode_are_cleaned(launcher, engine):
    response = launcher.launch_as(
        name="Alex\x00 Rivera\ud800",
        **{LTI + "resource_link": {"id": "link-1", "title": "PSS\x00 link"}},
    )

    assert response.status_code == 303
    with engine.connect() as connection:
        assert connection.scalar(select(User.name)) == "Alex Rivera?"
        assert connection.scalar(select(ResourceLink.title)) == "PSS link"


def test_a_later_launch_without_name_or_link_title_keeps_them(launcher, engine):
    launcher.launch_as(sub="person-1")
    launcher.launch_as(
        sub="person-1", name=None, **{LTI + "resource_link": {"id": "link-1"}}
    )

    with engine.connect() as connection:
        assert connection.scalar(select(User.name)) == "Alex Rivera"
        assert connection.scalar(select(ResourceLink.title)) == "PSS"


def test_database_errors_do_not_carry_statement_values(database_url):
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            with pytest.raises(Exception) as raised:
                connection.execute(
                    text("SELECT no_such_column FROM lti_user WHERE name = :name"),
                    {"name": "Private Person"},
                )
    finally:
        engine.dispose()
    assert "Private Person" not in str(raised.value)


# --- a link another launch is creating at this very moment (PostgreSQL) ---------


def test_a_link_created_by_a_concurrent_launch_is_on_the_session(launcher, engine):
    if engine.dialect.name != "postgresql":
        pytest.skip("the race needs PostgreSQL's per-statement snapshots")
    course = {LTI + "context": {"id": "course-9", "title": "T", "label": "L"}}
    first_link = {LTI + "resource_link": {"id": "first", "title": "one"}}
    assert launcher.launch_as(**course, **first_link).status_code == 303
    with engine.connect() as connection:
        context_pk = connection.execute(
            text("SELECT id FROM context WHERE context_id = 'course-9'")
        ).scalar_one()

    # Another launch's insert of the new link, not yet committed.
    other = engine.connect()
    other.execute(
        text(
            "INSERT INTO resource_link (context_pk, resource_link_id, title, target,"
            " created_at) VALUES (:pk, 'new-link', 'PSS link', 'pss', now())"
        ),
        {"pk": context_pk},
    )
    login = launcher.login()
    new_link = {LTI + "resource_link": {"id": "new-link", "title": "PSS link"}}
    token = launcher.platform.sign(
        launcher.platform.claims(login.nonce, **course, **new_link)
    )
    outcome: dict[str, int] = {}
    launching = threading.Thread(
        target=lambda: outcome.update(
            status=launcher.launch(token, login.state).status_code
        )
    )
    launching.start()
    time.sleep(1.0)  # the launch now waits on the uncommitted row
    other.commit()
    other.close()
    launching.join(timeout=30)

    assert outcome["status"] == 303
    with engine.connect() as connection:
        link_pk = connection.execute(
            select(ResourceLink.id).where(ResourceLink.resource_link_id == "new-link")
        ).scalar_one()
        newest = connection.execute(
            select(LaunchSession.resource_link_pk)
            .order_by(LaunchSession.created_at.desc())
            .limit(1)
        ).scalar_one()
    assert newest == link_pk


# --- second round: what a re-test found ------------------------------------------


def test_accepting_new_deployments_of_a_removed_registration_gets_a_page(
    database_url, keys_dir, platform, platform_http
):
    from lti_tool import create_app

    app = create_app(
        {
            "database_url": database_url,
            "keys_dir": keys_dir,
            "base_url": "http://localhost",
            "secret_key": "test-secret",
            "redis_url": "",
            "unknown_deployment": "accept",
        }
    )
    launcher = Launcher(app.test_client(), platform)
    assert launcher.launch_as().status_code == 303
    cli_engine = make_engine(database_url)
    with session_scope(cli_engine) as session:
        remove_registration(session, platform.issuer, platform.client_id)
    cli_engine.dispose()

    response = launcher.launch_as(**{LTI + "deployment_id": "brand-new"})

    _refused(response, "registration_changed", status=409)


@pytest.mark.parametrize("where", ["context", "resource_link"])
def test_identifiers_sent_as_huge_numbers_are_a_bad_token(launcher, where):
    claim = {"id": int("9" * 300), "title": "T"}
    _refused(launcher.launch_as(**{LTI + where: claim}), "bad_token")


def test_a_small_number_as_an_identifier_is_kept_as_its_digits(launcher, engine):
    from lti_tool.models import Context

    assert launcher.launch_as(**{LTI + "context": {"id": 42}}).status_code == 303
    with engine.connect() as connection:
        assert connection.scalar(select(Context.context_id)) == "42"


def test_a_token_target_link_uri_that_is_not_a_url_names_no_target(launcher):
    response = launcher.launch_as(
        **{LTI + "custom": None, LTI + "target_link_uri": "http://[::1/"}
    )
    assert response.status_code == 303


def test_a_login_from_a_registration_replaced_meanwhile_gets_a_page(launcher, app):
    from lti_tool.lti.state import LoginState, proof_of, state_cookie_name

    login = launcher.login()
    cookie = launcher.client.get_cookie(state_cookie_name(login.state))
    assert cookie is not None
    # The record a process with the old registration cached would have written.
    stale = LoginState(
        registration_id=999_999,
        nonce=login.nonce,
        browser_proof=proof_of(cookie.value),
        target_link_uri="http://localhost/lti/launch",
    )
    app.extensions["store"].put("state:" + login.state, stale.to_record(), 600)

    token = launcher.platform.sign(launcher.platform.claims(login.nonce))
    _refused(launcher.launch(token, login.state), "registration_changed", 409)


@pytest.mark.parametrize(
    "extra",
    [
        {"target_link_uri": "http://localhost/lti/launch?" + "x" * 3000},
        {"lti_storage_target": "_parent" * 30},
    ],
)
def test_login_values_too_long_to_keep_are_refused(launcher, extra):
    base = {
        "iss": launcher.platform.issuer,
        "client_id": launcher.platform.client_id,
        "login_hint": "h",
        "target_link_uri": "http://localhost/lti/launch",
    }
    _refused(launcher.client.post("/lti/login", data={**base, **extra}), "login_")


def test_a_refusal_with_an_unstorable_issuer_is_still_counted(launcher, engine, caplog):
    from lti_tool.models import LaunchFailure

    with caplog.at_level("WARNING"):
        response = launcher.client.post(
            "/lti/login",
            data={
                "iss": "https://lms.example.edu\x00",
                "login_hint": "h",
                "target_link_uri": "http://localhost/lti/launch",
            },
        )

    assert response.status_code == 400
    with engine.connect() as connection:
        issuer = connection.scalar(select(LaunchFailure.issuer))
    assert issuer == "https://lms.example.edu"
    assert not [r for r in caplog.records if r.levelname == "ERROR"]


def test_registration_rate_limit_says_when_to_try_again(app):
    client = app.test_client()
    answers = [client.get("/lti/register") for _ in range(11)]

    assert answers[-1].status_code == 429
    assert 1 <= int(answers[-1].headers["Retry-After"]) <= 60
