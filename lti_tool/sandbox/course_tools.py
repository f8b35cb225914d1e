"""Course pages a real LMS has beyond launching: the grade book and "Add content".

"Add content" starts an LtiDeepLinkingRequest; the tool answers with a signed
JWT posted to the return endpoint here, which checks it against the tool's
published keys (fetched over HTTP) and adds the links and their grade columns.
Two styles mimic the platforms: "moodle" accepts several items and sends
`data`; "canvas" accepts one and keeps a link's URL query but not its custom
parameters, while Moodle keeps custom parameters but not the query.
"""

from __future__ import annotations

import logging
import secrets
import uuid
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import jwt
from flask import Blueprint, abort, render_template, request
from werkzeug.wrappers import Response

from lti_tool.sandbox.demo import PEOPLE, DemoCourse, DemoLink, find_course, find_person
from lti_tool.sandbox.gradebook import DeepLinkingRequest
from lti_tool.sandbox.state import sandbox_state
from lti_tool.sandbox.tool_keys import ToolKeyError
from lti_tool.sandbox.tools import ToolClient
from lti_tool.sandbox.vocab import LTI_CLAIM

logger = logging.getLogger(__name__)

blueprint = Blueprint("course_tools", __name__)

DL_CLAIM = "https://purl.imsglobal.org/spec/lti-dl/claim/"
RESOURCE_LINK = "ltiResourceLink"
STYLES = ("moodle", "canvas")
# How long a picker may stay open before its answer is refused.
REQUEST_TTL_SECONDS = 3600


@blueprint.get("/courses/<course_id>/grades")
def grade_book(course_id: str) -> str:
    """Every learner against every column, with progress and timestamps."""
    course = _course(course_id)
    book = sandbox_state().book
    learners = [member for member in book.roster(course.course_id) if member.is_learner]
    columns = book.columns(course.course_id)
    cells = {
        (column.id, learner.sub): book.result(column.id, learner.sub)
        for column in columns
        for learner in learners
    }
    return render_template(
        "grades.html",
        course=course,
        person=_person(),
        learners=learners,
        columns=columns,
        cells=cells,
    )


@blueprint.get("/courses/<course_id>/deep-linking/launch")
def deep_linking_launch(course_id: str) -> Response:
    """The "Add content" page: a login initiation for a deep-linking request."""
    from lti_tool.sandbox import views

    course = _course(course_id)
    person = _person()
    style = request.args.get("style", "moodle")
    if style not in STYLES:
        abort(400, "The style parameter must be moodle or canvas.")
    state = sandbox_state()
    client = _client()
    request_id = state.book.open_deep_linking(
        DeepLinkingRequest(
            course_id=course.course_id,
            client_id=client.client_id,
            deployment_id=client.deployment_id,
            style=style,
            data=secrets.token_urlsafe(12) if style == "moodle" else None,
            accept_multiple=style == "moodle",
            expires_at=state.clock() + REQUEST_TTL_SECONDS,
        )
    )
    hint = state.hints.issue(
        person_key=person.key,
        course_id=course.course_id,
        link_id=request_id,
        document_target="iframe",
        has_storage=True,
        client_id=client.client_id,
        message_type="LtiDeepLinkingRequest",
    )
    fields = [
        ("iss", state.config.issuer),
        ("target_link_uri", client.target_link_uri),
        ("login_hint", person.login_hint),
        ("lti_message_hint", hint.value),
        ("client_id", client.client_id),
        ("lti_deployment_id", client.deployment_id),
        ("lti_storage_target", views.STORAGE_FRAME),
    ]
    page = render_template(
        "launch.html",
        course=course,
        link=DemoLink(link_id=request_id, resource_link_id="", title="Add content"),
        person=person,
        frame="iframe",
        has_storage=True,
        storage_frame=views.STORAGE_FRAME,
        form_target="tool_frame",
        login_url=client.login_url,
        login_fields=fields,
        tool_origin=client.origin,
    )
    return Response(page, headers={"Cache-Control": "no-store"}, mimetype="text/html")


def deep_linking_settings(request_id: str) -> dict[str, Any]:
    """The deep_linking_settings claim of a pending request, platform-styled."""
    state = sandbox_state()
    pending = state.book.peek_deep_linking(request_id)
    if pending is None:
        abort(400, "This content picker has expired. Open it again from the course.")
    return_url = state.config.url(
        f"/courses/{pending.course_id}/deep-linking/return?"
        + urlencode({"request": request_id})
    )
    settings: dict[str, Any] = {
        "deep_link_return_url": return_url,
        "accept_types": [RESOURCE_LINK],
        "accept_presentation_document_targets": ["iframe", "window"],
        "accept_multiple": pending.accept_multiple,
        "auto_create": False,
    }
    if pending.style == "canvas":
        settings["accept_media_types"] = "application/vnd.ims.lti.v1.ltilink"
    else:
        settings.update(accept_unsigned=False, title="Add content", text="")
    if pending.data is not None:
        settings["data"] = pending.data
    return settings


