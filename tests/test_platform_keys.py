"""Platform JWKS: cached by Cache-Control, refetched once on an unknown kid."""

from __future__ import annotations

import pytest
import requests
import responses

from lti_tool.lti.errors import BadSignature, PlatformKeysUnavailable
from lti_tool.lti.http import PlatformSession
from lti_tool.lti.platform_keys import PlatformKeys
from lti_tool.lti.store import DatabaseStore
from tests.platform import SigningPlatform

URL = "https://lms.example.edu/jwks"


@pytest.fixture
def keys(engine):  # type: ignore[no-untyped-def]
    return PlatformKeys(DatabaseStore(engine), PlatformSession(2.0), default_ttl=3600)


@responses.activate
def test_key_set_is_fetched_once_while_fresh(keys):
    platform = SigningPlatform()
    responses.get(URL, json=platform.jwks(), headers={"Cache-Control": "max-age=600"})

    keys.key_for(URL, platform.kid)
    keys.key_for(URL, platform.kid)
    assert len(responses.calls) == 1


@responses.activate
def test_no_cache_header_refetches_each_time(keys):
    platform = SigningPlatform()
    responses.get(URL, json=platform.jwks(), headers={"Cache-Control": "no-cache"})

    keys.key_for(URL, platform.kid)
    keys.key_for(URL, platform.kid)
    assert len(responses.calls) == 2


@responses.activate
def test_shared_cache_serves_another_process(engine):
    platform = SigningPlatform()
    responses.get(URL, json=platform.jwks())
    first = PlatformKeys(DatabaseStore(engine), PlatformSession(2.0), 3600)
    second = PlatformKeys(DatabaseStore(engine), PlatformSession(2.0), 3600)

    first.key_for(URL, platform.kid)
    second.key_for(URL, platform.kid)
    assert len(responses.calls) == 1


@responses.activate
def test_unknown_kid_refetches_once_and_finds_rotated_key(keys):
    old, rotated = SigningPlatform(kid="old"), SigningPlatform(kid="new")
    responses.get(URL, json=old.jwks(), headers={"Cache-Control": "max-age=3600"})
    keys.key_for(URL, "old")
    responses.replace(responses.GET, URL, json=rotated.jwks())

    assert keys.key_for(URL, "new") is not None
    assert len(responses.calls) == 2


@responses.activate
def test_unknown_kid_flood_refetches_only_once(keys):
    platform = SigningPlatform()
    responses.get(URL, json=platform.jwks(), headers={"Cache-Control": "max-age=3600"})
    keys.key_for(URL, platform.kid)

    for attempt in range(5):
        with pytest.raises(BadSignature):
            keys.key_for(URL, f"forged-{attempt}")
    assert len(responses.calls) == 2


@responses.activate
def test_key_without_alg_is_usable(keys):
    platform = SigningPlatform()
    jwks = platform.jwks()
    del jwks["keys"][0]["alg"]
    responses.get(URL, json=jwks)
    assert keys.key_for(URL, platform.kid).algorithm_name == "RS256"


@responses.activate
def test_unreachable_key_set_is_a_clear_error(keys):
    responses.get(URL, body=requests.ConnectTimeout())
    with pytest.raises(PlatformKeysUnavailable):
        keys.key_for(URL, "any")


@responses.activate
def test_every_call_has_a_timeout():
    session = PlatformSession(3.5)
    responses.get(URL, json={})
    seen: dict[str, object] = {}
    original = requests.adapters.HTTPAdapter.send

    def spy(self, request, **kwargs):  # type: ignore[no-untyped-def]
        seen["timeout"] = kwargs.get("timeout")
        return original(self, request, **kwargs)

    requests.adapters.HTTPAdapter.send = spy  # type: ignore[method-assign]
    try:
        session.get(URL)
    finally:
        requests.adapters.HTTPAdapter.send = original  # type: ignore[method-assign]
    assert seen["timeout"] == 3.5


@responses.activate
def test_rotated_key_found_by_one_worker_is_used_by_the_others(engine):
    old, rotated = SigningPlatform(kid="old"), SigningPlatform(kid="new")
    both = {"keys": old.jwks()["keys"] + rotated.jwks()["keys"]}
    responses.get(URL, json=old.jwks(), headers={"Cache-Control": "max-age=3600"})
    first = PlatformKeys(DatabaseStore(engine), PlatformSession(2.0), 3600)
    second = PlatformKeys(DatabaseStore(engine), PlatformSession(2.0), 3600)
    first.key_for(URL, "old")
    second.key_for(URL, "old")

    responses.replace(responses.GET, URL, json=both)
    assert first.key_for(URL, "new") is not None
    assert second.key_for(URL, "new") is not None
    assert len(responses.calls) == 2
