"""Fetching URLs that someone else named, without reaching into our own network.

Dynamic registration makes the tool fetch whatever configuration URL the person
opening /lti/register passes, so each URL is checked before any connection is
made: http(s) only, no credentials, an allowed host, and (unless allowed) public
addresses only. The socket is checked again once connected, because a name may
resolve differently the second time (DNS rebinding).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from lti_tool.lti.http import PlatformSession

Resolver = Callable[[str, int], list[str]]
_DEFAULT_PORTS = {"http": 80, "https": 443}


class UnsafeUrl(ValueError):
    """A URL the tool refuses to fetch; the message names the URL's host only."""


def system_resolver(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for host:port."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


def parse_host_patterns(raw: str) -> tuple[str, ...]:
    """`a.edu, *.b.edu` → ("a.edu", "*.b.edu"), lower-cased, blanks dropped."""
    return tuple(item.strip().lower() for item in raw.split(",") if item.strip())


@dataclass(frozen=True)
class OutboundPolicy:
    """Which URLs the tool may fetch on behalf of someone it does not know."""

    allowed_hosts: tuple[str, ...] = ()
    allow_private: bool = False
    resolver: Resolver = system_resolver

    @classmethod
    def from_settings(cls, settings: Any) -> OutboundPolicy:
        """The policy for dynamic registration, from the tool's settings."""
        return cls(
            allowed_hosts=parse_host_patterns(settings.registration_allowed_hosts),
            allow_private=settings.registration_allow_private,
        )

    def check_url(self, url: str, *, check_host: bool = True) -> None:
        """Raise UnsafeUrl unless `url` may be fetched."""
        # Endpoints that an already-checked platform names (its JWKS, its token
        # URL) may live on other hosts, so only their addresses are checked.
        parts = urlsplit(url)
        if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
            raise UnsafeUrl("only http and https addresses can be used")
        host = parts.hostname.lower()
        if parts.username is not None or parts.password is not None:
            raise UnsafeUrl(f"the address for {host} carries a user name or password")
        if check_host and not self.is_allowed_host(host):
            raise UnsafeUrl(f"{host} is not one of the hosts allowed to register")

        try:
            port = parts.port or _DEFAULT_PORTS[parts.scheme]
        except ValueError:
            raise UnsafeUrl(f"the address for {host} has an invalid port") from None
        self.check_addresses(host, self._resolve(host, port))

    def is_allowed_host(self, host: str) -> bool:
        """Whether `host` matches the allowed list; any host when the list is empty."""
        if not self.allowed_hosts:
            return True
        return any(host_matches(host, pattern) for pattern in self.allowed_hosts)

    def check_addresses(self, host: str, addresses: Iterable[str]) -> None:
        """Refuse the host if any one of its addresses is off limits."""
        for address in addresses:
            if not self.is_allowed_address(address):
                raise UnsafeUrl(f"{host} is on a private or reserved network")

    def is_allowed_address(self, address: str) -> bool:
        """Public addresses always; loopback and private ones only when allowed."""
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        # No LMS lives on link-local addresses, but cloud metadata services do,
        # so those stay refused even when private networks are allowed.
        if ip.is_link_local or ip.is_multicast or ip.is_unspecified:
            return False
        return ip.is_global or self.allow_private

    def _resolve(self, host: str, port: int) -> list[str]:
        try:
            addresses = self.resolver(host, port)
        except (OSError, UnicodeError):
            raise UnsafeUrl(f"{host} could not be found") from None
        if not addresses:
            raise UnsafeUrl(f"{host} could not be found")
        return addresses


def host_matches(host: str, pattern: str) -> bool:
    """`pattern` is a host name, or `*.example.edu` for any of its subdomains."""
    host, pattern = host.lower(), pattern.lower()
    if pattern.startswith("*."):
        return host.endswith(pattern[1:])
    return host == pattern


class PeerCheckingAdapter(HTTPAdapter):
    """Checks the address each new connection reached before sending a byte."""

    def __init__(self, policy: OutboundPolicy) -> None:
        # HTTPAdapter.__init__ builds the pool manager, which needs the policy.
        self._policy = policy
        super().__init__(max_retries=0)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _checked_pools(self._policy)


def _checked_pools(policy: OutboundPolicy) -> dict[str, type[HTTPConnectionPool]]:
    def check(sock: socket.socket, host: str) -> socket.socket:
        if not policy.is_allowed_address(sock.getpeername()[0]):
            sock.close()
            raise UnsafeUrl(f"{host} is on a private or reserved network")
        return sock

    class CheckedHTTPConnection(HTTPConnection):
        def _new_conn(self) -> socket.socket:
            return check(super()._new_conn(), self.host)

    class CheckedHTTPSConnection(HTTPSConnection):
        def _new_conn(self) -> socket.socket:
            return check(super()._new_conn(), self.host)

    class CheckedHTTPPool(HTTPConnectionPool):
        ConnectionCls = CheckedHTTPConnection

    class CheckedHTTPSPool(HTTPSConnectionPool):
        ConnectionCls = CheckedHTTPSConnection

    return {"http": CheckedHTTPPool, "https": CheckedHTTPSPool}


def guarded_session(timeout: float, policy: OutboundPolicy) -> requests.Session:
    """A platform session (timeout, User-Agent) whose connections are checked.

    Proxies from the environment are ignored: through a proxy the connected
    address would be the proxy's, and the check would prove nothing.
    """
    session = PlatformSession(timeout)
    session.trust_env = False
    adapter = PeerCheckingAdapter(policy)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
