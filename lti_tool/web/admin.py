"""The administrator's pages: registrations, deployments, failures, keys.

First-party pages (never inside an LMS frame): the sign-in lives in Flask's
signed session cookie (SameSite=Lax, HttpOnly, Secure where possible) and every
form carries Flask-WTF's CSRF token. Only this blueprint is CSRF-checked: the
LTI endpoints receive cross-site form posts by design and prove themselves with
signed tokens and state instead.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import (
    Blueprint,
    Flask,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_wtf.csrf import (  # type: ignore[import-untyped]
    CSRFError,
    CSRFProtect,
)
from sqlalchemy import select
from werkzeug.exceptions import NotFound
from werkzeug.wrappers import Response

from lti_tool import db
from lti_tool.admin_accounts import authenticate
from lti_tool.lti.dynamic_registration import ToolDescription
from lti_tool.lti.errors import NotPermitted
from lti_tool.lti.outbound import UnsafeUrl
from lti_tool.models import Deployment, LaunchFailure, Registration
from lti_tool.registrations import (
    RegistrationError,
    RegistrationInput,
    list_registrations,
    save_registration,
    validate,
)
from lti_tool.web.admin_access import (
    ADMIN_SESSION_SECONDS,
    AdminViewer,
    SignInThrottle,
    current_viewer,
    sign_in_account,
    sign_in_from_launch,
    sign_out,
)

log = logging.getLogger(__name__)
bp = Blueprint("admin", __name__, url_prefix="/admin")
csrf = CSRFProtect()

FAILURES_SHOWN = 20
ENDPOINT_FIELDS = ("auth_login_url", "auth_token_url", "key_set_url")


def register(app: Flask) -> None:
    """Attach the blueprint, the session cookie settings and CSRF protection."""
    settings = app.config["SETTINGS"]
    app.config.update(
        SESSION_COOKIE_NAME="lti_tool_admin",
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.cookies_secure,
        SESSION_COOKIE_HTTPONLY=True,
        # Checked only where this blueprint asks (see the module docstring).
        WTF_CSRF_CHECK_DEFAULT=False,
        WTF_CSRF_TIME_LIMIT=ADMIN_SESSION_SECONDS,
    )
    csrf.init_app(app)
    app.register_blueprint(bp)


@bp.before_request
def _check_csrf() -> None:
    if request.method == "POST":
        csrf.protect()


@bp.after_request
def _first_party_headers(response: Response) -> Response:
    # Unlike the LTI pages, these must never be framed (clickjacking), and a
    # same-origin Referer lets Flask-WTF check HTTPS form posts.
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; script-src 'self'; style-src 'self'; "
        "img-src 'self' data:; frame-ancestors 'none'; form-action 'self'; "
        "base-uri 'none'"
    )
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    return response


@bp.errorhandler(CSRFError)
def _csrf_refused(error: CSRFError) -> tuple[str, int]:
    log.warning("admin form refused reason=csrf path=%s", request.path)
    page = render_template(
        "error.html",
        title="This form has expired",
        advice="Reload the page and submit the form again.",
        detail="",
        reason="csrf_invalid",
    )
    return page, 400


def _viewer() -> AdminViewer | None:
    return current_viewer(db.get_session())


def _require_viewer() -> AdminViewer:
    viewer = _viewer()
    if viewer is None:
        raise _SignInRequired()
    return viewer


def _require_tool_admin() -> AdminViewer:
    viewer = _require_viewer()
    if not viewer.is_tool_admin:
        raise NotPermitted("only the tool's own administrators may do this")
    return viewer


class _SignInRequired(Exception):
    """No admin session: send the browser to the sign-in page."""


@bp.errorhandler(_SignInRequired)
def _to_sign_in(_error: _SignInRequired) -> Response:
    return redirect(url_for("admin.sign_in"), code=303)


def _visible_registration(viewer: AdminViewer, registration_id: int) -> Registration:
    registration = db.get_session().get(Registration, registration_id)
    if registration is None:
        raise NotFound()
    if not viewer.can_see(registration.id):
        raise NotPermitted("this registration belongs to another platform")
    return registration


@bp.get("/")
def index() -> Response:
    _require_viewer()
    return redirect(url_for("admin.registrations"), code=303)


@bp.route("/sign-in", methods=["GET", "POST"])
def sign_in() -> Response | tuple[str, int] | str:
    if request.method == "GET":
        return render_template("admin/sign_in.html")

    username = request.form.get("username", "").strip()[:80]
    password = request.form.get("password", "")
    address = request.remote_addr or "-"
    throttle = SignInThrottle(current_app.extensions["store"])
    if throttle.reserve(username, address) is None:
        log.warning("admin sign-in refused reason=throttled")
        message = "Too many failed sign-ins. Wait 15 minutes, then try again."
        return render_template("admin/sign_in.html", error=message), 429

    session = db.get_session()
    account = authenticate(session, username, password)
    if account is None:
        # The slot reserved above stays taken: it counts this failure.
        log.warning("admin sign-in refused reason=wrong_credentials")
        message = "The user name or the password is wrong."
        return render_template("admin/sign_in.html", error=message), 401

    throttle.clear(username, address)
    session.commit()
    sign_in_account(account)
    log.info("admin signed in account=%s", account.id)
    return redirect(url_for("admin.registrations"), code=303)


@bp.post("/sign-out")
def sign_out_view() -> Response:
    sign_out()
    return redirect(url_for("admin.sign_in"), code=303)


@bp.get("/from-launch")
def from_launch() -> Response:
    """Where an LMS system administrator's launch links to (in a new window)."""
    token = request.args.get("ls", "")
    registration_id = sign_in_from_launch(db.get_session(), token)
    log.info("admin signed in from launch registration=%s", registration_id)
    return redirect(
        url_for("admin.registration", registration_id=registration_id), code=303
    )


