"""The tools the sandbox knows: the fixed one and those registered dynamically.

Kept in process memory, like the message hints: the sandbox is one process for
development and tests, and a restart starts with only the fixed client.
"""

from __future__ import annotations

import secrets
import string
import threading
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from lti_tool.sandbox.config import SandboxConfig

# Moodle's registration tokens are valid for an hour.
REGISTRATION_TOKEN_TTL_SECONDS = 3600


@dataclass(frozen=True)
class ToolClient:
    """One client registration of a tool: how to launch it and what it accepts."""

    client_id: str
    deployment_id: str
    login_url: str
    redirect_uris: tuple[str, ...]
    target_link_uri: str
    jwks_uri: str
    name: str
    is_dynamic: bool = False

    @property
    def origin(self) -> str:
        """The tool's origin as browsers report it, from its login URL."""
        parts = urlsplit(self.login_url)
        return f"{parts.scheme}://{parts.netloc}"


def fixed_client(config: SandboxConfig) -> ToolClient:
    """The client the sandbox has from its configuration (manual registration)."""
    return ToolClient(
        client_id=config.client_id,
        deployment_id=config.deployment_id,
        login_url=config.login_url,
        redirect_uris=(config.redirect_uri,),
        target_link_uri=config.redirect_uri,
        jwks_uri=config.tool_jwks_url,
        name="Peer Support Training",
    )


class ToolClients:
    """Every client the sandbox will launch; one process, guarded by a lock."""

    def __init__(self, config: SandboxConfig) -> None:
        self.fixed = fixed_client(config)
        self._clients = {self.fixed.client_id: self.fixed}
        self._lock = threading.Lock()

    def find(self, client_id: str) -> ToolClient | None:
        """The client with this id, if registered."""
        with self._lock:
            return self._clients.get(client_id)

    def add_dynamic(
        self,
        *,
        login_url: str,
        redirect_uris: tuple[str, ...],
        target_link_uri: str,
        jwks_uri: str,
        name: str,
    ) -> ToolClient:
        """Register a tool under a new client_id and deployment, as Moodle does."""
        with self._lock:
            number = len(self._clients) + 1
            client = ToolClient(
                client_id=_new_client_id(),
                deployment_id=f"sandbox-deployment-{number}",
                login_url=login_url,
                redirect_uris=redirect_uris,
                target_link_uri=target_link_uri,
                jwks_uri=jwks_uri,
                name=name,
                is_dynamic=True,
            )
            self._clients[client.client_id] = client
        return client

    def dynamic(self) -> list[ToolClient]:
        """The dynamically registered clients, oldest first."""
        with self._lock:
            return [client for client in self._clients.values() if client.is_dynamic]


def _new_client_id() -> str:
    # Fifteen letters and digits, the shape of Moodle's client ids.
    alphabet = string.ascii_letters + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(15))


class RegistrationTokens:
    """Single-use, one-hour registration tokens handed to the tool in the URL."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        # token → (expires at, used)
        self._tokens: dict[str, tuple[float, bool]] = {}
        self._lock = threading.Lock()

    def issue(self) -> str:
        """A new token for one registration attempt."""
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._drop_expired()
            expires_at = self._clock() + REGISTRATION_TOKEN_TTL_SECONDS
            self._tokens[token] = (expires_at, False)
        return token

    def check(self, token: str) -> str:
        """An empty string when the token may register a tool, else why not."""
        with self._lock:
            return self._problem(token)

    def claim(self, token: str) -> str:
        """Like check, and spend the token in the same step when it is good."""
        with self._lock:
            problem = self._problem(token)
            if not problem:
                self._tokens[token] = (self._tokens[token][0], True)
            return problem

    def _problem(self, token: str) -> str:
        entry = self._tokens.get(token)
        if entry is None or entry[0] <= self._clock():
            return "invalid_registration_token"
        return "token_already_used" if entry[1] else ""

    def _drop_expired(self) -> None:
        now = self._clock()
        for token in [
            key for key, (expiry, _) in self._tokens.items() if expiry <= now
        ]:
            del self._tokens[token]
