"""The sandbox LMS application factory."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

from flask import Flask, render_template
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response

from lti_tool.sandbox.advantage import blueprint as advantage_blueprint
from lti_tool.sandbox.auth import InvalidAuthRequest
from lti_tool.sandbox.config import PLATFORM_NAME, SandboxConfig, check_config
from lti_tool.sandbox.course_tools import blueprint as course_tools_blueprint
from lti_tool.sandbox.gradebook import GradeBook
from lti_tool.sandbox.hints import MessageHintStore
from lti_tool.sandbox.keys import load_or_create_key
from lti_tool.sandbox.registration import blueprint as registration_blueprint
from lti_tool.sandbox.state import SandboxState
from lti_tool.sandbox.tool_keys import ToolKeys
from lti_tool.sandbox.tools import RegistrationTokens, ToolClients
from lti_tool.sandbox.views import blueprint

logger = logging.getLogger(__name__)

_PACKAGE_DIR = Path(__file__).resolve().parent


def create_sandbox_app(
    config: SandboxConfig, *, clock: Callable[[], float] = time.time
) -> Flask:
    """Build the sandbox platform; `clock` lets tests move time forward."""
    check_config(config)
    app = Flask(
        __name__,
        template_folder=str(_PACKAGE_DIR / "templates"),
        static_folder=str(_PACKAGE_DIR / "static"),
    )

    state = SandboxState(
        config=config,
        key=load_or_create_key(config.key_path),
        hints=MessageHintStore(config.message_hint_ttl_seconds, clock),
        clock=clock,
        clients=ToolClients(config),
        registration_tokens=RegistrationTokens(clock),
        book=GradeBook(config, clock),
        tool_keys=ToolKeys(),
    )
    state.attach(app)
    app.register_blueprint(blueprint)
    app.register_blueprint(registration_blueprint)
    app.register_blueprint(advantage_blueprint)
    app.register_blueprint(course_tools_blueprint)
    app.jinja_env.globals["course_links"] = state.book.links
    app.register_error_handler(InvalidAuthRequest, _invalid_auth_request)
    app.register_error_handler(HTTPException, _http_error)
    app.jinja_env.globals["platform_name"] = PLATFORM_NAME
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True

    logger.info("sandbox ready issuer=%s tool=%s", config.issuer, config.tool_url)
    return app


def _invalid_auth_request(error: InvalidAuthRequest) -> tuple[str, int]:
    # Like Moodle's auth.php: a page for the person, nothing posted to the tool.
    logger.warning("auth request rejected reason=%s", error.reason)
    page = render_template(
        "error.html", title="Invalid request", description=error.description
    )
    return page, 400


def _http_error(error: HTTPException) -> Response:
    # Keep the exception's own headers (Allow on a 405) around a readable page.
    response = error.get_response()
    response.set_data(
        render_template("error.html", title=error.name, description=error.description)
    )
    response.content_type = "text/html; charset=utf-8"
    return response
