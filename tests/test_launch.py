"""Launch validation: every path that must refuse, and the paths that must pass."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import func, select

from lti_tool.models import Context, LaunchFailure, LaunchSession, Membership, User
from tests.conftest import Launcher
from tests.platform import INSTRUCTOR, LTI, SigningPlatform


def _count(engine, model) -> int:  # type: ignore[no-untyped-def]
    with engine.connect() as connection:
        return int(connection.scalar(select(func.count()).select_from(model)) or 0)


def _reasons(engine) -> list[str]:  # type: ignore[no-untyped-def]
    with engine.connect() as connection:
        return list(connection.scalars(select(LaunchFailure.reason)))


def test_learner_launch_lands_on_program_and_records_people(launcher, engine):
    response = launcher.launch_as()

    assert response.status_code == 303
    assert response.headers["Location"].startswith("/program?ls=")
    page = launcher.client.get(response.headers["Location"])
    assert page.status_code == 200
    assert "Medi-Cal Peer Support Specialist" in page.text
    assert "Alex Rivera" in page.text
    assert "participant" in page.text
    with engine.connect() as connection:
        role = connection.scalar(select(Membership.role))
        context_title = connection.scalar(select(Context.title))
    assert role == "learner"
    assert context_title == "PSS Cohort"
    assert _count(engine, User) == 1
    assert _count(engine, LaunchSession) == 1


def test_instructor_launch_is_coordinator(launcher, engine):
    response = launcher.launch_as(**{LTI + "roles": [INSTRUCTOR]})

    assert response.status_code == 303
    with engine.connect() as connection:
        assert connection.scalar(select(Membership.role)) == "coordinator"


def test_auth_request_echoes_message_hint_and_exact_redirect_uri(launcher):
    hint = '{"cmid":2,"launchid":"ltilaunch1_1206888613"}'
    login = launcher.login(lti_message_hint=hint)

    assert "lti_message_hint=%7B%22cmid%22%3A2%2C%22launchid" in login.location
    from tests.platform import auth_request_params

    query = auth_request_params(login.location)
    assert query["lti_message_hint"] == hint
    assert query["redirect_uri"] == "http://localhost/lti/launch"
    assert query["response_mode"] == "form_post"
    assert query["prompt"] == "none"
    assert query["client_id"] == "client-1"


def test_login_accepts_get(launcher, platform):
    response = launcher.client.get(
        "/lti/login",
        query_string={
            "iss": platform.issuer,
            "login_hint": "h",
            "target_link_uri": "http://localhost/lti/launch",
            "client_id": platform.client_id,
            "new_window": "1",
        },
    )
    assert response.status_code == 302
    assert response.headers["Location"].startswith(platform.auth_login_url + "?")


def test_login_without_cookie_history_serves_cookie_probe_page(launcher, platform):
    response = launcher.client.post(
        "/lti/login",
        data={
            "iss": platform.issuer,
            "login_hint": "h",
            "target_link_uri": "http://localhost/lti/launch",
            "client_id": platform.client_id,
        },
    )
    assert response.status_code == 200
    assert 'data-mode="cookie"' in response.text
    cookies = response.headers.getlist("Set-Cookie")
    state_cookie = next(c for c in cookies if c.startswith("lti_state_"))
    assert "SameSite=None" in state_cookie
    assert "Secure" in state_cookie
    assert "Partitioned" in state_cookie
    assert "HttpOnly" in state_cookie


def test_login_with_storage_target_serves_storage_page(launcher, platform):
    response = launcher.client.post(
        "/lti/login",
        data={
            "iss": platform.issuer,
            "login_hint": "h",
            "target_link_uri": "http://localhost/lti/launch",
            "client_id": platform.client_id,
            "lti_storage_target": "post_message_forwarding",
        },
    )
    assert response.status_code == 200
    assert 'data-mode="storage"' in response.text
    assert 'data-storage-target="post_message_forwarding"' in response.text
    assert 'data-platform-origin="https://lms.example.edu"' in response.text


@pytest.mark.parametrize(
    ("params", "reason"),
    [
        ({"iss": "https://unknown.example"}, "unknown_platform"),
        ({"client_id": "someone-else"}, "unknown_platform"),
        ({"login_hint": ""}, "login_invalid"),
        ({"target_link_uri": "https://evil.example/phish"}, "login_invalid"),
    ],
)
def test_login_refuses_bad_initiation(launcher, engine, params, reason):
    base = {
        "iss": launcher.platform.issuer,
        "client_id": launcher.platform.client_id,
        "login_hint": "h",
        "target_link_uri": "http://localhost/lti/launch",
    }
    response = launcher.client.post("/lti/login", data={**base, **params})

    assert response.status_code == 400
    assert f"Reason code: {reason}" in response.text
    assert "Traceback" not in response.text
    assert _reasons(engine) == [reason]


def _refused(response, reason: str, status: int = 400) -> None:
    assert response.status_code == status, response.text
    assert f"Reason code: {reason}" in response.text
    assert "Traceback" not in response.text


def test_expired_token_is_refused(launcher):
    past = int(time.time()) - 600
    _refused(launcher.launch_as(iat=past, exp=past + 60), "token_expired")


def test_small_clock_skew_is_accepted(launcher):
    ahead = int(time.time()) + 3
    assert launcher.launch_as(iat=ahead, exp=ahead + 60).status_code == 303


def test_far_future_token_is_refused(launcher):
    ahead = int(time.time()) + 600
    _refused(launcher.launch_as(iat=ahead, exp=ahead + 60), "token_expired")


def test_nbf_in_future_is_refused(launcher):
    _refused(launcher.launch_as(nbf=int(time.time()) + 600), "token_expired")


def test_token_signed_by_another_key_is_refused(launcher):
    other = SigningPlatform()
    login = launcher.login()
    token = other.sign(launcher.platform.claims(login.nonce), kid=launcher.platform.kid)
    _refused(launcher.launch(token, login.state), "bad_signature")


def test_tampered_token_is_refused(launcher):
    login = launcher.login()
    token = launcher.platform.sign(launcher.platform.claims(login.nonce))
    header, payload, signature = token.split(".")
    forged = launcher.platform.sign(
        launcher.platform.claims(login.nonce, sub="someone-else")
    ).split(".")[1]
    _refused(
        launcher.launch(f"{header}.{forged}.{signature}", login.state), "bad_signature"
    )


def test_malformed_token_is_refused(launcher):
    login = launcher.login()
    _refused(launcher.launch("not-a-jwt", login.state), "bad_token")


def test_unsigned_token_is_refused(launcher):
    import jwt

    login = launcher.login()
    token = jwt.encode(
        launcher.platform.claims(login.nonce), key=None, algorithm="none"
    )
    _refused(launcher.launch(token, login.state), "bad_signature")


def test_wrong_audience_is_refused(launcher):
    _refused(launcher.launch_as(aud="another-tool"), "unknown_platform")


def test_audience_array_with_azp_is_accepted(launcher):
    response = launcher.launch_as(aud=["other-tool", "client-1"], azp="client-1")
    assert response.status_code == 303


def test_audience_array_with_foreign_azp_is_refused(launcher):
    _refused(
        launcher.launch_as(aud=["other-tool", "client-1"], azp="other-tool"),
        "unknown_platform",
    )


def test_azp_not_in_audience_is_refused(launcher):
    _refused(launcher.launch_as(aud=["client-1"], azp="other-tool"), "wrong_audience")


def test_several_audiences_without_azp_are_refused(launcher):
    _refused(launcher.launch_as(aud=["client-1", "other"]), "wrong_audience")


def test_replayed_launch_is_refused(launcher):
    login = launcher.login()
    token = launcher.platform.sign(launcher.platform.claims(login.nonce))
    assert launcher.launch(token, login.state).status_code == 303

    _refused(launcher.launch(token, login.state), "state_invalid")


def test_replay_from_another_browser_is_refused(launcher, app):
    login = launcher.login()
    token = launcher.platform.sign(launcher.platform.claims(login.nonce))
    assert launcher.launch(token, login.state).status_code == 303

    other_browser = app.test_client()
    response = other_browser.post(
        "/lti/launch", data={"id_token": token, "state": login.state}
    )
    _refused(response, "state_invalid")


def test_token_with_nonce_from_another_login_is_refused(launcher):
    first = launcher.login()
    second = launcher.login()
    token = launcher.platform.sign(launcher.platform.claims(first.nonce))
    _refused(launcher.launch(token, second.state), "nonce_replayed")


def test_missing_state_is_refused(launcher):
    login = launcher.login()
    token = launcher.platform.sign(launcher.platform.claims(login.nonce))
    _refused(launcher.launch(token, ""), "state_invalid")


def test_unknown_state_is_refused(launcher):
    login = launcher.login()
    token = launcher.platform.sign(launcher.platform.claims(login.nonce))
    _refused(launcher.launch(token, "made-up-state"), "state_invalid")


def test_launch_from_another_browser_without_the_state_cookie_is_refused(launcher, app):
    login = launcher.login()
    token = launcher.platform.sign(launcher.platform.claims(login.nonce))
    stranger = app.test_client()
    response = stranger.post(
        "/lti/launch", data={"id_token": token, "state": login.state}
    )
    _refused(response, "state_cookie_missing")


def test_unregistered_deployment_is_refused(launcher):
    _refused(
        launcher.launch_as(**{LTI + "deployment_id": "unknown"}), "unknown_deployment"
    )


def test_wrong_message_type_is_refused(launcher):
    _refused(
        launcher.launch_as(**{LTI + "message_type": "LtiSubmissionReviewRequest"}),
        "unsupported_message",
    )


def test_wrong_version_is_refused(launcher):
    _refused(launcher.launch_as(**{LTI + "version": "1.1"}), "unsupported_message")


def test_resource_link_launch_without_resource_link_is_refused(launcher):
    _refused(launcher.launch_as(**{LTI + "resource_link": None}), "unsupported_message")


def test_missing_nonce_claim_is_refused(launcher):
    _refused(launcher.launch_as(nonce=None), "bad_token")


def test_get_on_launch_url_is_refused_with_405(client):
    _refused(client.get("/lti/launch"), "wrong_method", status=405)


def test_platform_error_post_gets_a_page(client):
    response = client.post(
        "/lti/launch", data={"error": "login_required", "error_description": "x"}
    )
    _refused(response, "platform_error")


def test_disabled_registration_is_refused(launcher, engine):
    from sqlalchemy import update

    from lti_tool.models import Registration

    with engine.begin() as connection:
        connection.execute(update(Registration).values(is_enabled=False))
    response = launcher.client.post(
        "/lti/login",
        data={
            "iss": launcher.platform.issuer,
            "client_id": launcher.platform.client_id,
            "login_hint": "h",
            "target_link_uri": "http://localhost/lti/launch",
        },
    )
    _refused(response, "platform_disabled")


def test_refused_launch_logs_reason_without_token(launcher, caplog):
    login = launcher.login()
    token = launcher.platform.sign(launcher.platform.claims(login.nonce, aud="x"))
    launcher.launch(token, login.state)

    lines = [
        r.getMessage() for r in caplog.records if "launch rejected" in r.getMessage()
    ]
    assert len(lines) == 1
    assert "reason=unknown_platform" in lines[0]
    assert token not in caplog.text
    assert "Alex Rivera" not in caplog.text


def test_accepted_launch_log_has_no_name_or_token(launcher, caplog):
    import logging

    caplog.set_level(logging.INFO)
    response = launcher.launch_as()
    assert response.status_code == 303

    assert any("launch accepted" in r.getMessage() for r in caplog.records)
    assert "Alex Rivera" not in caplog.text
    session_token = response.headers["Location"].split("ls=")[1]
    assert session_token not in caplog.text


def test_stranger_with_a_forged_cookie_cannot_spend_the_login(launcher, app):
    login = launcher.login()
    token = launcher.platform.sign(launcher.platform.claims(login.nonce))
    from lti_tool.lti.state import state_cookie_name

    stranger = app.test_client()
    stranger.set_cookie(state_cookie_name(login.state), "guessed-secret")
    refused = stranger.post(
        "/lti/launch", data={"id_token": token, "state": login.state}
    )
    _refused(refused, "state_invalid")

    assert launcher.launch(token, login.state).status_code == 303


def test_state_cookie_is_cleared_after_the_launch(launcher):
    response = launcher.launch_as()
    cleared = [c for c in response.headers.getlist("Set-Cookie") if "lti_state_" in c]
    assert cleared and "Max-Age=0" in cleared[0]


def test_refused_launch_records_the_claimed_issuer(launcher, engine):
    launcher.launch_as(**{LTI + "deployment_id": "unknown"})
    with engine.connect() as connection:
        row = connection.execute(
            select(LaunchFailure.issuer, LaunchFailure.reason)
        ).one()
    assert tuple(row) == ("https://lms.example.edu", "unknown_deployment")


def test_login_pages_are_html(launcher, platform):
    base = {
        "iss": platform.issuer,
        "login_hint": "h",
        "target_link_uri": "http://localhost/lti/launch",
        "client_id": platform.client_id,
    }
    probe = launcher.client.post("/lti/login", data=base)
    storage = launcher.client.post(
        "/lti/login", data={**base, "lti_storage_target": "_parent"}
    )
    assert probe.mimetype == "text/html"
    assert storage.mimetype == "text/html"


def test_concurrent_first_launches_into_one_course_all_succeed(launcher, app, engine):
    import threading

    logins = []
    for _ in range(6):
        client = app.test_client()
        launcher_for = Launcher(client, launcher.platform)
        logins.append((launcher_for, launcher_for.login()))
    statuses: list[int] = []
    barrier = threading.Barrier(len(logins))

    def launch(own: Launcher, login) -> None:  # type: ignore[no-untyped-def]
        token = own.platform.sign(own.platform.claims(login.nonce))
        barrier.wait()
        statuses.append(own.launch(token, login.state).status_code)

    threads = [threading.Thread(target=launch, args=pair) for pair in logins]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [303] * 6
    assert _count(engine, Context) == 1


@pytest.mark.parametrize(
    "claims",
    [
        {LTI + "roles": 7},
        {LTI + "roles": [1, 2]},
        {LTI + "context": "course-1"},
        {LTI + "custom": ["target", "pss"]},
        {LTI + "launch_presentation": "iframe"},
        {LTI + "message_type": ["LtiResourceLinkRequest"]},
        {"given_name": 5},
        {"name": {"first": "A"}},
    ],
)
def test_claims_of_the_wrong_type_get_a_clear_page(launcher, claims):
    _refused(launcher.launch_as(**claims), "bad_token")


def test_token_with_an_enormous_lifetime_is_handled(launcher):
    response = launcher.launch_as(exp=10**30)
    assert response.status_code in (303, 400)


def test_header_with_odd_kid_gets_a_clear_page(launcher):
    import base64
    import json

    login = launcher.login()
    header = base64.urlsafe_b64encode(
        json.dumps({"alg": "RS256", "kid": ["a"], "crit": ["x"]}).encode()
    ).rstrip(b"=")
    body = launcher.platform.sign(launcher.platform.claims(login.nonce)).split(".")[1]
    response = launcher.launch(f"{header.decode()}.{body}.c2ln", login.state)
    assert response.status_code == 400
    assert "Traceback" not in response.text


def test_platform_error_text_cannot_forge_log_lines(client, caplog):
    client.post("/lti/launch", data={"error": "x\nFAKE launch accepted user=1"})
    rejected = [r for r in caplog.records if "launch rejected" in r.getMessage()]
    assert rejected
    from lti_tool.logs import ScrubTokens

    for record in rejected:
        ScrubTokens().filter(record)
        assert "\n" not in record.getMessage()


def test_launch_times_are_recorded_to_the_minute(launcher, engine):
    from lti_tool.models import Registration

    assert launcher.launch_as().status_code == 303
    with engine.connect() as connection:
        first = connection.scalar(select(Registration.last_launch_at))
    assert launcher.launch_as().status_code == 303
    with engine.connect() as connection:
        second = connection.scalar(select(Registration.last_launch_at))
    assert first is not None
    assert second == first


def test_a_refused_page_view_is_not_logged_as_a_launch(client, caplog):
    with caplog.at_level("WARNING"):
        response = client.get("/program?ls=no-such-session")

    assert response.status_code in (401, 403)
    messages = [record.getMessage() for record in caplog.records]
    assert any(m.startswith("page refused reason=session_expired") for m in messages)
    assert not any("launch rejected" in m for m in messages)
