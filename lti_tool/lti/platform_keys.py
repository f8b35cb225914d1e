"""Platform public keys: fetched from the registered JWKS URL, cached, refreshed.

The cache lives in the shared store so every worker benefits from one fetch; each
process also keeps the parsed keys for as long as the shared copy is valid, since
turning a JWK into a key object costs more than verifying a signature.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from dataclasses import dataclass
from typing import Any

import requests
from jwt import PyJWK
from jwt.exceptions import PyJWKError

from lti_tool.lti.errors import BadSignature, PlatformKeysUnavailable
from lti_tool.lti.store import SharedStore

log = logging.getLogger(__name__)

MIN_TTL = 0
MAX_TTL = 24 * 3600
# An unknown kid triggers at most one refetch per key set URL in this window, so a
# flood of forged kids cannot turn us into a traffic source against the platform.
REFETCH_WINDOW = 30


@dataclass
class _Parsed:
    expires_at: float
    keys: dict[str, PyJWK]
    anonymous: list[PyJWK]


def _ttl_from_headers(headers: Any, default: int) -> int:
    cache_control = headers.get("Cache-Control", "").lower()
    if "no-store" in cache_control or "no-cache" in cache_control:
        return MIN_TTL
    match = re.search(r"max-age=(\d+)", cache_control)
    if match:
        return max(MIN_TTL, min(MAX_TTL, int(match.group(1))))
    return default


def _parse(document: dict[str, Any], expires_at: float) -> _Parsed:
    keys: dict[str, PyJWK] = {}
    anonymous: list[PyJWK] = []
    for jwk in document.get("keys", []):
        if jwk.get("use", "sig") != "sig" or jwk.get("kty") != "RSA":
            continue
        try:
            # Some platforms (D2L) omit "alg"; RS256 is what LTI 1.3 requires.
            key = PyJWK(jwk, algorithm=jwk.get("alg", "RS256"))
        except PyJWKError:
            log.warning(
                "platform jwk skipped reason=unparseable kid=%s", jwk.get("kid")
            )
            continue
        if jwk.get("kid"):
            keys[jwk["kid"]] = key
        else:
            anonymous.append(key)
    return _Parsed(expires_at=expires_at, keys=keys, anonymous=anonymous)


class PlatformKeys:
    """Finds the key that signed a platform's message."""

    def __init__(
        self, store: SharedStore, http: requests.Session, default_ttl: int
    ) -> None:
        self._store = store
        self._http = http
        self._default_ttl = default_ttl
        self._parsed: dict[str, _Parsed] = {}

    def key_for(self, key_set_url: str, kid: str | None) -> PyJWK:
        """The key with this kid, refetching the set once if the kid is new."""
        parsed = self._load(key_set_url)
        key = self._pick(parsed, kid)
        if key is not None:
            return key

        # Another worker may already have fetched the platform's new key set.
        shared = self._from_store(key_set_url)
        key = self._pick(shared, kid) if shared is not None else None
        if key is not None:
            return key

        store_key = "jwks_refetch:" + _digest(key_set_url)
        if self._store.add(store_key, "1", REFETCH_WINDOW):
            log.info("platform jwks refetch reason=unknown_kid url=%s", key_set_url)
            parsed = self._fetch(key_set_url)
            key = self._pick(parsed, kid)
        if key is None:
            raise BadSignature("no key in the platform key set matches the token's kid")
        return key

    @staticmethod
    def _pick(parsed: _Parsed, kid: str | None) -> PyJWK | None:
        if kid:
            return parsed.keys.get(kid)
        if len(parsed.anonymous) + len(parsed.keys) == 1:
            return (parsed.anonymous or list(parsed.keys.values()))[0]
        return None

    def _load(self, key_set_url: str) -> _Parsed:
        now = time.time()
        parsed = self._parsed.get(key_set_url)
        if parsed is not None and parsed.expires_at > now:
            return parsed

        return self._from_store(key_set_url) or self._fetch(key_set_url)

    def _from_store(self, key_set_url: str) -> _Parsed | None:
        cached = self._store.get("jwks:" + _digest(key_set_url))
        if cached is None:
            return None
        entry = json.loads(cached)
        parsed = _parse(entry["document"], entry["expires_at"])
        self._parsed[key_set_url] = parsed
        return parsed

    def _fetch(self, key_set_url: str) -> _Parsed:
        try:
            response = self._http.get(key_set_url)
            response.raise_for_status()
            document = response.json()
        except (requests.RequestException, ValueError) as error:
            log.warning(
                "platform jwks fetch failed url=%s error=%s",
                key_set_url,
                type(error).__name__,
            )
            raise PlatformKeysUnavailable(f"fetching {key_set_url} failed") from None

        ttl = _ttl_from_headers(response.headers, self._default_ttl)
        expires_at = time.time() + ttl
        if ttl > 0:
            entry = {"document": document, "expires_at": expires_at}
            self._store.put("jwks:" + _digest(key_set_url), json.dumps(entry), ttl)
        parsed = _parse(document, expires_at)
        self._parsed[key_set_url] = parsed
        return parsed


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:32]
