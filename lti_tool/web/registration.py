"""The page a platform opens to register the tool (LTI Dynamic Registration)."""

from __future__ import annotations

import logging

from flask import Blueprint, Flask, current_app, render_template, request

from lti_tool import db
from lti_tool.lti.dynamic_registration import (
    RegistrationClient,
    ToolDescription,
    save_dynamic_registration,
)
from lti_tool.lti.outbound import OutboundPolicy, guarded_session
from lti_tool.lti.registration_errors import (
    ConfigurationInvalid,
    RegistrationFailed,
    RegistrationNotStarted,
    RegistrationThrottled,
)
from lti_tool.ratelimit import per_minute
from lti_tool.registrations import RegistrationError

log = logging.getLogger(__name__)
bp = Blueprint("registration", __name__)


def register(app: Flask) -> None:
    """Attach the blueprint with the policy and session for outbound calls."""
    settings = app.config["SETTINGS"]
    policy = OutboundPolicy.from_settings(settings)
    app.extensions["registration_policy"] = policy
    app.extensions["registration_http"] = guarded_session(
        settings.http_timeout_seconds, policy
    )
    app.register_blueprint(bp)


def tool_description() -> ToolDescription:
    """The tool as this deployment presents itself, from `base_url`."""
    return ToolDescription(current_app.config["SETTINGS"].base_url)


@bp.get("/lti/register")
def start() -> str:
    # Anyone may open this page, and each attempt makes the tool fetch URLs the
    # caller names: a few a minute per address are plenty for a real LMS admin.
    settings = current_app.config["SETTINGS"]
    decision = per_minute(
        current_app.extensions["rate_counter"],
        "register",
        request.remote_addr or "unknown",
        settings.registration_rate_per_minute,
    )
    if not decision.allowed:
        log.warning("dynamic registration rate_limited")
        throttled = RegistrationThrottled()
        throttled.retry_after = decision.retry_after
        raise throttled

    configuration_url = request.args.get("openid_configuration", "").strip()
    token = request.args.get("registration_token", "").strip() or None
    if not configuration_url:
        raise RegistrationNotStarted("the openid_configuration parameter is missing")

    client = RegistrationClient(
        current_app.extensions["registration_http"],
        current_app.extensions["registration_policy"],
        tool_description(),
    )
    outcome = client.register(configuration_url, token)

    # Only now, after the platform said yes, is anything written: in one commit.
    session = db.get_session()
    try:
        registration = save_dynamic_registration(
            session,
            outcome,
            enabled=current_app.config["SETTINGS"].registration_auto_enable,
        )
    except RegistrationError as error:
        raise ConfigurationInvalid(str(error)) from None
    session.commit()
    current_app.extensions["registrations"].forget()
    log.info(
        "dynamic registration stored registration=%s family=%s deployment=%s "
        "enabled=%s",
        registration.id,
        registration.product_family or "-",
        "yes" if outcome.deployment_id else "no",
        registration.is_enabled,
    )
    return render_template(
        "registration/done.html", registration=registration, outcome=outcome
    )


@bp.errorhandler(RegistrationFailed)
def _failed(error: RegistrationFailed) -> tuple[str, int, dict[str, str]]:
    db.get_session().rollback()
    log.warning(
        "dynamic registration failed reason=%s platform_status=%s detail=%s",
        error.reason,
        error.answer.status if error.answer else "-",
        error.detail,
    )
    headers = {}
    if error.retry_after is not None:
        headers["Retry-After"] = str(error.retry_after)
    page = render_template("registration/failed.html", error=error)
    return page, error.status, headers
