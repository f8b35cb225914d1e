"""Access tokens for LTI Advantage services: OAuth 2 client credentials.

The tool proves who it is with a JWT signed by its current key (RFC 7523). Tokens
are cached in the shared store per (registration, sorted scope set) until a
minute before they expire, so every worker and host uses the same token and a
platform sees one token request per registration and scope set, not one per
process. See https://www.imsglobal.org/spec/security/v1p0/#using-json-web-tokens-with-oauth-2-0-client-credentials-grant
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

import jwt
import requests

from lti_tool.lti.dynamic_registration import CANVAS_CLOUD_ISSUERS
from lti_tool.lti.keys import KeyRing
from lti_tool.lti.outbound import UnsafeUrl, host_matches
from lti_tool.lti.store import SharedStore
from lti_tool.models import Registration
from lti_tool.services.errors import (
    PlatformServiceError,
    from_exception,
    from_response,
    refused_address,
    refused_redirect,
)

log = logging.getLogger(__name__)

CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
# Refresh this long before the platform's expiry, so no call carries a token
# that dies in flight.
EXPIRY_MARGIN_SECONDS = 60
ASSERTION_LIFETIME_SECONDS = 60
# Used when a platform leaves out expires_in (Moodle and Canvas send 3600).
DEFAULT_LIFETIME_SECONDS = 600
LOCK_POLL_SECONDS = 0.05
# Canvas cloud serves each school's services from the school's own domain.
CANVAS_SERVICE_HOSTS = ("*.instructure.com:443",)
_DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class CachedToken:
    value: str
    expires_at: float


@dataclass(frozen=True)
class ServiceAccount:
    """What the token endpoint needs of a registration, safe to pass to threads."""

    registration_id: int
    client_id: str
    token_url: str
    audience: str
    # `host:port` (or `*.domain:port`) the platform's service URLs may name;
    # the token URL's own host is always allowed.
    service_hosts: tuple[str, ...] = ()

    @classmethod
    def of(cls, registration: Registration) -> ServiceAccount:
        # Canvas wants exactly the token URL as audience; D2L names its own.
        audience = registration.auth_audience or registration.auth_token_url
        return cls(
            registration.id,
            registration.client_id,
            registration.auth_token_url,
            audience,
            registration_service_hosts(registration),
        )

    def allows(self, url: str) -> bool:
        """Whether a service URL from a launch is on one of the platform's hosts.

        Launch claims name the URLs the tool then calls with its token; a URL
        elsewhere would make the tool fetch whatever a platform (or a forged
        claim) names.
        """
        origin = _host_port(url)
        if origin is None:
            return False
        host, port = origin
        for pattern in (*self.service_hosts, _joined(_host_port(self.token_url))):
            pattern_host, _, pattern_port = pattern.rpartition(":")
            if pattern_port == str(port) and host_matches(host, pattern_host):
                return True
        return False


def registration_service_hosts(registration: Registration) -> tuple[str, ...]:
    """The hosts a registration names (issuer, login, token, keys), plus Canvas's."""
    urls = (
        registration.issuer,
        registration.auth_login_url,
        registration.auth_token_url,
        registration.key_set_url,
    )
    hosts = {_joined(_host_port(url)) for url in urls} - {""}
    if registration.issuer in CANVAS_CLOUD_ISSUERS:
        hosts.update(CANVAS_SERVICE_HOSTS)
    return tuple(sorted(hosts))


def _host_port(url: str) -> tuple[str, int] | None:
    """(host, port) of an http(s) URL without credentials; None otherwise."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    if parts.username is not None or parts.password is not None:
        return None
    return parts.hostname.lower(), port or _DEFAULT_PORTS[parts.scheme]


def _joined(origin: tuple[str, int] | None) -> str:
    return f"{origin[0]}:{origin[1]}" if origin else ""


def scope_set(scopes: Iterable[str]) -> tuple[str, ...]:
    """Scopes as the cache knows them: unique and sorted."""
    return tuple(sorted(set(scopes)))


def cache_key(account: ServiceAccount, scopes: Iterable[str]) -> str:
    """The store key for one registration's token for one scope set."""
    digest = hashlib.sha256(" ".join(scope_set(scopes)).encode()).hexdigest()[:32]
    return f"access_token:{account.registration_id}:{digest}"


