"""LTI Dynamic Registration, the tool's side.

https://www.imsglobal.org/spec/lti-dr/v1p0 – the platform opens our registration
URL with `openid_configuration` (and usually `registration_token`); we read that
configuration, post our client registration to its `registration_endpoint` and
keep the client_id (and deployment id) it answers with.

pylti1p3's DynamicRegistration is not used: it neither checks the issuer nor
limits which hosts it contacts, and it fails with bare assertions.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from lti_tool.lti.outbound import OutboundPolicy, UnsafeUrl, host_matches
from lti_tool.lti.registration_errors import (
    AlreadyRegistered,
    AnswerInvalid,
    ConfigurationInvalid,
    ConfigurationUnavailable,
    IssuerMismatch,
    PlatformAnswer,
    PlatformRejected,
    PlatformUnreachable,
    RegistrationFailed,
    UrlRefused,
)
from lti_tool.models import Registration
from lti_tool.registrations import (
    RegistrationInput,
    find_registration,
    save_registration,
)

log = logging.getLogger(__name__)

PLATFORM_CONFIGURATION = "https://purl.imsglobal.org/spec/lti-platform-configuration"
TOOL_CONFIGURATION = "https://purl.imsglobal.org/spec/lti-tool-configuration"
CANVAS = "https://canvas.instructure.com/lti/"
RESOURCE_LINK = "LtiResourceLinkRequest"
DEEP_LINKING = "LtiDeepLinkingRequest"
SCOPES = (
    "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem",
    "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly",
    "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly",
    "https://purl.imsglobal.org/spec/lti-ags/scope/score",
    "https://purl.imsglobal.org/spec/lti-nrps/scope/contextmembership.readonly",
)
# The name is shown to participants; e-mail and pictures are not needed.
CLAIMS = ("iss", "sub", "name", "given_name", "family_name")
# Placement groups in order of preference: the first group the platform offers
# any member of is used. The IMS generic "ContentArea" only when no specific one.
PLACEMENTS = {
    RESOURCE_LINK: (("course_navigation",),),
    DEEP_LINKING: (("link_selection", "assignment_selection"), ("ContentArea",)),
}
# Canvas cloud signs every school's launches as one issuer, while each school's
# configuration is served from its own instructure.com domain.
CANVAS_CLOUD_ISSUERS = frozenset(
    {
        "https://canvas.instructure.com",
        "https://canvas.beta.instructure.com",
        "https://canvas.test.instructure.com",
    }
)
# Canvas cloud serves authorisation, tokens and keys from Instructure's SSO host
# and registrations from each school's domain, never from the issuer's own host.
CANVAS_ENDPOINT_HOSTS = ("sso.canvaslms.com", "*.instructure.com")
MAX_ANSWER_BYTES = 1_000_000


@dataclass(frozen=True)
class ToolDescription:
    """How the tool presents itself to a platform; every URL under base_url."""

    base_url: str
    name: str = "Peer Support Training"
    description: str = (
        "California Peer Support Specialist (PSS) and Parent, Caregiver and "
        "Family Member (PCFM) training programs."
    )

    def url(self, path: str) -> str:
        return self.base_url.rstrip("/") + path

    @property
    def login_url(self) -> str:
        return self.url("/lti/login")

    @property
    def launch_url(self) -> str:
        return self.url("/lti/launch")

    @property
    def jwks_url(self) -> str:
        return self.url("/.well-known/jwks.json")

    @property
    def registration_url(self) -> str:
        return self.url("/lti/register")

    @property
    def logo_url(self) -> str:
        return self.url("/static/logo.svg")

    @property
    def domain(self) -> str:
        """Host and port, as Moodle compares it with the target link URI's."""
        return urlsplit(self.base_url).netloc


