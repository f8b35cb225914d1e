"""LTI endpoints: OIDC login initiation, launch, and the tool's public keys."""

from __future__ import annotations

import logging
from urllib.parse import urlencode, urlsplit

from flask import (
    Blueprint,
    current_app,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from sqlalchemy.exc import IntegrityError
from werkzeug.wrappers import Response

from lti_tool import db
from lti_tool.catalog import is_known_target
from lti_tool.launch_records import LaunchNotWritten
from lti_tool.launches import record_launch
from lti_tool.lti.claims import DEEP_LINKING_REQUEST
from lti_tool.lti.directory import RegistrationDirectory
from lti_tool.lti.errors import (
    BadToken,
    CookiesBlocked,
    LaunchBusy,
    MethodNotAllowed,
    PlatformRefused,
    RegistrationChanged,
    StateMismatch,
)
from lti_tool.lti.launch import LaunchValidator
from lti_tool.lti.login import LOGIN_PARAMETERS, start_login
from lti_tool.lti.state import (
    LoginState,
    could_be_ours,
    state_cookie_name,
    storage_key,
)
from lti_tool.settings import Settings
from lti_tool.web.cookies import delete_frame_cookie, set_frame_cookie

log = logging.getLogger(__name__)
bp = Blueprint("lti", __name__)

# Set after a launch whose state cookie arrived: this browser keeps our cookies in
# the frame, so later logins can skip the cookie probe page.
COOKIES_OK = "lti_cookies_ok"
PROBE = "lti_cookie_probe"


def _settings() -> Settings:
    settings: Settings = current_app.config["SETTINGS"]
    return settings


def redirect_uri() -> str:
    """Exactly the URI registered with platforms: never with a query string."""
    return _settings().base_url.rstrip("/") + "/lti/launch"


@bp.get("/.well-known/jwks.json")
def jwks() -> Response:
    response = jsonify(current_app.extensions["key_ring"].jwks())
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@bp.route("/lti/login", methods=["GET", "POST"])
def login() -> Response | str:
    values = request.values  # a new combined view on every access
    params = {name: values[name] for name in LOGIN_PARAMETERS if name in values}
    settings = _settings()
    started = start_login(
        current_app.extensions["registrations"],
        current_app.extensions["store"],
        params,
        redirect_uri=redirect_uri(),
        tool_origin=_origin(settings.base_url),
        state_ttl=settings.state_ttl_seconds,
    )

    if started.storage_target:
        page = render_template(
            "lti/login.html",
            mode="storage",
            auth_url=started.auth_url,
            storage_target=started.storage_target,
            platform_origin=started.platform_origin,
            storage_key=storage_key(started.state),
            browser_secret=started.browser_secret,
            new_window_url=_new_window_url(params),
        )
        response = Response(page, mimetype="text/html")
        set_frame_cookie(response, PROBE, "1", 600, httponly=False)
    elif COOKIES_OK in request.cookies or values.get("new_window"):
        response = redirect(started.auth_url, code=302)
    else:
        page = render_template(
            "lti/login.html",
            mode="cookie",
            auth_url=started.auth_url,
            new_window_url=_new_window_url(params),
        )
        response = Response(page, mimetype="text/html")
        set_frame_cookie(response, PROBE, "1", 600, httponly=False)

    cookie_lifetime = settings.state_ttl_seconds
    set_frame_cookie(
        response,
        state_cookie_name(started.state),
        started.browser_secret,
        cookie_lifetime,
    )
    return response


def _new_window_url(params: dict[str, str]) -> str:
    """The same login in a top-level window, where first-party cookies work."""
    kept = {k: v for k, v in params.items() if k != "lti_storage_target"}
    return (
        url_for("lti.login", _external=False)
        + "?"
        + urlencode({**kept, "new_window": "1"})
    )


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


@bp.route("/lti/launch", methods=["GET", "POST"])
def launch() -> Response | str:
    if request.method != "POST":
        raise MethodNotAllowed("the launch URL was opened with GET")
    if "error" in request.form:
        raise PlatformRefused(
            f"the platform answered error={request.form['error'][:40]}"
        )
    id_token = request.form.get("id_token", "")
    state = request.form.get("state", "")
    if not id_token:
        raise BadToken("the launch carried no id_token")
    if not could_be_ours(state):
        raise StateMismatch("the launch carried no state, or not one of ours")

    cookie_secret = request.cookies.get(state_cookie_name(state), "")
    if cookie_secret:
        response = _complete_launch(id_token, state, cookie_secret, cookies_work=True)
        delete_frame_cookie(response, state_cookie_name(state))
        return response

    login = _pending_login(state)
    if not login.storage_target:
        raise CookiesBlocked("no state cookie and no platform storage")
    # No cookie came back: ask the platform's storage for the browser secret.
    return render_template(
        "lti/launch_storage.html",
        id_token=id_token,
        state=state,
        storage_target=login.storage_target,
        platform_origin=login.platform_origin,
        storage_key=storage_key(state),
    )


@bp.post("/lti/launch/storage")
def launch_from_storage() -> Response:
    state = request.form.get("state", "")
    id_token = request.form.get("id_token", "")
    if not id_token or not could_be_ours(state):
        raise StateMismatch("the platform-storage launch was incomplete")
    browser_secret = request.form.get("browser_secret", "")
    return _complete_launch(id_token, state, browser_secret, cookies_work=False)


def _pending_login(state: str) -> LoginState:
    raw = current_app.extensions["store"].get("state:" + state)
    if raw is None:
        raise StateMismatch("the state is unknown, expired or already used")
    return LoginState.from_record(raw)


def _complete_launch(
    id_token: str, state: str, browser_secret: str, *, cookies_work: bool
) -> Response:
    settings = _settings()
    registrations: RegistrationDirectory = current_app.extensions["registrations"]
    validator = LaunchValidator(
        registrations,
        current_app.extensions["store"],
        current_app.extensions["platform_keys"],
        leeway=settings.jwt_leeway_seconds,
        accept_new_deployments=settings.unknown_deployment == "accept",
    )
    launch = validator.validate(id_token, state, browser_secret)
    catalog = current_app.extensions["catalog"]
    try:
        recorded = record_launch(
            db.get_engine(),
            launch,
            settings.session_ttl_seconds,
            lambda candidate: is_known_target(catalog, candidate),
        )
    except IntegrityError:
        # The registration or deployment this process had cached was removed
        # (or removed and added again) by another process.
        registrations.forget()
        raise RegistrationChanged(registration_id=launch.registration.id) from None
    except LaunchNotWritten:
        raise LaunchBusy(registration_id=launch.registration.id) from None
    registrations.note_launch(launch.registration.id, launch.deployment_pk)
    log.info(
        "launch accepted registration=%s deployment=%s context=%s user=%s role=%s "
        "message=%s path=%s",
        launch.registration.id,
        launch.deployment_pk,
        recorded.context_pk,
        recorded.user_id,
        recorded.role.value,
        launch.message_type,
        "cookie" if cookies_work else "platform_storage",
    )

    deep_linking = launch.message_type == DEEP_LINKING_REQUEST
    landing = "deep_linking.picker" if deep_linking else "program.home"
    response = redirect(url_for(landing, ls=recorded.token), code=303)
    if cookies_work:
        set_frame_cookie(response, COOKIES_OK, "1", 30 * 24 * 3600)
    delete_frame_cookie(response, PROBE)
    return response
