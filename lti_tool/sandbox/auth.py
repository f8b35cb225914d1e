"""Checks on the OIDC authorization request, as strict as Moodle's and Canvas's."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from werkzeug.datastructures import MultiDict

from lti_tool.sandbox.config import SandboxConfig
from lti_tool.sandbox.demo import (
    DemoCourse,
    DemoLink,
    DemoPerson,
    find_course,
    find_person,
)
from lti_tool.sandbox.hints import MessageHint, MessageHintStore
from lti_tool.sandbox.tools import ToolClient, ToolClients

DEEP_LINKING_REQUEST = "LtiDeepLinkingRequest"

# OIDC third-party login for LTI 1.3 allows exactly these values.
_FIXED_VALUES = (
    ("scope", "openid"),
    ("response_type", "id_token"),
    ("response_mode", "form_post"),
    ("prompt", "none"),
)
_REQUIRED = (
    *(name for name, _ in _FIXED_VALUES),
    "client_id",
    "redirect_uri",
    "login_hint",
    "lti_message_hint",
    "nonce",
    "state",
)


class InvalidAuthRequest(Exception):
    """A refused auth request: `reason` for the log, `description` for the person."""

    def __init__(self, reason: str, description: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.description = description


@dataclass(frozen=True)
class AuthRequest:
    """An accepted authorization request and the launch it stands for."""

    nonce: str
    state: str
    hint: MessageHint
    person: DemoPerson
    course: DemoCourse
    # None for a deep-linking request, which launches no link.
    link: DemoLink | None
    client: ToolClient
    redirect_uri: str


def validate_auth_request(
    params: MultiDict[str, str],
    config: SandboxConfig,
    hints: MessageHintStore,
    now: float,
    clients: ToolClients,
    find_link: Callable[[str, str], DemoLink | None] | None = None,
) -> AuthRequest:
    """Check every parameter, consume the message hint, and name the launch."""
    _check_present_once(params)
    _check_fixed_values(params)
    client = _check_client(params, clients)

    hint = _consume_hint(params["lti_message_hint"], hints, now)
    if (hint.client_id or config.client_id) != client.client_id:
        raise InvalidAuthRequest(
            "client_mismatch", "The client_id is not the one this launch started with."
        )
    person = _person_for(params["login_hint"], hint)
    course, link = _link_for(hint, find_link)

    return AuthRequest(
        nonce=params["nonce"],
        state=params["state"],
        hint=hint,
        person=person,
        course=course,
        link=link,
        client=client,
        redirect_uri=params["redirect_uri"],
    )


def _check_present_once(params: MultiDict[str, str]) -> None:
    for name in _REQUIRED:
        values = params.getlist(name)
        if not values or not values[0]:
            raise InvalidAuthRequest(
                f"missing_{name}", f"The {name} parameter is missing."
            )
        if len(values) > 1:
            raise InvalidAuthRequest(
                f"repeated_{name}", f"The {name} parameter is given more than once."
            )


def _check_fixed_values(params: MultiDict[str, str]) -> None:
    for name, expected in _FIXED_VALUES:
        if params[name] != expected:
            raise InvalidAuthRequest(
                f"bad_{name}", f"The {name} parameter must be '{expected}'."
            )


def _check_client(params: MultiDict[str, str], clients: ToolClients) -> ToolClient:
    client = clients.find(params["client_id"])
    if client is None:
        raise InvalidAuthRequest("unknown_client", "The client_id is not registered.")
    # Compared as strings, query included, as Moodle and Blackboard do.
    if params["redirect_uri"] not in client.redirect_uris:
        raise InvalidAuthRequest(
            "redirect_uri_mismatch",
            "The redirect_uri is not exactly the one registered for this tool.",
        )
    return client


def _consume_hint(value: str, hints: MessageHintStore, now: float) -> MessageHint:
    hint = hints.consume(value)
    if hint is None:
        raise InvalidAuthRequest(
            "unknown_message_hint",
            "The lti_message_hint is unknown or was already used. "
            "Launch the link again from the course.",
        )
    if hint.is_expired(now):
        raise InvalidAuthRequest(
            "message_hint_expired",
            "The lti_message_hint has expired. Launch the link again from the course.",
        )
    return hint


def _person_for(login_hint: str, hint: MessageHint) -> DemoPerson:
    person = find_person(hint.person_key)
    if person is None or person.login_hint != login_hint:
        raise InvalidAuthRequest(
            "login_hint_mismatch",
            "The login_hint does not belong to the person who started this launch.",
        )
    return person


def _link_for(
    hint: MessageHint, find_link: Callable[[str, str], DemoLink | None] | None
) -> tuple[DemoCourse, DemoLink | None]:
    # The hint was issued for a demo link, so a miss means the demo data changed
    # under a running process; refuse rather than launch something else.
    course = find_course(hint.course_id)
    if course is not None and hint.message_type == DEEP_LINKING_REQUEST:
        return course, None
    if find_link is not None:
        link = find_link(hint.course_id, hint.link_id)
    else:
        link = course.find_link(hint.link_id) if course else None
    if course is None or link is None:
        raise InvalidAuthRequest("unknown_link", "The launched link no longer exists.")
    return course, link