@dataclass(frozen=True)
class PlatformConfiguration:
    """The parts of a platform's OpenID configuration the tool uses."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    registration_endpoint: str
    product_family: str = ""
    account_name: str = ""
    authorization_server: str = ""
    scopes_supported: tuple[str, ...] | None = None
    # Message type → placements offered (Canvas URIs shortened); None when the
    # platform does not say, which means "assume the usual ones".
    messages: dict[str, tuple[str, ...]] | None = None

    @classmethod
    def parse(cls, document: Any) -> PlatformConfiguration:
        """Read the configuration; ConfigurationInvalid when a required part lacks."""
        if not isinstance(document, dict):
            raise ConfigurationInvalid("the configuration is not a JSON object")
        lti = document.get(PLATFORM_CONFIGURATION)
        lti = lti if isinstance(lti, dict) else {}
        scopes = document.get("scopes_supported")
        return cls(
            issuer=_required(document, "issuer"),
            authorization_endpoint=_required(document, "authorization_endpoint"),
            token_endpoint=_required(document, "token_endpoint"),
            jwks_uri=_required(document, "jwks_uri"),
            registration_endpoint=_required(document, "registration_endpoint"),
            product_family=str(lti.get("product_family_code") or "")[:64],
            account_name=str(lti.get(CANVAS + "account_name") or "")[:200],
            authorization_server=str(document.get("authorization_server") or ""),
            scopes_supported=tuple(map(str, scopes))
            if isinstance(scopes, list)
            else None,
            messages=_parse_messages(lti.get("messages_supported")),
        )

    @property
    def is_canvas(self) -> bool:
        return self.product_family == "canvas"

    @property
    def display_name(self) -> str:
        """A name for the administrator's list: Canvas's account name, or the host."""
        host = urlsplit(self.registration_endpoint).netloc
        if self.account_name:
            return self.account_name
        if self.product_family:
            return f"{self.product_family.capitalize()} at {host}"
        return host


def _required(document: dict[str, Any], name: str) -> str:
    value = document.get(name)
    if not isinstance(value, str) or not value.strip():
        raise ConfigurationInvalid(f"the configuration has no {name}")
    return value.strip()


def _parse_messages(raw: Any) -> dict[str, tuple[str, ...]] | None:
    """Moodle 4.x and Canvas list objects {type, placements}; older Moodle strings."""
    if not isinstance(raw, list):
        return None
    messages: dict[str, tuple[str, ...]] = {}
    for item in raw:
        if isinstance(item, str):
            messages[item] = ()
        elif isinstance(item, dict) and isinstance(item.get("type"), str):
            placements = item.get("placements")
            messages[item["type"]] = tuple(
                str(place).removeprefix(CANVAS)
                for place in (placements if isinstance(placements, list) else [])
            )
    return messages


def check_issuer(issuer: str, configuration_url: str) -> None:
    """The issuer must be the site the configuration came from, as the spec asks."""
    if urlsplit(issuer).query or urlsplit(issuer).fragment:
        raise IssuerMismatch("the issuer carries a query or fragment")
    if _origin(issuer) == _origin(configuration_url):
        return
    if issuer in CANVAS_CLOUD_ISSUERS and _is_instructure_url(configuration_url):
        return
    raise IssuerMismatch(
        f"issuer host {urlsplit(issuer).netloc or '(none)'} differs from "
        f"configuration host {urlsplit(configuration_url).netloc}"
    )


def endpoint_host_patterns(
    issuer: str, allowed_hosts: tuple[str, ...] = ()
) -> tuple[str, ...]:
    """The hosts a platform's endpoints may be on: the issuer's, allowed, Canvas's."""
    patterns = [(urlsplit(issuer).hostname or "").lower(), *allowed_hosts]
    if issuer in CANVAS_CLOUD_ISSUERS:
        patterns.extend(CANVAS_ENDPOINT_HOSTS)
    return tuple(pattern for pattern in patterns if pattern)


def check_endpoint_hosts(
    platform: PlatformConfiguration, allowed_hosts: tuple[str, ...] = ()
) -> None:
    """UrlRefused unless every endpoint is on the platform's own (or allowed) host.

    Anyone who can place one JSON file on a school's LMS site passes the issuer
    check; without this the file could name the attacker's registration endpoint
    and keys, and launches would then be signed by the attacker.
    """
    patterns = endpoint_host_patterns(platform.issuer, allowed_hosts)
    endpoints = (
        ("registration endpoint", platform.registration_endpoint),
        ("authorization endpoint", platform.authorization_endpoint),
        ("token endpoint", platform.token_endpoint),
        ("key set (jwks_uri)", platform.jwks_uri),
    )
    for label, url in endpoints:
        host = (urlsplit(url).hostname or "").lower()
        if not host or not any(host_matches(host, p) for p in patterns):
            raise UrlRefused(
                f"the {label} is on {host or '(no host)'}, which is neither the "
                f"LMS's own host nor an allowed one"
            )


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port or {"http": 80, "https": 443}.get(scheme)
    except ValueError:
        port = None
    return scheme, (parts.hostname or "").lower(), port


