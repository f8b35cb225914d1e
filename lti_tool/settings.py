"""Settings: environment variables over an optional TOML file over defaults."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Settings:
    """Everything the tool reads from its environment, with safe defaults."""

    secret_key: str = ""
    database_url: str = f"sqlite:///{PROJECT_ROOT / 'instance' / 'lti_tool.sqlite3'}"
    redis_url: str = ""
    keys_dir: Path = PROJECT_ROOT / "keys"
    content_dir: Path = PROJECT_ROOT / "content"
    # The public base URL the platform sees (scheme + host), used for redirect URIs
    # so they match the registered ones exactly even behind a proxy.
    base_url: str = "http://localhost:8000"
    # Number of reverse proxies in front of us whose X-Forwarded-* we trust.
    trusted_proxies: int = 0
    jwt_leeway_seconds: int = 5
    state_ttl_seconds: int = 600
    session_ttl_seconds: int = 8 * 3600
    key_grace_days: int = 14
    http_timeout_seconds: float = 5.0
    jwks_default_ttl_seconds: int = 3600
    # How long each process reuses a registration it read for logins and
    # launches: disabling or removing one reaches other processes this late.
    registration_cache_seconds: float = 30.0
    # What to do with a deployment id not yet seen for a known registration:
    # "accept" records it, "reject" sends the user back with a message.
    unknown_deployment: str = "reject"
    # Dynamic registration fetches URLs that whoever opens /lti/register names:
    # only these hosts may be fetched (comma-separated; "*.example.edu" covers
    # subdomains; empty allows any public host).
    registration_allowed_hosts: str = ""
    # Loopback, private and reserved addresses are refused unless this is set
    # (the sandbox LMS in development, an LMS on an intranet).
    registration_allow_private: bool = False
    # Dynamically registered platforms wait for a tool administrator to enable
    # them, because anyone can open /lti/register; `lti-tool dev` sets this.
    registration_auto_enable: bool = False
    # Dynamic registration attempts per client address and minute.
    registration_rate_per_minute: int = 10
    sandbox_enabled: bool = False
    sandbox_url: str = "http://127.0.0.1:8001"
    log_level: str = "INFO"
    # The crediting rule (README "How hours are credited").
    credit_video_watched_share: float = 0.9
    credit_reading_complete_share: float = 0.75
    credit_pass_mark: float = 0.7
    credit_daily_cap_minutes: int = 8 * 60
    credit_step_minutes: int = 5
    # How often a study page reports; the server clamps each claim to this.
    heartbeat_seconds: int = 30
    program_timezone: str = "America/Los_Angeles"
    # Field hours logged before half the online part is done: "warn" or "block".
    field_hours_before_readiness: str = "warn"
    # Printed on completion certificates; an empty provider name falls back to the
    # program's `provider` in content/. Certificates are not issued without a signer.
    provider_name: str = ""
    provider_approval_id: str = ""
    certificate_signer_name: str = ""
    certificate_signer_title: str = ""
    # Optional PNG or JPEG of the signer's signature.
    certificate_signature_image: str = ""
    # Certificates and their history are kept at least this long after issue.
    certificate_retention_years: int = 7
    # Certificate look-ups on /verify per client address and minute.
    verify_rate_per_minute: int = 20
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def cookies_secure(self) -> bool:
        """Secure cookies need HTTPS, or a host browsers treat as trustworthy."""
        host = self.base_url.split("://", 1)[-1]
        return self.base_url.startswith("https://") or host.startswith(
            ("localhost", "127.0.0.1")
        )


def _coerce(name: str, raw: Any, default: Any) -> Any:
    if isinstance(default, bool):
        return (
            raw if isinstance(raw, bool) else str(raw).lower() in {"1", "true", "yes"}
        )
    if isinstance(default, int):
        return int(raw)
    if isinstance(default, float):
        return float(raw)
    if isinstance(default, Path):
        return Path(raw)
    return raw


def load_settings(overrides: dict[str, Any] | None = None) -> Settings:
    """Read settings from `LTI_TOOL_CONFIG` (TOML), then `LTI_TOOL_*` variables."""
    values: dict[str, Any] = {}
    config_file = os.environ.get("LTI_TOOL_CONFIG")
    if config_file:
        with open(config_file, "rb") as handle:
            values.update(tomllib.load(handle).get("tool", {}))

    defaults = Settings()
    for item in fields(Settings):
        env_name = "LTI_TOOL_" + item.name.upper()
        if env_name in os.environ:
            values[item.name] = os.environ[env_name]
    # The conventional names win, so platforms like Heroku or systemd units work.
    for conventional, name in (
        ("DATABASE_URL", "database_url"),
        ("REDIS_URL", "redis_url"),
    ):
        if conventional in os.environ:
            values[name] = os.environ[conventional]
    values.update(overrides or {})

    known = {item.name for item in fields(Settings)}
    coerced = {
        name: _coerce(name, raw, getattr(defaults, name))
        for name, raw in values.items()
        if name in known and name != "extra"
    }
    extra = {name: raw for name, raw in values.items() if name not in known}
    return Settings(**coerced, extra=extra)