class AccessTokens:
    """Fetches and caches service tokens; safe to share between threads."""

    def __init__(
        self,
        store: SharedStore,
        http: requests.Session,
        key_ring: KeyRing,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._http = http
        self._key_ring = key_ring
        self._clock = clock
        # A per-process copy of the shared entry saves a store read per call.
        self._memory: dict[str, CachedToken] = {}
        self._lock = threading.Lock()

    def get(self, account: ServiceAccount, scopes: Iterable[str]) -> str:
        """A valid token for these scopes: cached, or fetched once for everyone."""
        key = cache_key(account, scopes)
        cached = self._cached(key)
        if cached is not None:
            return cached
        lock_key = "lock:" + key
        lock_ttl = int(getattr(self._http, "timeout", 10)) + 5
        if self._store.add(lock_key, "1", lock_ttl):
            try:
                return self._fetch_and_cache(account, scopes, key)
            finally:
                self._store.take(lock_key)
        # Another process is fetching this very token: wait for it, then fetch
        # ourselves only if it never arrives.
        deadline = self._clock() + lock_ttl
        while self._clock() < deadline:
            time.sleep(LOCK_POLL_SECONDS)
            cached = self._cached(key)
            if cached is not None:
                return cached
            if self._store.get(lock_key) is None:
                break
        return self._fetch_and_cache(account, scopes, key)

    def discard(
        self, account: ServiceAccount, scopes: Iterable[str], token: str
    ) -> None:
        """Forget a token the platform refused (401), unless already replaced."""
        key = cache_key(account, scopes)
        with self._lock:
            if key in self._memory and self._memory[key].value == token:
                del self._memory[key]
        raw = self._store.get(key)
        if raw is not None and json.loads(raw).get("value") == token:
            self._store.take(key)

    def client_assertion(self, account: ServiceAccount) -> str:
        """The signed JWT that authenticates the tool at the token endpoint."""
        key = self._key_ring.current()
        now = int(self._clock())
        claims = {
            "iss": account.client_id,
            "sub": account.client_id,
            "aud": account.audience,
            "iat": now,
            "exp": now + ASSERTION_LIFETIME_SECONDS,
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(
            claims, key.private_pem, algorithm="RS256", headers={"kid": key.kid}
        )

    def _cached(self, key: str) -> str | None:
        now = self._clock()
        with self._lock:
            memory = self._memory.get(key)
        if memory is not None and memory.expires_at - EXPIRY_MARGIN_SECONDS > now:
            return memory.value
        raw = self._store.get(key)
        if raw is None:
            return None
        entry = CachedToken(**json.loads(raw))
        if entry.expires_at - EXPIRY_MARGIN_SECONDS <= now:
            return None
        with self._lock:
            self._memory[key] = entry
        return entry.value

    def _fetch_and_cache(
        self, account: ServiceAccount, scopes: Iterable[str], key: str
    ) -> str:
        value, lifetime = self._fetch(account, scope_set(scopes))
        entry = CachedToken(value, self._clock() + lifetime)
        ttl = int(lifetime - EXPIRY_MARGIN_SECONDS)
        if ttl > 0:
            self._store.put(key, json.dumps(entry.__dict__), ttl)
            with self._lock:
                self._memory[key] = entry
        return value

    def _fetch(
        self, account: ServiceAccount, scopes: tuple[str, ...]
    ) -> tuple[str, float]:
        url = account.token_url
        form = {
            "grant_type": "client_credentials",
            "client_assertion_type": CLIENT_ASSERTION_TYPE,
            "client_assertion": self.client_assertion(account),
            "scope": " ".join(scopes),
        }
        try:
            response = self._http.post(
                url,
                data=form,
                headers={"Accept": "application/json"},
                allow_redirects=False,
            )
        except UnsafeUrl:
            failure = refused_address(url, "token endpoint")
            _log_failure(failure, account)
            raise failure from None
        except requests.RequestException as error:
            failure = from_exception(error, url, "access token request failed")
            _log_failure(failure, account)
            raise failure from None
        if response.is_redirect or 300 <= response.status_code < 400:
            failure = refused_redirect(response, "token endpoint")
            _log_failure(failure, account)
            raise failure
        if not response.ok:
            failure = from_response(response, "the platform refused an access token")
            _log_failure(failure, account)
            raise failure
        return _read_token(response, account)


def _read_token(
    response: requests.Response, account: ServiceAccount
) -> tuple[str, float]:
    try:
        body = response.json()
        value = body["access_token"]
    except (ValueError, KeyError, TypeError):
        raise PlatformServiceError(
            "the token endpoint answered without an access_token",
            url=response.url,
            status=response.status_code,
        ) from None
    if not isinstance(value, str) or not value:
        raise PlatformServiceError(
            "the token endpoint answered with an empty access_token",
            url=response.url,
            status=response.status_code,
        )
    lifetime = body.get("expires_in")
    if not isinstance(lifetime, int | float) or lifetime <= 0:
        lifetime = DEFAULT_LIFETIME_SECONDS
    log.info(
        "access token fetched registration=%s expires_in=%s",
        account.registration_id,
        int(lifetime),
    )
    return value, float(lifetime)


def _log_failure(failure: PlatformServiceError, account: ServiceAccount) -> None:
    log.warning(
        "platform service failing service=token registration=%s status=%s url=%s",
        account.registration_id,
        failure.status,
        failure.url,
    )
