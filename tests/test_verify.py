"""Public verification: valid, superseded, revoked and unknown numbers; rate limits."""

from __future__ import annotations

import os
import threading
import uuid

import pytest
from flask import Flask
from sqlalchemy import event
from sqlalchemy.orm import Session

from lti_tool import create_app
from lti_tool.certificates.numbers import new_number
from lti_tool.certificates.service import Issuer, correct_legal_name, revoke
from lti_tool.models import Certificate
from lti_tool.ratelimit import DatabaseCounter, RedisCounter, per_minute
from lti_tool.settings import load_settings
from tests.certificate_helpers import (
    CERTIFICATE_SETTINGS,
    LEGAL_NAME,
    LMS_NAME,
    claim,
    complete_program,
    launch_learner,
    visible_text,
)
from tests.conftest import TOOL_URL


def make_app(database_url, keys_dir, **extra) -> Flask:  # type: ignore[no-untyped-def]
    return create_app(
        {
            "database_url": database_url,
            "keys_dir": keys_dir,
            "base_url": TOOL_URL,
            "secret_key": "test-secret",
            "redis_url": "",
            **CERTIFICATE_SETTINGS,
            **extra,
        }
    )


@pytest.fixture
def app(database_url, keys_dir):  # type: ignore[no-untyped-def]
    return make_app(database_url, keys_dir)


@pytest.fixture
def number(app, client, launcher, engine) -> str:  # type: ignore[no-untyped-def]
    """A PSS certificate issued through the participant's pages."""
    token = launch_learner(launcher)
    complete_program(app, engine)
    return claim(client, token)


@pytest.fixture
def public(app):  # type: ignore[no-untyped-def]
    """A browser with no launch, no cookies: a reviewer or an employer."""
    return app.test_client()


def test_a_valid_number_shows_name_program_hours_and_dates(public, number):
    response = public.get(f"/verify/{number}")

    assert response.status_code == 200
    text = visible_text(response.text)
    assert "Valid certificate" in text
    for fact in (
        number,
        f"Name {LEGAL_NAME}",
        "Program Medi-Cal Peer Support Specialist Training",
        "Course hours 80 hours",
        "Supervised internship (in addition to the course) 20 hours",
        "Course started",
        "Course completed",
        "Certificate issued",
    ):
        assert fact in text, fact
    # Nothing else about the person: not their LMS name, course or account.
    assert LMS_NAME not in text
    assert "PSS Cohort" not in text
    assert "learner-1" not in text
    assert "Set-Cookie" not in response.headers


def test_typed_numbers_are_forgiven_case_and_spacing(public, number):
    typed = number.lower().replace("-", " ")
    response = public.get("/verify", query_string={"number": typed})
    assert response.status_code == 200
    assert "Valid certificate" in response.text


def test_an_unknown_number_is_not_found(public, number):
    for unknown in (new_number("pss"), "garbage", number[:-1], "'; DROP TABLE x"):
        response = public.get("/verify", query_string={"number": unknown})
        assert response.status_code == 404, unknown
        assert "No certificate with this number" in response.text
        assert LEGAL_NAME not in visible_text(response.text)


def test_there_is_no_search_by_name(public, number):
    by_name = public.get("/verify", query_string={"name": LEGAL_NAME})
    as_number = public.get("/verify", query_string={"number": LEGAL_NAME})

    assert by_name.status_code == 200
    assert "Certificate number" in by_name.text and LEGAL_NAME not in by_name.text
    assert as_number.status_code == 404
    assert LEGAL_NAME not in visible_text(as_number.text)


def test_a_revoked_certificate_says_so_without_the_reason(app, public, number, engine):
    with Session(engine) as session:
        certificate = session.query(Certificate).one()
        revoke(session, certificate, certificate.user_id, "Hours entered twice")
        session.commit()

    response = public.get(f"/verify/{number}")

    assert response.status_code == 200
    text = visible_text(response.text)
    assert "Revoked on" in text and "Valid certificate" not in text
    assert "Hours entered twice" not in text
    assert LEGAL_NAME in text


def test_a_reissued_certificate_points_to_its_replacement(public, number, engine):
    issuer = Issuer.from_settings(load_settings(CERTIFICATE_SETTINGS))
    with Session(engine) as session:
        certificate = session.query(Certificate).one()
        new = correct_legal_name(
            session, issuer, certificate, "Alexandra Rivera", certificate.user_id
        )
        session.commit()
        new_number_issued = new.number

    old_page = public.get(f"/verify/{number}")
    new_page = public.get(f"/verify/{new_number_issued}")

    assert "Replaced by a reissued certificate" in old_page.text
    assert new_number_issued in old_page.text
    assert "Valid certificate" in new_page.text
    assert "Alexandra Rivera" in new_page.text


