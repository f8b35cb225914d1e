"""The platform side of LTI Dynamic Registration, as strict as Moodle's.

The "Register a tool" page opens the tool's registration URL in a frame with
`openid_configuration` and a single-use `registration_token`; the tool reads
the configuration, posts its registration with the token as a Bearer header and
ends with the org.imsglobal.lti.close message.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

from flask import Blueprint, abort, jsonify, render_template, request
from werkzeug.wrappers import Response

from lti_tool.sandbox.config import SandboxConfig
from lti_tool.sandbox.state import sandbox_state
from lti_tool.sandbox.tools import ToolClient
from lti_tool.sandbox.vocab import NRPS_SCOPE, AgsScope

logger = logging.getLogger(__name__)

blueprint = Blueprint("registration", __name__)

PLATFORM_CONFIGURATION = "https://purl.imsglobal.org/spec/lti-platform-configuration"
TOOL_CONFIGURATION = "https://purl.imsglobal.org/spec/lti-tool-configuration"
CONFIGURATION_PATH = "/.well-known/openid-configuration"
REGISTRATION_PATH = "/lti/registrations"


class RegistrationRefused(Exception):
    """A registration request the sandbox refuses, with Moodle-style short code."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class ClientRequest:
    """The parts of an accepted registration request the sandbox keeps."""

    login_url: str
    redirect_uris: tuple[str, ...]
    target_link_uri: str
    jwks_uri: str
    name: str
    body: dict[str, Any]


def platform_configuration(config: SandboxConfig) -> dict[str, Any]:
    """The sandbox's OpenID configuration, shaped like Moodle 4.5's."""
    return {
        "issuer": config.issuer,
        "authorization_endpoint": config.url("/auth"),
        "token_endpoint": config.url("/token"),
        "jwks_uri": config.url("/.well-known/jwks.json"),
        "registration_endpoint": config.url(REGISTRATION_PATH),
        "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        "token_endpoint_auth_signing_alg_values_supported": ["RS256"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "response_types_supported": ["id_token"],
        "subject_types_supported": ["public"],
        "scopes_supported": ["openid", *(str(s) for s in AgsScope), NRPS_SCOPE],
        "claims_supported": ["sub", "iss", "name", "given_name", "family_name"],
        PLATFORM_CONFIGURATION: {
            "product_family_code": "sandbox",
            "version": "1",
            "messages_supported": [
                {"type": "LtiResourceLinkRequest"},
                {"type": "LtiDeepLinkingRequest", "placements": ["ContentArea"]},
            ],
        },
    }


def validate_registration(body: Any) -> ClientRequest:
    """Check a registration request the way Moodle's openid-registration.php does."""
    if not isinstance(body, dict):
        raise RegistrationRefused("invalid_request")
    if "id_token" not in _strings(body.get("response_types")):
        raise RegistrationRefused("invalid_response_types")
    if not {"implicit", "client_credentials"} <= set(_strings(body.get("grant_types"))):
        raise RegistrationRefused("invalid_grant_types")
    if body.get("token_endpoint_auth_method") != "private_key_jwt":
        raise RegistrationRefused("invalid_token_endpoint_auth_method")
    login_url = _http_url(body, "initiate_login_uri")
    jwks_uri = _http_url(body, "jwks_uri")
    redirect_uris = tuple(_strings(body.get("redirect_uris")))
    if not redirect_uris or not all(_is_http(uri) for uri in redirect_uris):
        raise RegistrationRefused("missing_redirect_uris")
    name = body.get("client_name")
    if not isinstance(name, str) or not name.strip():
        raise RegistrationRefused("missing_client_name")

    tool = body.get(TOOL_CONFIGURATION)
    if not isinstance(tool, dict):
        raise RegistrationRefused("missing_tool_configuration")
    target_link_uri = _checked_domain(tool)
    return ClientRequest(
        login_url, redirect_uris, target_link_uri, jwks_uri, name, body
    )


def _checked_domain(tool: dict[str, Any]) -> str:
    """The target link URI, which must be on the tool's declared domain."""
    domain = tool.get("domain")
    if not isinstance(domain, str) or not domain:
        raise RegistrationRefused("missing_domain")
    target_link_uri = _http_url(tool, "target_link_uri")
    if urlsplit(target_link_uri).netloc != domain:
        raise RegistrationRefused("domain_mismatch")
    return target_link_uri


def _strings(value: Any) -> list[str]:
    return (
        [item for item in value if isinstance(item, str)]
        if isinstance(value, list)
        else []
    )


def _is_http(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _http_url(document: dict[str, Any], name: str) -> str:
    value = document.get(name)
    if not _is_http(value):
        raise RegistrationRefused(f"missing_{name}")
    return str(value)


def registration_answer(body: dict[str, Any], client: ToolClient) -> dict[str, Any]:
    """The request echoed with the client_id and the deployment, like Moodle."""
    tool = dict(body[TOOL_CONFIGURATION])
    tool.update({"version": "1.3.0", "deployment_id": client.deployment_id})
    return {**body, "client_id": client.client_id, TOOL_CONFIGURATION: tool}


@blueprint.get(CONFIGURATION_PATH)
def openid_configuration() -> Response:
    """The configuration a tool reads first; public, as Moodle's is."""
    return jsonify(platform_configuration(sandbox_state().config))


@blueprint.post(REGISTRATION_PATH)
def register_client() -> Response:
    """Accept a tool's registration posted with a valid, unused Bearer token."""
    state = sandbox_state()
    token = _bearer_token()
    problem = state.registration_tokens.check(token) if token else "missing_token"
    if problem:
        return _refuse(401, problem)
    body = request.get_json(silent=True)
    try:
        accepted = validate_registration(body)
    except RegistrationRefused as refused:
        return _refuse(400, refused.code)

    # Spent only by a registration that succeeds, in one step with the check.
    problem = state.registration_tokens.claim(token)
    if problem:
        return _refuse(401, problem)
    client = state.clients.add_dynamic(
        login_url=accepted.login_url,
        redirect_uris=accepted.redirect_uris,
        target_link_uri=accepted.target_link_uri,
        jwks_uri=accepted.jwks_uri,
        name=accepted.name,
    )
    logger.info("tool registered client_id=%s", client.client_id)
    return jsonify(registration_answer(accepted.body, client))


def _bearer_token() -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _refuse(status: int, code: str) -> Response:
    logger.warning("tool registration refused status=%s reason=%s", status, code)
    return Response(code, status=status, mimetype="text/plain")


@blueprint.get("/register-tool")
def register_tool() -> str:
    """Ask for the tool's registration URL, then open it in a frame."""
    state = sandbox_state()
    config = state.config
    registration_url = request.args.get("registration_url", "").strip()
    page = {
        "person": None,
        "default_url": config.tool_url.rstrip("/") + "/lti/register",
        "clients": state.clients.dynamic(),
    }
    if not registration_url:
        return render_template("register_tool.html", frame_url=None, **page)
    if not _is_http(registration_url):
        abort(400, "The registration URL must be an http or https address.")

    query = urlencode(
        {
            "openid_configuration": config.url(CONFIGURATION_PATH),
            "registration_token": state.registration_tokens.issue(),
        }
    )
    # The tool's own query (Blackboard keeps one) stays in front of ours.
    parts = urlsplit(registration_url)
    frame_url = parts._replace(
        query=f"{parts.query}&{query}" if parts.query else query
    ).geturl()
    return render_template(
        "register_tool.html",
        frame_url=frame_url,
        tool_origin=f"{parts.scheme}://{parts.netloc}",
        **page,
    )