@blueprint.post("/courses/<course_id>/deep-linking/return")
def deep_linking_return(course_id: str) -> tuple[str, int] | str:
    """Check the tool's signed answer and add the links it names."""
    course = _course(course_id)
    state = sandbox_state()
    pending = state.book.take_deep_linking(request.args.get("request", ""))
    if pending is None or pending.course_id != course.course_id:
        return _refused(course, "This content picker is unknown, used or expired.")
    client = state.clients.find(pending.client_id)
    if client is None:
        return _refused(course, "The tool is no longer registered.")
    try:
        message = _verified_message(request.form.get("JWT", ""), client)
        items = _content_items(message, pending)
    except (ToolKeyError, jwt.InvalidTokenError, ValueError) as problem:
        logger.warning("deep linking refused course_id=%s", course_id)
        return _refused(course, f"The tool's answer was refused: {problem}.")

    added = [_add_link(course, client, pending, item) for item in items]
    logger.info("deep linking done course_id=%s items=%s", course_id, len(added))
    return render_template(
        "deep_linking_done.html",
        course=course,
        person=find_person("coordinator") or PEOPLE[0],
        added=added,
        message=str(message.get(DL_CLAIM + "msg") or ""),
    )


def link_line_item_url(course: DemoCourse, link: DemoLink) -> str | None:
    """The grade column a link was created with, as its launches name it."""
    for column in sandbox_state().book.columns(course.course_id):
        if column.resource_link_id == link.resource_link_id:
            return sandbox_state().config.url(
                f"/api/courses/{course.course_id}/lineitems/{column.id}"
            )
    return None


def _verified_message(token: str, client: ToolClient) -> dict[str, Any]:
    state = sandbox_state()
    message = state.tool_keys.verify(
        token,
        client.jwks_uri,
        audience=state.config.issuer,
        issuer=client.client_id,
        leeway=5,
        options={"require": ["iss", "aud", "exp", "iat", "nonce"]},
    )
    if message.get(LTI_CLAIM + "message_type") != "LtiDeepLinkingResponse":
        raise ValueError("the message type is not LtiDeepLinkingResponse")
    if message.get(LTI_CLAIM + "version") != "1.3.0":
        raise ValueError("the LTI version is not 1.3.0")
    if message.get(LTI_CLAIM + "deployment_id") != client.deployment_id:
        raise ValueError("the deployment_id is not this installation's")
    return message


def _content_items(
    message: dict[str, Any], pending: DeepLinkingRequest
) -> list[dict[str, Any]]:
    if pending.data is not None and message.get(DL_CLAIM + "data") != pending.data:
        raise ValueError("the data value was not returned unchanged")
    items = message.get(DL_CLAIM + "content_items") or []
    if not isinstance(items, list):
        raise ValueError("content_items is not a list")
    if len(items) > 1 and not pending.accept_multiple:
        raise ValueError("only one item may be returned")
    for item in items:
        if not isinstance(item, dict) or item.get("type") != RESOURCE_LINK:
            raise ValueError("only LTI resource links are accepted")
    return items


def _add_link(
    course: DemoCourse,
    client: ToolClient,
    pending: DeepLinkingRequest,
    item: dict[str, Any],
) -> DemoLink:
    book = sandbox_state().book
    custom = item.get("custom")
    custom = custom if isinstance(custom, dict) else {}
    url = item.get("url")
    url = url if isinstance(url, str) else None
    if pending.style == "moodle" and url:
        # Moodle launches the tool's URL but keeps no query it carried.
        url = urlunsplit(urlsplit(url)._replace(query=""))
    target = None if pending.style == "canvas" else custom.get("target")
    link = DemoLink(
        link_id=book.new_link_id(course.course_id),
        resource_link_id=str(uuid.uuid4()),
        title=str(item.get("title") or "Peer support training")[:200],
        custom_target=str(target) if target else None,
        url=url,
    )
    book.add_link(course.course_id, link)
    line_item = item.get("lineItem")
    if isinstance(line_item, dict) and isinstance(
        line_item.get("scoreMaximum"), int | float
    ):
        book.add_column(
            course.course_id,
            label=str(line_item.get("label") or link.title),
            score_maximum=float(line_item["scoreMaximum"]),
            resource_id=line_item.get("resourceId"),
            tag=line_item.get("tag"),
            resource_link_id=link.resource_link_id,
            client_id=client.client_id,
        )
    return link


def _refused(course: DemoCourse, reason: str) -> tuple[str, int]:
    page = render_template("error.html", title="Content not added", description=reason)
    return page, 400


def _course(course_id: str) -> DemoCourse:
    return find_course(course_id) or abort(404)


def _person() -> Any:
    return find_person(request.args.get("user", "coordinator")) or abort(
        400, "Choose a demo user: learner or coordinator."
    )


def _client() -> ToolClient:
    clients = sandbox_state().clients
    client_id = request.args.get("client", "")
    if not client_id:
        return clients.fixed
    return clients.find(client_id) or abort(400, "That tool client is not registered.")
