"""The sandbox's pages: home, course, launch, OIDC auth, JWKS and return."""

from __future__ import annotations

import logging
from typing import TypeVar

from flask import Blueprint, abort, jsonify, render_template, request
from werkzeug.wrappers import Response

from lti_tool.sandbox.auth import validate_auth_request
from lti_tool.sandbox.claims import (
    build_deep_linking_claims,
    build_launch_claims,
    sign_id_token,
)
from lti_tool.sandbox.config import sandbox_registration
from lti_tool.sandbox.course_tools import (
    deep_linking_settings,
    link_line_item_url,
)
from lti_tool.sandbox.demo import (
    COURSES,
    PEOPLE,
    DemoCourse,
    DemoLink,
    DemoPerson,
    find_course,
    find_person,
)
from lti_tool.sandbox.hints import MessageHint
from lti_tool.sandbox.state import sandbox_state
from lti_tool.sandbox.tools import ToolClient

logger = logging.getLogger(__name__)

T = TypeVar("T")

blueprint = Blueprint("sandbox", __name__)

STORAGE_FRAME = "post_message_forwarding"
_FORM_TARGETS = {"iframe": "tool_frame", "window": "tool_window"}


@blueprint.get("/")
def home() -> str:
    """Demo courses and people, and what the tool must register."""
    config = sandbox_state().config
    return render_template(
        "home.html",
        person=_person_from_query(),
        client=_client_param(),
        dynamic_clients=sandbox_state().clients.dynamic(),
        people=PEOPLE,
        courses=COURSES,
        registration=sandbox_registration(config),
        tool_urls={
            "Login initiation URL": config.login_url,
            "Redirect URI": config.redirect_uri,
            "Tool JWKS URL": config.tool_jwks_url,
        },
    )


@blueprint.get("/courses/<course_id>")
def course_page(course_id: str) -> str:
    """One course and its links."""
    course = _course_or_404(course_id)
    return render_template(
        "course.html",
        course=course,
        person=_person_from_query(),
        client=_client_param(),
    )


@blueprint.get("/courses/<course_id>/links/<link_id>/launch")
def launch(course_id: str, link_id: str) -> Response:
    """The course page that starts a launch by posting to the tool's login URL."""
    course = _course_or_404(course_id)
    link = sandbox_state().book.find_link(course.course_id, link_id) or abort(404)
    person = _person_from_query()
    has_storage = _choice("storage", {"1": True, "0": False}, "1")
    frame = _choice("frame", {"iframe": "iframe", "window": "window"}, "iframe")
    state = sandbox_state()
    client = _client_from_query()

    hint = state.hints.issue(
        person_key=person.key,
        course_id=course.course_id,
        link_id=link.link_id,
        document_target=frame,
        has_storage=has_storage,
        client_id=client.client_id,
    )

    page = render_template(
        "launch.html",
        course=course,
        link=link,
        person=person,
        frame=frame,
        has_storage=has_storage,
        storage_frame=STORAGE_FRAME,
        form_target=_FORM_TARGETS[frame],
        login_url=client.login_url,
        login_fields=_login_fields(person, link, hint, client),
        tool_origin=client.origin,
    )
    # Each render carries a fresh single-use hint, so never serve it from cache.
    return Response(page, headers={"Cache-Control": "no-store"}, mimetype="text/html")


@blueprint.get("/post_message_forwarding")
def post_message_forwarding() -> Response:
    """The hidden frame that answers the tool's platform-storage messages."""
    page = render_template("forwarding.html")
    # Only the sandbox's own pages may embed it; it reaches into its parent.
    return Response(
        page,
        mimetype="text/html",
        headers={
            "Content-Security-Policy": "frame-ancestors 'self'",
            "X-Frame-Options": "SAMEORIGIN",
        },
    )


@blueprint.route("/auth", methods=["GET", "POST"])
def auth() -> Response:
    """The OIDC authorization endpoint: answer with a form posting the id_token."""
    state = sandbox_state()
    params = request.form if request.method == "POST" else request.args
    now = state.clock()
    accepted = validate_auth_request(
        params, state.config, state.hints, now, state.clients, state.book.find_link
    )

    if accepted.link is None:
        settings = deep_linking_settings(accepted.hint.link_id)
        claims = build_deep_linking_claims(state.config, accepted, int(now), settings)
    else:
        claims = build_launch_claims(
            state.config,
            accepted,
            int(now),
            line_item_url=link_line_item_url(accepted.course, accepted.link),
        )
    fields = {"id_token": sign_id_token(claims, state.key), "state": accepted.state}
    # Canvas repeats the storage frame name on the final POST.
    if accepted.hint.has_storage:
        fields["lti_storage_target"] = STORAGE_FRAME

    logger.info(
        "launch issued course_id=%s link_id=%s user=%s message_type=%s",
        accepted.course.course_id,
        accepted.link.link_id if accepted.link else "-",
        accepted.person.key,
        accepted.hint.message_type,
    )
    page = render_template(
        "form_post.html", action=accepted.redirect_uri, fields=fields
    )
    return Response(page, headers={"Cache-Control": "no-store"}, mimetype="text/html")


@blueprint.get("/.well-known/jwks.json")
def jwks() -> Response:
    """The sandbox's public signing key."""
    response = jsonify(keys=[sandbox_state().key.public_jwk])
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@blueprint.get("/return")
def return_page() -> str:
    """Where the tool sends people back, with its message for them."""
    course = find_course(request.args.get("course", ""))
    person = find_person(request.args.get("user", "")) or PEOPLE[0]
    return render_template(
        "return.html",
        course=course,
        person=person,
        message=request.args.get("lti_msg", ""),
        error_message=request.args.get("lti_errormsg", ""),
    )


def _login_fields(
    person: DemoPerson, link: DemoLink, hint: MessageHint, client: ToolClient
) -> list[tuple[str, str]]:
    """The third-party login initiation parameters, in Moodle's order."""
    config = sandbox_state().config
    fields = [
        ("iss", config.issuer),
        ("target_link_uri", link.target_link_uri(client.target_link_uri)),
        ("login_hint", person.login_hint),
        ("lti_message_hint", hint.value),
        ("client_id", client.client_id),
        ("lti_deployment_id", client.deployment_id),
    ]
    if hint.has_storage:
        fields.append(("lti_storage_target", STORAGE_FRAME))
    return fields


def _client_from_query() -> ToolClient:
    """The registration to launch with: `?client=`, else the fixed one."""
    clients = sandbox_state().clients
    client_id = request.args.get("client", "")
    if not client_id:
        return clients.fixed
    return clients.find(client_id) or abort(400, "That tool client is not registered.")


def _client_param() -> str | None:
    """The `client` value for links on this page; None for the fixed client."""
    client = _client_from_query()
    return client.client_id if client.is_dynamic else None


def _person_from_query() -> DemoPerson:
    key = request.args.get("user", PEOPLE[0].key)
    return find_person(key) or abort(400, "Choose a demo user: learner or coordinator.")


def _choice(name: str, options: dict[str, T], default: str) -> T:
    raw = request.args.get(name, default)
    if raw not in options:
        abort(400, f"The {name} parameter must be one of: {', '.join(options)}.")
    return options[raw]


def _course_or_404(course_id: str) -> DemoCourse:
    return find_course(course_id) or abort(404)
