"""Flask application factory for the peer-support training LTI tool."""

from __future__ import annotations

import logging
import secrets
from datetime import timedelta
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from lti_tool import db
from lti_tool.catalog import load_app_catalog
from lti_tool.logs import configure_logging
from lti_tool.lti.directory import RegistrationDirectory
from lti_tool.lti.http import PlatformSession
from lti_tool.lti.keys import KeyRing
from lti_tool.lti.platform_keys import PlatformKeys
from lti_tool.lti.store import make_store
from lti_tool.ratelimit import make_counter
from lti_tool.settings import PROJECT_ROOT, Settings, load_settings

log = logging.getLogger(__name__)


def create_app(overrides: dict[str, Any] | None = None) -> Flask:
    """Build the tool from settings; `overrides` are for tests and the CLI."""
    settings: Settings = load_settings(overrides)
    configure_logging(settings.log_level)

    app = Flask(
        __name__,
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder="web/static",
    )
    app.config["SETTINGS"] = settings
    # Nothing the tool accepts is larger than a 10 MB paper upload; form fields
    # (an id_token, a pasted paper) stay under 1 MB.
    app.config["MAX_CONTENT_LENGTH"] = 12 * 1024 * 1024
    app.config["MAX_FORM_MEMORY_SIZE"] = 1024 * 1024
    # A random key per process would break sessions across workers, so only a
    # single-process development run may go without one.
    app.secret_key = settings.secret_key or _development_secret(app)
    if settings.trusted_proxies:
        count = settings.trusted_proxies
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=count, x_proto=count, x_host=count, x_port=count
        )

    engine = db.make_engine(settings.database_url)
    db.init_app(app, engine)
    store = make_store(engine, settings.redis_url)
    http = PlatformSession(settings.http_timeout_seconds)
    app.extensions["store"] = store
    app.extensions["http"] = http
    app.extensions["key_ring"] = KeyRing(
        settings.keys_dir, timedelta(days=settings.key_grace_days)
    )
    app.extensions["platform_keys"] = PlatformKeys(
        store, http, settings.jwks_default_ttl_seconds
    )
    app.extensions["registrations"] = RegistrationDirectory(
        engine, settings.registration_cache_seconds
    )
    app.extensions["catalog"] = load_app_catalog(settings.content_dir)
    # Per-minute counters for the public pages that must not be hammered.
    app.extensions["rate_counter"] = make_counter(engine, settings.redis_url)

    from lti_tool.hours.rules import round_down_to_quarter_hour
    from lti_tool.web import register_blueprints

    # Hours anywhere on a page: minutes, rounded down to the quarter hour.
    app.jinja_env.filters["hours"] = lambda minutes: _hours_text(
        round_down_to_quarter_hour(int(minutes or 0))
    )

    register_blueprints(app)
    return app


def _hours_text(hours: float) -> str:
    """3.75 → "3.75", 3.5 → "3.5", 23 → "23.0": quarters shown exactly."""
    text = f"{hours:.2f}"
    return text[:-1] if text.endswith("0") else text


def _development_secret(app: Flask) -> str:
    log.warning("config problem=no_secret_key using a random per-process key")
    return secrets.token_hex(32)