def _is_instructure_url(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme == "https" and (parts.hostname or "").endswith(
        ".instructure.com"
    )


def registration_request(
    tool: ToolDescription, platform: PlatformConfiguration
) -> dict[str, Any]:
    """The client registration we send, shaped for the platform that gets it."""
    scopes = [
        scope
        for scope in SCOPES
        if platform.scopes_supported is None or scope in platform.scopes_supported
    ]
    configuration: dict[str, Any] = {
        "domain": tool.domain,
        "target_link_uri": tool.launch_url,
        "description": tool.description,
        "claims": list(CLAIMS),
        "messages": _messages(tool, platform),
    }
    if platform.is_canvas:
        configuration[CANVAS + "privacy_level"] = "name_only"
        configuration[CANVAS + "tool_id"] = "peer-support-training"

    return {
        "application_type": "web",
        "response_types": ["id_token"],
        "grant_types": ["implicit", "client_credentials"],
        "initiate_login_uri": tool.login_url,
        "redirect_uris": [tool.launch_url],
        "client_name": tool.name,
        "jwks_uri": tool.jwks_url,
        "logo_uri": tool.logo_url,
        "token_endpoint_auth_method": "private_key_jwt",
        "scope": " ".join(scopes),
        TOOL_CONFIGURATION: configuration,
    }


def _messages(
    tool: ToolDescription, platform: PlatformConfiguration
) -> list[dict[str, Any]]:
    labels = {
        RESOURCE_LINK: tool.name,
        DEEP_LINKING: f"{tool.name}: choose a program or module",
    }
    messages = []
    for message_type, label in labels.items():
        if platform.messages is not None and message_type not in platform.messages:
            continue
        message: dict[str, Any] = {
            "type": message_type,
            "target_link_uri": tool.launch_url,
            "label": label,
        }
        offered = (platform.messages or {}).get(message_type, ())
        placements = _choose_placements(message_type, offered)
        if placements:
            message["placements"] = placements
        if platform.is_canvas and "course_navigation" in placements:
            # Teachers switch the course menu link on where they want it.
            message[CANVAS + "course_navigation/default_enabled"] = False
        messages.append(message)
    return messages


def _choose_placements(message_type: str, offered: tuple[str, ...]) -> list[str]:
    for group in PLACEMENTS[message_type]:
        chosen = [place for place in group if place in offered]
        if chosen:
            return chosen
    return []


@dataclass(frozen=True)
class RegistrationOutcome:
    """What the platform granted: its configuration, our client_id, a deployment."""

    platform: PlatformConfiguration
    client_id: str
    deployment_id: str | None

    @property
    def is_pending_activation(self) -> bool:
        """Moodle lists a dynamically registered tool as pending until activated."""
        return self.platform.product_family == "moodle"


class RegistrationClient:
    """Runs one registration exchange with a platform, over a guarded session."""

    def __init__(
        self, http: requests.Session, policy: OutboundPolicy, tool: ToolDescription
    ) -> None:
        self._http = http
        self._policy = policy
        self._tool = tool

    def register(
        self, configuration_url: str, registration_token: str | None
    ) -> RegistrationOutcome:
        """Read the configuration, post our registration, return what was granted."""
        headers = {"Accept": "application/json"}
        # D2L sends no token; then no Authorization header at all.
        if registration_token:
            headers["Authorization"] = f"Bearer {registration_token}"

        platform = self.fetch_configuration(configuration_url, headers)
        body = registration_request(self._tool, platform)
        status, text = self._call(
            "POST", platform.registration_endpoint, headers=headers, json=body
        )
        if not 200 <= status < 300:
            raise PlatformRejected(
                f"the registration endpoint answered {status}",
                answer=PlatformAnswer.of(status, text),
            )
        return _read_answer(platform, status, text)

    def fetch_configuration(
        self, configuration_url: str, headers: dict[str, str]
    ) -> PlatformConfiguration:
        """GET and check the platform's configuration and the URLs it names."""
        self._check(configuration_url)
        status, text = self._call("GET", configuration_url, headers=headers)
        if status != 200:
            raise ConfigurationUnavailable(
                f"the configuration URL answered {status}",
                answer=PlatformAnswer.of(status, text),
            )
        platform = PlatformConfiguration.parse(_json(text, ConfigurationInvalid))
        check_issuer(platform.issuer, configuration_url)
        check_endpoint_hosts(platform, self._policy.allowed_hosts)

        self._check(platform.registration_endpoint)
        # Fetched later by the launch and grade code, so no internal addresses.
        self._check(platform.jwks_uri, check_host=False)
        self._check(platform.token_endpoint, check_host=False)
        if urlsplit(platform.authorization_endpoint).scheme not in ("http", "https"):
            raise ConfigurationInvalid("the authorization endpoint is not http(s)")
        return platform

    def _check(self, url: str, *, check_host: bool = True) -> None:
        try:
            self._policy.check_url(url, check_host=check_host)
        except UnsafeUrl as refused:
            raise UrlRefused(str(refused)) from None

    def _call(self, method: str, url: str, **kwargs: Any) -> tuple[int, str]:
        """Status and body text of one call to the platform."""
        # Redirects are not followed: each hop would be a URL nobody checked.
        host = urlsplit(url).netloc
        try:
            with self._http.request(
                method, url, allow_redirects=False, stream=True, **kwargs
            ) as response:
                text = _read_limited(response)
        except UnsafeUrl as refused:
            raise UrlRefused(str(refused)) from None
        except requests.RequestException as error:
            log.warning(
                "dynamic registration unreachable host=%s error=%s",
                host,
                type(error).__name__,
            )
            raise PlatformUnreachable(f"{host} did not answer") from None
        log.info(
            "dynamic registration call method=%s host=%s status=%s",
            method,
            host,
            response.status_code,
        )
        return response.status_code, text


def _read_limited(response: requests.Response) -> str:
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_content(64 * 1024):
        size += len(chunk)
        if size > MAX_ANSWER_BYTES:
            raise PlatformUnreachable("the answer was larger than a configuration")
        chunks.append(chunk)
    return b"".join(chunks).decode(response.encoding or "utf-8", errors="replace")


def _json(text: str, error: type[RegistrationFailed]) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        raise error(
            "the answer is not JSON", answer=PlatformAnswer.of(200, text)
        ) from None


def _read_answer(
    platform: PlatformConfiguration, status: int, text: str
) -> RegistrationOutcome:
    """The client_id and deployment id from the platform's answer."""
    answer = _json(text, AnswerInvalid)
    if not isinstance(answer, dict):
        raise AnswerInvalid("the answer is not a JSON object")
    client_id = answer.get("client_id")
    if not isinstance(client_id, str | int) or not str(client_id).strip():
        raise AnswerInvalid(
            "the answer has no client_id", answer=PlatformAnswer.of(status, text)
        )

    # Moodle puts the deployment id in the tool configuration, Canvas at the top.
    configuration = answer.get(TOOL_CONFIGURATION)
    configuration = configuration if isinstance(configuration, dict) else {}
    deployment_id = configuration.get("deployment_id") or answer.get("deployment_id")
    return RegistrationOutcome(
        platform=platform,
        client_id=str(client_id).strip(),
        deployment_id=str(deployment_id).strip() if deployment_id else None,
    )


def save_dynamic_registration(
    session: Session, outcome: RegistrationOutcome, *, enabled: bool = False
) -> Registration:
    """Store a new registration and its deployment; the caller commits once.

    An existing (issuer, client_id) is never changed: whoever opens
    /lti/register is not authenticated, and a platform answering with a known
    client_id would otherwise replace its login and key URLs. A new
    registration stays disabled until a tool administrator enables it, unless
    `enabled` (the `registration_auto_enable` setting).
    """
    platform = outcome.platform
    if find_registration(session, platform.issuer, outcome.client_id) is not None:
        raise AlreadyRegistered(_already_registered(outcome))
    try:
        registration = save_registration(
            session,
            RegistrationInput(
                issuer=platform.issuer,
                client_id=outcome.client_id,
                auth_login_url=platform.authorization_endpoint,
                auth_token_url=platform.token_endpoint,
                key_set_url=platform.jwks_uri,
                deployment_ids=(outcome.deployment_id,)
                if outcome.deployment_id
                else (),
                name=platform.display_name,
                auth_audience=_token_audience(platform),
            ),
        )
        registration.source = "dynamic"
        registration.product_family = platform.product_family
        registration.is_enabled = enabled
        session.flush()
    except IntegrityError:
        # Another registration of the same client committed in between.
        session.rollback()
        raise AlreadyRegistered(_already_registered(outcome)) from None
    return registration


def _already_registered(outcome: RegistrationOutcome) -> str:
    return (
        f"client ID {outcome.client_id} of {outcome.platform.issuer} is already "
        "registered; an administrator must change it in the admin view"
    )


def _token_audience(platform: PlatformConfiguration) -> str | None:
    """`authorization_server`, when it is a URL other than the token endpoint.

    D2L wants it as the client assertion's audience; Canvas sends a bare host
    name there but wants the token URL itself.
    """
    server = platform.authorization_server
    if (
        urlsplit(server).scheme in ("http", "https")
        and server != platform.token_endpoint
    ):
        return server
    return None
