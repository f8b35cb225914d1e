"""Where the sandbox lives, which tool it launches, and what the tool registers."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

PLATFORM_NAME = "Sandbox LMS"
_REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class SandboxConfig:
    """The sandbox's own origin, the tool it launches and its registration ids."""

    # The sandbox's origin; it is also the issuer, like Moodle's wwwroot.
    base_url: str = "http://127.0.0.1:8001"
    # A different site from base_url on purpose, so third-party cookie rules apply.
    tool_url: str = "http://localhost:8000"
    key_path: Path = _REPO_ROOT / "keys" / "sandbox-platform.pem"
    client_id: str = "sandbox-client"
    deployment_id: str = "sandbox-deployment-1"
    message_hint_ttl_seconds: int = 300
    id_token_ttl_seconds: int = 60
    access_token_ttl_seconds: int = 3600
    # Learners in each course who never launch: the roster service lists them.
    roster_size: int = 4
    # Small pages, so a tool that reads only the first one is caught.
    members_page_size: int = 3
    line_items_page_size: int = 10
    # Fault injection for tests: every `fault_every`-th service request fails,
    # with a 500 ("error"), by answering only after `fault_sleep_seconds`
    # ("timeout"; the work is done, the answer comes too late), or alternating
    # ("mixed"). 0 turns it off.
    fault_every: int = 0
    fault_mode: str = "mixed"
    fault_sleep_seconds: float = 6.0
    # A slow platform: every service answer waits this long (after the work).
    latency_seconds: float = 0.0

    @property
    def issuer(self) -> str:
        """The `iss` of every token, the sandbox origin without a trailing slash."""
        return self.base_url.rstrip("/")

    @property
    def tool_origin(self) -> str:
        """The tool's origin as browsers report it in `event.origin`."""
        parts = urlsplit(self.tool_url)
        return f"{parts.scheme}://{parts.netloc}"

    @property
    def login_url(self) -> str:
        """The tool's OIDC login initiation URL."""
        return f"{self.tool_url.rstrip('/')}/lti/login"

    @property
    def redirect_uri(self) -> str:
        """The one redirect URI registered for the tool, matched exactly."""
        return f"{self.tool_url.rstrip('/')}/lti/launch"

    @property
    def tool_jwks_url(self) -> str:
        """Where the tool publishes its public keys."""
        return f"{self.tool_url.rstrip('/')}/.well-known/jwks.json"

    def url(self, path: str) -> str:
        """An absolute URL on the sandbox for a path starting with a slash."""
        return f"{self.issuer}{path}"


def check_config(config: SandboxConfig) -> None:
    """Refuse URLs that are not plain http(s) origins, and empty identifiers."""
    for label, value in (("base_url", config.base_url), ("tool_url", config.tool_url)):
        parts = urlsplit(value)
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            raise ValueError(f"{label} must be an http(s) URL, got {value!r}")
        if parts.path.strip("/") or parts.query or parts.fragment:
            raise ValueError(f"{label} must be an origin without a path, got {value!r}")
    if not config.client_id.strip() or not config.deployment_id.strip():
        raise ValueError("client_id and deployment_id must not be empty")
    if config.fault_mode not in {"error", "timeout", "mixed"}:
        raise ValueError("fault_mode must be error, timeout or mixed")


def sandbox_registration(config: SandboxConfig) -> dict[str, Any]:
    """What the tool must register to accept launches from this sandbox."""
    return {
        "issuer": config.issuer,
        "client_id": config.client_id,
        "auth_login_url": config.url("/auth"),
        "auth_token_url": config.url("/token"),
        "key_set_url": config.url("/.well-known/jwks.json"),
        "deployment_ids": [config.deployment_id],
        "name": PLATFORM_NAME,
    }
