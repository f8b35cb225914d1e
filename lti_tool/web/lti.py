"""LTI endpoints: OIDC login initiation, launch, and the tool's public keys."""

from __future__ import annotations

import hmac
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
from werkzeug.wrappers import Response

from lti_tool import db
from lti_tool.catalog import is_known_target
from lti_tool.launches import record_launch
from lti_tool.lti.claims import DEEP_LINKING_REQUEST
from lti_tool.lti.errors import (
    BadToken,
    CookiesBlocked,
    MethodNotAllowed,
    PlatformRefused,
    StateMismatch,
)
from lti_tool.lti.launch import LaunchValidator
from lti_tool.lti.login import LOGIN_PARAMETERS, start_login
from lti_tool.lti.state import LoginState, proof_of, state_cookie_name, storage_key
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
    params = {
        name: request.values[name]
        for name in LOGIN_PARAMETERS
        if name in request.values
    }
    settings = _settings()
    started = start_login(
        db.get_session(),
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
    elif COOKIES_OK in request.cookies or request.values.get("new_window"):
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
    if not state:
        raise StateMismatch("the launch carried no state")

    cookie_secret = request.cookies.get(state_cookie_name(state), "")
    if cookie_secret:
        login = _take_login(state, cookie_secret)
        response = _complete_launch(id_token, login, cookies_work=True)
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
    if not id_token or not state:
        raise StateMismatch("the platform-storage launch was incomplete")
    login = _take_login(state, request.form.get("browser_secret", ""))
    return _complete_launch(id_token, login, cookies_work=False)


def _pending_login(state: str) -> LoginState:
    raw = current_app.extensions["store"].get("state:" + state)
    if raw is None:
        raise StateMismatch("the state is unknown, expired or already used")
    return LoginState.from_json(raw)


def _take_login(state: str, browser_secret: str) -> LoginState:
    """The login for this state, once, and only for the browser that started it."""
    # Check before taking, so a stranger holding the state cannot spend it.
    _check_browser(_pending_login(state), browser_secret)
    raw = current_app.extensions["store"].take("state:" + state)
    if raw is None:
        raise StateMismatch("the state was used by a launch a moment ago")
    return LoginState.from_json(raw)


def _check_browser(login: LoginState, browser_secret: str) -> None:
    if not browser_secret or not hmac.compare_digest(
        proof_of(browser_secret), login.browser_proof
    ):
        raise StateMismatch(
            "the browser secret does not match the login",
            registration_id=login.registration_id,
        )


def _complete_launch(
    id_token: str, login: LoginState, *, cookies_work: bool
) -> Response:
    settings = _settings()
    session = db.get_session()
    validator = LaunchValidator(
        session,
        current_app.extensions["store"],
        current_app.extensions["platform_keys"],
        leeway=settings.jwt_leeway_seconds,
        accept_new_deployments=settings.unknown_deployment == "accept",
    )
    launch = validator.validate(id_token, login)
    catalog = current_app.extensions["catalog"]
    token, visit, target = record_launch(
        session,
        launch,
        settings.session_ttl_seconds,
        lambda candidate: is_known_target(catalog, candidate),
    )
    session.commit()
    log.info(
        "launch accepted registration=%s deployment=%s context=%s user=%s role=%s "
        "message=%s path=%s",
        launch.registration.id,
        launch.deployment.id,
        visit.context.id,
        visit.user.id,
        visit.role.value,
        launch.message_type,
        "cookie" if cookies_work else "platform_storage",
    )

    deep_linking = launch.message_type == DEEP_LINKING_REQUEST
    landing = "deep_linking.picker" if deep_linking else "program.home"
    response = redirect(url_for(landing, ls=token), code=303)
    if cookies_work:
        set_frame_cookie(response, COOKIES_OK, "1", 30 * 24 * 3600)
    delete_frame_cookie(response, PROBE)
    return response