@bp.get("/registrations")
def registrations() -> str:
    viewer = _require_viewer()
    session = db.get_session()
    visible = [item for item in list_registrations(session) if viewer.can_see(item.id)]
    # Failures with no registration (unknown issuer or client_id) are the
    # typical first-setup mistake; only tool admins may see other platforms'.
    unattributed = _failures(None) if viewer.is_tool_admin else []
    key_ring = current_app.extensions["key_ring"]
    return render_template(
        "admin/registrations.html",
        viewer=viewer,
        registrations=visible,
        unattributed=unattributed,
        tool=ToolDescription(current_app.config["SETTINGS"].base_url),
        keys=key_ring.published() if viewer.is_tool_admin else [],
        current_kid=key_ring.current().kid if viewer.is_tool_admin else "",
    )


@bp.get("/registrations/<int:registration_id>")
def registration(registration_id: int) -> str:
    viewer = _require_viewer()
    return _registration_page(viewer, _visible_registration(viewer, registration_id))


def _registration_page(
    viewer: AdminViewer,
    registration: Registration,
    *,
    error: str = "",
    form: dict[str, Any] | None = None,
) -> str:
    return render_template(
        "admin/registration.html",
        viewer=viewer,
        registration=registration,
        failures=_failures(registration.id),
        error=error,
        form=form or {},
    )


def _failures(registration_id: int | None) -> list[LaunchFailure]:
    column = LaunchFailure.registration_id
    matches = column.is_(None) if registration_id is None else column == registration_id
    query = (
        select(LaunchFailure)
        .where(matches)
        .order_by(LaunchFailure.id.desc())
        .limit(FAILURES_SHOWN)
    )
    return list(db.get_session().scalars(query))


@bp.post("/registrations/<int:registration_id>/enabled")
def set_enabled(registration_id: int) -> Response:
    # A platform admin who disabled their own registration could not launch to
    # enable it again, so only tool admins switch registrations on and off.
    viewer = _require_tool_admin()
    registration = _visible_registration(viewer, registration_id)
    registration.is_enabled = request.form.get("enabled") == "1"
    db.get_session().commit()
    _registrations_changed()

    state = "enabled" if registration.is_enabled else "disabled"
    log.info("registration %s registration=%s", state, registration.id)
    flash(f"The registration is now {state}.")
    return redirect(url_for("admin.registration", registration_id=registration.id))


@bp.post("/registrations/<int:registration_id>/endpoints")
def edit_endpoints(registration_id: int) -> Response | tuple[str, int]:
    viewer = _require_viewer()
    registration = _visible_registration(viewer, registration_id)
    form = {name: request.form.get(name, "").strip() for name in request.form}
    data = RegistrationInput(
        issuer=registration.issuer,
        client_id=registration.client_id,
        auth_login_url=form.get("auth_login_url", ""),
        auth_token_url=form.get("auth_token_url", ""),
        key_set_url=form.get("key_set_url", ""),
        name=form.get("name", "")[:200],
        auth_audience=form.get("auth_audience") or None,
    )

    session = db.get_session()
    try:
        validate(data)
        _check_fetched_urls(data)
        save_registration(session, data)
    except (RegistrationError, UnsafeUrl) as error:
        session.rollback()
        page = _registration_page(viewer, registration, error=str(error), form=form)
        return page, 400
    session.commit()
    _registrations_changed()
    log.info("registration endpoints edited registration=%s", registration.id)
    flash("The endpoints are saved.")
    return redirect(url_for("admin.registration", registration_id=registration.id))


def _check_fetched_urls(data: RegistrationInput) -> None:
    """The key set and token URLs are fetched by the server: no internal hosts."""
    policy = current_app.extensions["registration_policy"]
    for url in (data.key_set_url, data.auth_token_url):
        if url:
            policy.check_url(url, check_host=False)


@bp.post("/registrations/<int:registration_id>/deployments")
def add_deployment(registration_id: int) -> Response | tuple[str, int]:
    viewer = _require_viewer()
    registration = _visible_registration(viewer, registration_id)
    deployment_id = request.form.get("deployment_id", "").strip()
    if not deployment_id or len(deployment_id) > 255:
        error = "A deployment ID is 1 to 255 characters, as the LMS shows it."
        return _registration_page(viewer, registration, error=error), 400

    if registration.find_deployment(deployment_id) is None:
        registration.deployments.append(Deployment(deployment_id=deployment_id))
        db.get_session().commit()
        _registrations_changed()
        log.info("deployment added registration=%s", registration.id)
    flash("The deployment is registered.")
    return redirect(url_for("admin.registration", registration_id=registration.id))


def _registrations_changed() -> None:
    # Logins and launches in this process see the change at once; other
    # processes within `registration_cache_seconds`.
    current_app.extensions["registrations"].forget()


@bp.post("/keys/rotate")
def rotate_keys() -> Response:
    # One key pair signs for every platform, so only tool admins rotate it.
    _require_tool_admin()
    kid = current_app.extensions["key_ring"].rotate()
    log.info("tool key rotated from admin page kid=%s", kid)
    flash("A new signing key is in use; the previous one stays published.")
    return redirect(url_for("admin.registrations"))
