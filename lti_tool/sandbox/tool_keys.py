"""The tools' public keys, fetched from their JWKS URLs over HTTP, as Moodle does.

A key set is cached; an unknown `kid` fetches it again once (the tool may have
rotated its key), like Moodle re-downloading after a failed check.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import jwt
import requests
from jwt.algorithms import RSAAlgorithm

# Every call out of the sandbox is bounded and goes nowhere but the tool.
FETCH_TIMEOUT_SECONDS = 5


class ToolKeyError(ValueError):
    """The tool's key set could not be read or has no key for the token."""


class ToolKeys:
    """Key sets by JWKS URL, refetched when a token names an unknown key."""

    def __init__(self) -> None:
        self._sets: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._http = requests.Session()
        # Loopback only: never send the sandbox's requests through a proxy.
        self._http.trust_env = False

    def verify(self, token: str, jwks_url: str, **options: Any) -> dict[str, Any]:
        """Decode a tool-signed JWT with RS256 against its published key."""
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.DecodeError:
            raise ToolKeyError("the JWT is not well formed") from None
        if not kid:
            raise ToolKeyError("the JWT header names no kid")
        key = self._key(jwks_url, str(kid))
        claims: dict[str, Any] = jwt.decode(token, key, algorithms=["RS256"], **options)
        return claims

    def _key(self, jwks_url: str, kid: str) -> Any:
        with self._lock:
            cached = self._sets.get(jwks_url, {})
        if kid not in cached:
            cached = self._fetch(jwks_url)
            with self._lock:
                self._sets[jwks_url] = cached
        if kid not in cached:
            raise ToolKeyError(f"the tool's key set has no key {kid!r}")
        return RSAAlgorithm.from_jwk(json.dumps(cached[kid]))

    def _fetch(self, jwks_url: str) -> dict[str, Any]:
        try:
            response = self._http.get(jwks_url, timeout=FETCH_TIMEOUT_SECONDS)
            response.raise_for_status()
            keys = response.json()["keys"]
        except (requests.RequestException, ValueError, KeyError, TypeError):
            raise ToolKeyError("the tool's key set could not be read") from None
        return {str(key.get("kid")): key for key in keys if isinstance(key, dict)}
