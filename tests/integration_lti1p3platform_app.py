"""A second LTI 1.3 platform for tests: a thin Flask app around `lti1p3platform`.

The package does the platform's protocol work: the login-initiation redirect,
checking the tool's authentication request against the registration, building
and signing the id_token, and the form that posts it. This wrapper adds only what
the package leaves to its host: people, links, single-use message hints, and the
checks the package does not make (exact redirect_uri, login_hint of the person).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Flask, abort, jsonify, redirect, render_template_string, request
from lti1p3platform.ltiplatform import LTI1P3PlatformConfAbstract
from lti1p3platform.message_launch import LTIAdvantageMessageLaunchAbstract
from lti1p3platform.oidc_login import OIDCLoginAbstract
from lti1p3platform.registration import Registration
from lti1p3platform.request import Request, TRequest

LIS = "http://purl.imsglobal.org/vocab/lis/v2/"
COURSE_OFFERING = LIS + "course#CourseOffering"

# The package's own template pulls in pkg_resources; this one posts the same fields.
LAUNCH_FORM = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Launching</title></head>
<body><form method="post" action="{{ launch_url }}" id="launch">
<input type="hidden" name="id_token" value="{{ id_token }}">
<input type="hidden" name="state" value="{{ state }}">
</form></body></html>
"""


@dataclass(frozen=True)
class Person:
    login_hint: str
    sub: str
    name: str
    roles: tuple[str, ...]


PEOPLE = {
    "learner": Person(
        "hint-learner-7",
        "lti1p3platform-user-7",
        "Casey Morgan",
        (LIS + "membership#Learner",),
    ),
    "instructor": Person(
        "hint-instructor-3",
        "lti1p3platform-user-3",
        "Robin Okoye",
        (LIS + "membership#Instructor", LIS + "institution/person#Faculty"),
    ),
}


@dataclass
class PlatformSettings:
    """The platform's own URL and ids, the tool it launches, and its key pair."""

    base_url: str
    tool_url: str
    client_id: str = "lti1p3platform-client"
    deployment_id: str = "lti1p3platform-deployment-1"
    context_id: str = "course-lti1p3platform"
    key: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(
            public_exponent=65537, key_size=2048
        )
    )

    @property
    def redirect_uri(self) -> str:
        return self.tool_url + "/lti/launch"

    def private_pem(self) -> str:
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()

    def public_pem(self) -> str:
        return (
            self.key.public_key()
            .public_bytes(
                serialization.Encoding.PEM,
                serialization.PublicFormat.SubjectPublicKeyInfo,
            )
            .decode()
        )


class FlaskRequest(Request):
    """The package's request shape, read from the current Flask request."""

    def build_metadata(self, request: Any) -> TRequest:
        return {
            "method": request.method,
            "form_data": request.form.to_dict(),
            "get_data": request.args.to_dict(),
            "headers": request.headers,
            "content_type": request.content_type,
            "path": request.path,
            "json": None,
        }


class PlatformConfig(LTI1P3PlatformConfAbstract):
    """One registration: this platform's issuer and keys, and the tool under test."""

    def init_platform_config(self, **kwargs: Any) -> None:
        self.settings: PlatformSettings = kwargs["settings"]

    def get_registration_by_params(self, **kwargs: Any) -> Registration:
        settings = self.settings
        return (
            Registration()
            .set_iss(settings.base_url)
            .set_client_id(settings.client_id)
            .set_deployment_id(settings.deployment_id)
            .set_oidc_login_url(settings.tool_url + "/lti/login")
            .set_launch_url(settings.redirect_uri)
            .set_deeplink_launch_url(settings.redirect_uri)
            .set_tool_key_set_url(settings.tool_url + "/.well-known/jwks.json")
            .set_platform_private_key(settings.private_pem())
            .set_platform_public_key(settings.public_pem())
        )


class FlaskLogin(OIDCLoginAbstract):
    def set_lti_message_hint(self, **kwargs: Any) -> None:
        self._lti_message_hint = kwargs["hint"]

    def get_redirect(self, url: str) -> Any:
        return redirect(url, code=302)


class FlaskLaunch(LTIAdvantageMessageLaunchAbstract):
    def render_launch_form(self, launch_data: dict[str, Any], **kwargs: Any) -> str:
        return render_template_string(LAUNCH_FORM, **launch_data)


@dataclass(frozen=True)
class _Pending:
    person: Person
    link_id: str
    target: str
    deep_link: bool


def create_platform_app(settings: PlatformSettings) -> Flask:
    """The platform: /launch/<person> starts a launch, /auth answers the tool.

    /launch takes `link` (resource link id), `target` (custom parameter) and
    `deep_link=1` for a deep-linking request instead of a resource-link launch.
    """
    app = Flask("lti1p3platform_wrapper")
    config = PlatformConfig(settings=settings)
    config.get_registration()
    pending: dict[str, _Pending] = {}

    @app.get("/launch/<person_key>")
    def launch(person_key: str) -> Any:
        person = PEOPLE.get(person_key) or abort(404)
        hint = secrets.token_urlsafe(16)
        chosen = _Pending(
            person,
            request.args.get("link", "link-1"),
            request.args.get("target", "pss"),
            request.args.get("deep_link") == "1",
        )
        pending[hint] = chosen
        login = FlaskLogin(FlaskRequest(request), config)
        login.set_lti_message_hint(hint=hint)
        if chosen.deep_link:
            login.set_deeplinking_launch_url()
        return login.initiate_login(person.login_hint)

    @app.route("/auth", methods=["GET", "POST"])
    def auth() -> Any:
        params = request.values
        # The package checks client_id, nonce, state and that a redirect_uri is
        # present, but not which one: a platform must only post to the registered.
        if params.get("redirect_uri") != settings.redirect_uri:
            abort(400, "redirect_uri is not the registered one")
        chosen = pending.pop(params.get("lti_message_hint", ""), None)
        if chosen is None or chosen.person.login_hint != params.get("login_hint"):
            abort(400, "unknown lti_message_hint or login_hint")

        message = FlaskLaunch(FlaskRequest(request), config)
        _describe_launch(message, settings, chosen)
        return message.lti_launch()

    @app.get("/jwks")
    def jwks() -> Any:
        return jsonify(config.get_jwks())

    return app


def _describe_launch(
    message: FlaskLaunch, settings: PlatformSettings, chosen: _Pending
) -> None:
    person = chosen.person
    message.set_user_data(person.sub, list(person.roles), full_name=person.name)
    if chosen.deep_link:
        # The package turns the message into an LtiDeepLinkingRequest.
        message.set_dl(settings.base_url + "/deep_link_return", title="Add training")
    else:
        message.set_resource_link_claim(chosen.link_id, title="Training link")
    message.set_launch_context_claim(
        settings.context_id,
        context_types=[COURSE_OFFERING],
        context_title="Cohort on lti1p3platform",
        context_label="L13P",
    )
    message.set_launch_presentation_claim(
        document_target="iframe", return_url=settings.base_url + "/return"
    )
    message.set_custom_parameters_claim({"target": chosen.target})
    message.set_ags(lineitems_url=settings.base_url + "/lineitems")
    message.set_nrps(settings.base_url + "/memberships")
