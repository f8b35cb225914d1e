"""OIDC third-party initiated login: check the request, remember it, redirect.

The authentication request is always a GET to the platform (Moodle's session
cookie is SameSite=Lax, so a cross-site POST would arrive without it), echoes
`lti_message_hint` byte for byte and uses the exact registered redirect URI.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

from lti_tool.lti.claims import is_identifier
from lti_tool.lti.directory import RegistrationDirectory
from lti_tool.lti.errors import BadLogin, DisabledPlatform, UnknownPlatform
from lti_tool.lti.state import LoginState, proof_of
from lti_tool.lti.store import SharedStore

log = logging.getLogger(__name__)

MAX_TARGET_LINK_URI = 2048

LOGIN_PARAMETERS = (
    "iss",
    "login_hint",
    "target_link_uri",
    "lti_message_hint",
    "client_id",
    "lti_deployment_id",
    "deployment_id",
    "lti_storage_target",
)


@dataclass(frozen=True)
class LoginRedirect:
    """Where to send the browser, and what it must remember."""

    auth_url: str
    state: str
    browser_secret: str
    storage_target: str
    platform_origin: str
    registration_id: int


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def start_login(
    directory: RegistrationDirectory,
    store: SharedStore,
    params: Mapping[str, str],
    *,
    redirect_uri: str,
    tool_origin: str,
    state_ttl: int,
) -> LoginRedirect:
    """Validate a login initiation and prepare the authentication request."""
    issuer = params.get("iss", "")
    login_hint = params.get("login_hint", "")
    target_link_uri = params.get("target_link_uri", "")
    client_id = params.get("client_id") or None
    storage_target = params.get("lti_storage_target", "")
    if not issuer or not login_hint or not target_link_uri:
        raise BadLogin("iss, login_hint and target_link_uri are all required")
    # Both are kept with the login until its launch: no real LMS sends more.
    if len(target_link_uri) > MAX_TARGET_LINK_URI or len(storage_target) > 100:
        raise BadLogin("target_link_uri or lti_storage_target is too long")
    if not is_identifier(issuer, 512) or not (
        client_id is None or is_identifier(client_id)
    ):
        raise UnknownPlatform("iss or client_id cannot be a registered value")
    # Only our own pages may be targets: anything else would make us an open redirect.
    try:
        target_origin = _origin(target_link_uri)
    except ValueError:
        raise BadLogin("target_link_uri is not a URL") from None
    if target_origin != tool_origin:
        raise BadLogin("target_link_uri does not point at this tool")

    registration = directory.find(issuer, client_id)
    if registration is None:
        raise UnknownPlatform("no registration for this issuer and client_id")
    if not registration.is_enabled:
        raise DisabledPlatform(registration_id=registration.id)

    state = secrets.token_urlsafe(32)
    nonce = secrets.token_urlsafe(32)
    browser_secret = secrets.token_urlsafe(32)
    platform_origin = _origin(registration.auth_login_url)
    login = LoginState(
        registration_id=registration.id,
        nonce=nonce,
        browser_proof=proof_of(browser_secret),
        target_link_uri=target_link_uri,
        storage_target=storage_target,
        platform_origin=platform_origin,
    )
    store.put("state:" + state, login.to_record(), state_ttl)

    auth_params = {
        "scope": "openid",
        "response_type": "id_token",
        "response_mode": "form_post",
        "prompt": "none",
        "client_id": registration.client_id,
        "redirect_uri": redirect_uri,
        "login_hint": login_hint,
        "state": state,
        "nonce": nonce,
    }
    if "lti_message_hint" in params:
        auth_params["lti_message_hint"] = params["lti_message_hint"]
    separator = "&" if "?" in registration.auth_login_url else "?"
    auth_url = registration.auth_login_url + separator + urlencode(auth_params)

    log.info(
        "oidc login registration=%s storage=%s",
        registration.id,
        "yes" if storage_target else "no",
    )
    return LoginRedirect(
        auth_url=auth_url,
        state=state,
        browser_secret=browser_secret,
        storage_target=storage_target,
        platform_origin=platform_origin,
        registration_id=registration.id,
    )