def test_the_public_certificate_view_needs_only_the_number(public, number):
    response = public.get(f"/verify/{number}/certificate")
    unknown = public.get(f"/verify/{new_number('pss')}/certificate")

    assert response.status_code == 200
    text = visible_text(response.text)
    assert "Certificate of Completion" in text and LEGAL_NAME in text
    assert f"Certificate number: {number}" in text
    assert unknown.status_code == 404
    assert "No certificate with this number" in unknown.text


def test_verification_pages_refuse_to_be_framed_and_carry_no_session(public, number):
    for path in ("/verify", f"/verify/{number}", f"/verify/{number}/certificate"):
        response = public.get(path)
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["Referrer-Policy"] == "no-referrer"
        assert "ls=" not in response.text


def test_found_and_unknown_numbers_do_the_same_database_work(app, public, number):
    statements: list[str] = []
    engine = app.extensions["db_engine"]

    def record(conn, cursor, statement, *args):  # type: ignore[no-untyped-def]
        statements.append(statement.split()[0])

    event.listen(engine, "before_cursor_execute", record)
    try:
        public.get(f"/verify/{number}")
        found = list(statements)
        statements.clear()
        public.get(f"/verify/{new_number('pss')}")
        unknown = list(statements)
    finally:
        event.remove(engine, "before_cursor_execute", record)
    # The rate counter's upsert plus the same look-ups, whatever the answer.
    assert found == unknown
    assert len(found) >= 3


# --------------------------------------------------------------- rate limiting


@pytest.fixture
def limited(database_url, keys_dir):  # type: ignore[no-untyped-def]
    return make_app(database_url, keys_dir, verify_rate_per_minute=3).test_client()


def test_lookups_beyond_the_limit_get_429_with_retry_after(limited, number):
    answers = [limited.get(f"/verify/{number}").status_code for _ in range(3)]
    blocked = limited.get(f"/verify/{number}")
    unknown_blocked = limited.get("/verify", query_string={"number": "x"})
    form = limited.get("/verify")

    assert answers == [200, 200, 200]
    assert blocked.status_code == 429
    assert 1 <= int(blocked.headers["Retry-After"]) <= 60
    assert "Too many checks" in blocked.text and LEGAL_NAME not in blocked.text
    assert unknown_blocked.status_code == 429
    assert form.status_code == 200  # the empty form is not a look-up


def test_the_limit_is_per_client_address(limited, number):
    for _ in range(4):
        limited.get(f"/verify/{number}", environ_base={"REMOTE_ADDR": "10.0.0.1"})
    other = limited.get(f"/verify/{number}", environ_base={"REMOTE_ADDR": "10.0.0.2"})
    first = limited.get(f"/verify/{number}", environ_base={"REMOTE_ADDR": "10.0.0.1"})
    assert other.status_code == 200
    assert first.status_code == 429


def test_behind_a_proxy_the_forwarded_address_is_limited(
    database_url, keys_dir, number
):
    client = make_app(
        database_url, keys_dir, verify_rate_per_minute=2, trusted_proxies=1
    ).test_client()

    def ask(address: str) -> int:
        return client.get(
            f"/verify/{number}", headers={"X-Forwarded-For": address}
        ).status_code

    assert [ask("203.0.113.7") for _ in range(3)] == [200, 200, 429]
    assert ask("203.0.113.8") == 200


@pytest.fixture(params=["database", "redis"])
def counter(request, engine):  # type: ignore[no-untyped-def]
    if request.param == "database":
        return DatabaseCounter(engine)
    url = os.environ.get("LTI_TOOL_TEST_REDIS_URL")
    if not url:
        pytest.skip("LTI_TOOL_TEST_REDIS_URL not set (make test sets it)")
    return RedisCounter(url, prefix=f"test-{uuid.uuid4().hex[:8]}:")


def test_counter_loses_no_hits_under_concurrency(counter):
    key = f"k-{uuid.uuid4().hex}"
    results: list[int] = []

    def hit_five_times() -> None:
        for _ in range(5):
            results.append(counter.hit(key, ttl=60))

    threads = [threading.Thread(target=hit_five_times) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert sorted(results) == list(range(1, 21))


def test_per_minute_allows_up_to_the_limit_then_says_when_to_return(counter):
    client = f"client-{uuid.uuid4().hex}"
    minute = 29_000_000 * 60.0  # the start of some minute
    decisions = [
        per_minute(counter, "test", client, 2, now=minute + 15) for _ in range(3)
    ]
    next_minute = per_minute(counter, "test", client, 2, now=minute + 61)

    assert [d.allowed for d in decisions] == [True, True, False]
    assert decisions[2].retry_after == 45
    assert next_minute.allowed


def test_expired_windows_are_swept(engine):
    counter = DatabaseCounter(engine)
    counter.hit("old", ttl=-1)
    counter.hit("current", ttl=60)
    assert counter.purge_expired() == 1
    assert counter.hit("current", ttl=60) == 2
