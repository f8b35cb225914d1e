"""Service access tokens: the signed client assertion, the request, the cache."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import jwt
import pytest
import requests
import responses
from jwt.algorithms import RSAAlgorithm

from lti_tool.lti.http import PlatformSession
from lti_tool.lti.keys import KeyRing
from lti_tool.lti.store import SharedStore
from lti_tool.services.errors import PlatformServiceError
from lti_tool.services.token import (
    CLIENT_ASSERTION_TYPE,
    AccessTokens,
    ServiceAccount,
    cache_key,
)
from tests.services_helpers import Clock, MemoryStore, fixture

CANVAS_TOKEN_URL = "https://sso.canvaslms.com/login/oauth2/token"
SCORE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"
LINE_ITEM = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem"
MEMBERSHIP = "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly"


@pytest.fixture
def ring(keys_dir: Path) -> KeyRing:
    from datetime import timedelta

    return KeyRing(keys_dir, timedelta(days=14))


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def store(clock: Clock) -> SharedStore:
    return MemoryStore(clock)


@pytest.fixture
def tokens(store: SharedStore, ring: KeyRing, clock: Clock) -> AccessTokens:
    return AccessTokens(store, PlatformSession(5), ring, clock=clock)


CANVAS = ServiceAccount(1, "170000000000123", CANVAS_TOKEN_URL, CANVAS_TOKEN_URL)


def canvas_token_answer(mock: responses.RequestsMock, **changes: Any) -> None:
    body = {**fixture("canvas/token-response.json")["success"]["body"], **changes}
    mock.post(CANVAS_TOKEN_URL, json=body)


def sent_form(call: Any) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(call.request.body).items()}


def verify_assertion(ring: KeyRing, assertion: str, audience: str) -> dict[str, Any]:
    header = jwt.get_unverified_header(assertion)
    (jwk,) = [k for k in ring.jwks()["keys"] if k["kid"] == header["kid"]]
    claims: dict[str, Any] = jwt.decode(
        assertion,
        RSAAlgorithm.from_jwk(json.dumps(jwk)),
        algorithms=["RS256"],
        audience=audience,
        options={"verify_exp": False, "verify_iat": False},
    )
    return claims


def test_token_request_is_a_client_credentials_grant_canvas_accepts(
    tokens: AccessTokens, ring: KeyRing, clock: Clock
) -> None:
    expected = fixture("canvas/token-request.json")
    with responses.RequestsMock() as mock:
        canvas_token_answer(mock)
        token = tokens.get(CANVAS, [SCORE, LINE_ITEM])
        (call,) = mock.calls

    form = sent_form(call)
    assert (
        token
        == fixture("canvas/token-response.json")["success"]["body"]["access_token"]
    )
    assert form["grant_type"] == expected["form_fields"]["grant_type"]
    assert form["client_assertion_type"] == CLIENT_ASSERTION_TYPE
    assert form["scope"] == f"{LINE_ITEM} {SCORE}"
    assert call.request.headers["Accept"] == "application/json"
    assert call.request.headers["User-Agent"].startswith("peer-support-lti-tool")
    header = jwt.get_unverified_header(form["client_assertion"])
    claims = verify_assertion(ring, form["client_assertion"], CANVAS_TOKEN_URL)
    assert header["kid"] == ring.current().kid
    assert header["alg"] == expected["client_assertion_header"]["alg"]
    assert claims["iss"] == claims["sub"] == "170000000000123"
    assert claims["aud"] == CANVAS_TOKEN_URL
    assert claims["iat"] == int(clock.now)
    assert 0 < claims["exp"] - claims["iat"] <= 60


def test_each_assertion_has_its_own_jti(tokens: AccessTokens, ring: KeyRing) -> None:
    first = tokens.client_assertion(CANVAS)
    second = tokens.client_assertion(CANVAS)

    ids = {verify_assertion(ring, t, CANVAS_TOKEN_URL)["jti"] for t in (first, second)}
    assert len(ids) == 2


def test_assertion_audience_is_the_registered_one_when_it_differs(
    tokens: AccessTokens, ring: KeyRing
) -> None:
    brightspace = ServiceAccount(
        2,
        "d2l-client",
        "https://auth.brightspace.com/core/connect/token",
        "https://api.brightspace.com/auth/token",
    )

    claims = verify_assertion(
        ring,
        tokens.client_assertion(brightspace),
        "https://api.brightspace.com/auth/token",
    )

    assert claims["aud"] == "https://api.brightspace.com/auth/token"


def test_token_is_cached_per_registration_and_scope_set(tokens: AccessTokens) -> None:
    other_client_same_issuer = ServiceAccount(
        3, "170000000000999", CANVAS_TOKEN_URL, CANVAS_TOKEN_URL
    )
    with responses.RequestsMock() as mock:
        canvas_token_answer(mock)
        first = tokens.get(CANVAS, [SCORE, LINE_ITEM])
        again = tokens.get(CANVAS, [LINE_ITEM, SCORE, SCORE])
        tokens.get(CANVAS, [MEMBERSHIP])
        tokens.get(other_client_same_issuer, [SCORE, LINE_ITEM])

        assert first == again
        assert len(mock.calls) == 3
    assert cache_key(CANVAS, [SCORE]) != cache_key(other_client_same_issuer, [SCORE])


def test_another_process_uses_the_token_from_the_shared_store(
    store: SharedStore, ring: KeyRing, clock: Clock
) -> None:
    first = AccessTokens(store, PlatformSession(5), ring, clock=clock)
    second = AccessTokens(store, PlatformSession(5), ring, clock=clock)
    with responses.RequestsMock() as mock:
        canvas_token_answer(mock)
        assert first.get(CANVAS, [SCORE]) == second.get(CANVAS, [SCORE])
        assert len(mock.calls) == 1


def test_token_is_refetched_a_minute_before_it_expires(
    tokens: AccessTokens, clock: Clock
) -> None:
    with responses.RequestsMock() as mock:
        canvas_token_answer(mock, expires_in=3600)
        tokens.get(CANVAS, [SCORE])
        clock.now += 3600 - 61
        tokens.get(CANVAS, [SCORE])
        assert len(mock.calls) == 1
        clock.now += 2
        tokens.get(CANVAS, [SCORE])
        assert len(mock.calls) == 2


def test_discarded_token_is_fetched_again_but_a_newer_one_is_kept(
    tokens: AccessTokens,
) -> None:
    with responses.RequestsMock() as mock:
        mock.post(CANVAS_TOKEN_URL, json={"access_token": "one", "expires_in": 3600})
        mock.post(CANVAS_TOKEN_URL, json={"access_token": "two", "expires_in": 3600})
        assert tokens.get(CANVAS, [SCORE]) == "one"
        tokens.discard(CANVAS, [SCORE], "one")
        assert tokens.get(CANVAS, [SCORE]) == "two"
        tokens.discard(CANVAS, [SCORE], "one")
        assert tokens.get(CANVAS, [SCORE]) == "two"
        assert len(mock.calls) == 2


def test_a_process_waits_for_the_token_another_is_fetching(
    store: MemoryStore, ring: KeyRing
) -> None:
    tokens = AccessTokens(store, PlatformSession(5), ring)
    store.add("lock:" + cache_key(CANVAS, [SCORE]), "other", 10)

    def other_process_finishes() -> None:
        time.sleep(0.2)
        value = json.dumps({"value": "from-other", "expires_at": time.time() + 3600})
        store.put(cache_key(CANVAS, [SCORE]), value, 3000)

    threading.Thread(target=other_process_finishes).start()
    with responses.RequestsMock() as mock:
        assert tokens.get(CANVAS, [SCORE]) == "from-other"
        assert len(mock.calls) == 0


@pytest.mark.parametrize(
    "case",
    fixture("canvas/token-response.json")["errors"],
    ids=lambda case: case["name"],
)
def test_canvas_token_errors_keep_the_platform_answer(
    tokens: AccessTokens, case: dict[str, Any]
) -> None:
    with responses.RequestsMock() as mock:
        mock.post(CANVAS_TOKEN_URL, status=case["status"], json=case["body"])
        with pytest.raises(PlatformServiceError) as raised:
            tokens.get(CANVAS, [SCORE])

    failure = raised.value
    assert failure.status == case["status"]
    assert not failure.is_transient
    assert failure.answer.startswith(case["body"]["error"])
    assert case["body"]["error_description"][:40] in failure.answer


def test_token_endpoint_down_or_slow_is_transient(tokens: AccessTokens) -> None:
    with responses.RequestsMock() as mock:
        mock.post(CANVAS_TOKEN_URL, status=503, body="upstream unavailable")
        with pytest.raises(PlatformServiceError) as down:
            tokens.get(CANVAS, [SCORE])
        mock.replace(
            responses.POST, CANVAS_TOKEN_URL, body=requests.ConnectTimeout("slow")
        )
        with pytest.raises(PlatformServiceError) as slow:
            tokens.get(CANVAS, [SCORE])

    assert down.value.is_transient and down.value.status == 503
    assert slow.value.is_transient and slow.value.status is None
    assert "timed out" in str(slow.value)


def test_answer_without_access_token_is_refused(tokens: AccessTokens) -> None:
    with responses.RequestsMock() as mock:
        mock.post(CANVAS_TOKEN_URL, json={"token_type": "Bearer"})
        with pytest.raises(PlatformServiceError, match="without an access_token"):
            tokens.get(CANVAS, [SCORE])
