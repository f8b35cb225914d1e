"""LTI Advantage on the sandbox: token endpoint, line items, scores and rosters.

As strict as Canvas where Canvas is strictest (scoreMaximum with scoreGiven,
timestamps that never go back, only learners graded, `{"errors": …}` bodies) and
as Moodle where Moodle is (the exact score media type). Lists are paged through
`Link` headers in Canvas's format. A fault switch in the config makes every
n-th service request fail or answer too late.
"""

from __future__ import annotations

import logging
import math
import re
import time
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import jwt
from flask import Blueprint, Response, abort, g, jsonify, request

from lti_tool.sandbox.demo import DemoCourse, find_course
from lti_tool.sandbox.gradebook import AccessToken, GradeColumn, Result, StaleTimestamp
from lti_tool.sandbox.state import sandbox_state
from lti_tool.sandbox.tool_keys import ToolKeyError
from lti_tool.sandbox.vocab import NRPS_SCOPE, AgsScope

logger = logging.getLogger(__name__)

blueprint = Blueprint("advantage", __name__)

SCORE_MEDIA = "application/vnd.ims.lis.v1.score+json"
LINE_ITEM_MEDIA = "application/vnd.ims.lis.v2.lineitem+json"
LINE_ITEMS_MEDIA = "application/vnd.ims.lis.v2.lineitemcontainer+json"
RESULTS_MEDIA = "application/vnd.ims.lis.v2.resultcontainer+json"
MEMBERSHIPS_MEDIA = "application/vnd.ims.lti-nrps.v2.membershipcontainer+json"
JWT_BEARER = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
CANVAS_SUBMISSION = "https://canvas.instructure.com/lti/submission"
GRANTABLE_SCOPES = frozenset({*(str(scope) for scope in AgsScope), NRPS_SCOPE})
ACTIVITY_PROGRESS = {"Initialized", "Started", "InProgress", "Submitted", "Completed"}
GRADING_PROGRESS = {"FullyGraded", "Pending", "PendingManual", "Failed", "NotReady"}
# RFC 3339 with a zone: Blackboard and Canvas refuse local times.
_TIMESTAMP = re.compile(
    r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})$"
)
ASSERTION_MAX_AGE_SECONDS = 300
ASSERTION_MAX_LIFETIME_SECONDS = 600
MAX_PAGE_SIZE = 50


@blueprint.before_request
def _inject_fault() -> Response | None:
    state = sandbox_state()
    config = state.config
    number = state.book.count("service_requests")
    if not config.fault_every or number % config.fault_every:
        return None
    fault = state.book.count("faults")
    mode = config.fault_mode
    if mode == "mixed":
        mode = "error" if fault % 2 else "timeout"
    if mode == "error":
        return _error(500, "internal_server_error", "injected fault")
    g.sandbox_late_answer = True
    return None


@blueprint.after_request
def _answer_late(response: Response) -> Response:
    # The work is done; only the answer comes late, or after the client gave up.
    config = sandbox_state().config
    if g.pop("sandbox_late_answer", False):
        time.sleep(config.fault_sleep_seconds)
    elif config.latency_seconds:
        time.sleep(config.latency_seconds)
    return response


@blueprint.post("/token")
def token() -> Response:
    """OAuth 2 client credentials with a JWT assertion signed by the tool."""
    state = sandbox_state()
    state.book.count("token_requests")
    form = request.form
    if form.get("grant_type") != "client_credentials":
        return _oauth_error(
            "unsupported_grant_type", "grant_type must be client_credentials"
        )
    if form.get("client_assertion_type") != JWT_BEARER:
        return _oauth_error(
            "invalid_request", "client_assertion_type is not jwt-bearer"
        )
    assertion = form.get("client_assertion", "")
    try:
        unverified = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.DecodeError:
        return _oauth_error("invalid_request", "the client_assertion is not a JWT")
    client = state.clients.find(str(unverified.get("sub", "")))
    if client is None or unverified.get("iss") != client.client_id:
        return _oauth_error("invalid_client", "unknown client", status=401)

    problem = _assertion_problem(assertion, client.jwks_uri)
    if problem:
        return _oauth_error("invalid_request", problem)
    scopes = frozenset(form.get("scope", "").split())
    if not scopes or not scopes <= GRANTABLE_SCOPES:
        return _oauth_error("invalid_scope", "a requested scope is not granted")

    value = state.book.issue_token(client.client_id, scopes)
    state.book.count("tokens_issued")
    logger.info(
        "access token issued client=%s scopes=%d", client.client_id, len(scopes)
    )
    return jsonify(
        access_token=value,
        token_type="Bearer",
        expires_in=state.config.access_token_ttl_seconds,
        scope=" ".join(sorted(scopes)),
    )


def _assertion_problem(assertion: str, jwks_uri: str) -> str:
    """Why the assertion is refused, or an empty string."""
    state = sandbox_state()
    now = state.clock()
    try:
        claims = state.tool_keys.verify(
            assertion,
            jwks_uri,
            audience=state.config.url("/token"),
            leeway=5,
            options={"require": ["iss", "sub", "aud", "exp", "iat", "jti"]},
        )
    except ToolKeyError as error:
        return str(error)
    except jwt.ExpiredSignatureError:
        return "the JWT has expired"
    except jwt.InvalidAudienceError:
        return "the 'aud' is invalid"
    except jwt.InvalidTokenError as error:
        return f"the JWT is invalid: {error}"
    if now - float(claims["iat"]) > ASSERTION_MAX_AGE_SECONDS:
        return "the 'iat' must be less than 300 seconds old"
    if float(claims["exp"]) - now > ASSERTION_MAX_LIFETIME_SECONDS:
        return "the 'exp' is too far in the future"
    if not state.book.use_jti(str(claims["jti"]), float(claims["exp"])):
        return "the 'jti' was used before"
    return ""


@blueprint.get("/api/courses/<course_id>/lineitems")
def line_items(course_id: str) -> Response:
    token = _authorised(AgsScope.LINE_ITEM, AgsScope.LINE_ITEM_READONLY)
    course = _course(course_id)
    wanted = {
        "resource_link_id": request.args.get("resource_link_id"),
        "resource_id": request.args.get("resource_id"),
        "tag": request.args.get("tag"),
    }
    columns = [
        column
        for column in sandbox_state().book.columns(course.course_id)
        if column.client_id == token.client_id
        and all(
            value is None or getattr(column, name) == value
            for name, value in wanted.items()
        )
    ]
    page, links = _page(columns, sandbox_state().config.line_items_page_size)
    response = jsonify([_column_json(column) for column in page])
    response.content_type = LINE_ITEMS_MEDIA
    if links:
        response.headers["Link"] = links
    return response


@blueprint.post("/api/courses/<course_id>/lineitems")
def add_line_item(course_id: str) -> tuple[Response, int]:
    token = _authorised(AgsScope.LINE_ITEM)
    course = _course(course_id)
    if request.mimetype != LINE_ITEM_MEDIA:
        abort(_error(415, "unsupported_media_type", f"use {LINE_ITEM_MEDIA}"))
    body = _json_object()
    maximum = body.get("scoreMaximum")
    if (
        not isinstance(maximum, int | float)
        or isinstance(maximum, bool)
        or maximum <= 0
    ):
        abort(_error(422, "unprocessable_entity", "scoreMaximum must be above 0"))
    label = body.get("label")
    if not isinstance(label, str) or not label.strip():
        abort(_error(422, "unprocessable_entity", "label is required"))
    link_id = body.get("resourceLinkId")
    book = sandbox_state().book
    if link_id is not None and not any(
        link.resource_link_id == link_id for link in book.links(course)
    ):
        abort(_error(404, "not_found", "unknown resourceLinkId"))
    column = book.add_column(
        course.course_id,
        label=label.strip(),
        score_maximum=float(maximum),
        resource_id=_text(body.get("resourceId")),
        tag=_text(body.get("tag")),
        resource_link_id=_text(link_id),
        client_id=token.client_id,
    )
    book.count("line_items_created")
    response = jsonify(_column_json(column))
    response.content_type = LINE_ITEM_MEDIA
    return response, 201


@blueprint.get("/api/courses/<course_id>/lineitems/<int:column_id>")
def line_item(course_id: str, column_id: int) -> Response:
    _authorised(AgsScope.LINE_ITEM, AgsScope.LINE_ITEM_READONLY)
    response = jsonify(_column_json(_column(course_id, column_id)))
    response.content_type = LINE_ITEM_MEDIA
    return response


@blueprint.post("/api/courses/<course_id>/lineitems/<int:column_id>/scores")
def post_score(course_id: str, column_id: int) -> Response:
    """Accept one score, refusing what Canvas or Moodle would refuse."""
    _authorised(AgsScope.SCORE)
    column = _column(course_id, column_id)
    if request.mimetype != SCORE_MEDIA:
        abort(_error(415, "unsupported_media_type", f"use {SCORE_MEDIA}"))
    body = _json_object()
    for name in ("userId", "activityProgress", "gradingProgress", "timestamp"):
        if body.get(name) in (None, ""):
            abort(_error(400, "bad_request", f"param is missing: {name}"))
    state = sandbox_state()
    if state.book.learner(course_id, str(body["userId"])) is None:
        abort(
            _error(
                422,
                "unprocessable_entity",
                "User not found in course or is not a student",
            )
        )
    timestamp = _timestamp(body["timestamp"], "timestamp")
    _check_score_values(body, column)
    _check_submitted_at(body)

    result = Result(
        user_id=str(body["userId"]),
        score_given=_number(body.get("scoreGiven")),
        score_maximum=_number(body.get("scoreMaximum")),
        activity_progress=str(body["activityProgress"]),
        grading_progress=str(body["gradingProgress"]),
        comment=str(body.get("comment") or ""),
        timestamp=timestamp,
    )
    try:
        state.book.record(column.id, result)
    except StaleTimestamp as stored:
        abort(
            _error(
                400,
                "bad_request",
                f"Provided timestamp of {body['timestamp']} before last updated "
                f"timestamp of {stored}",
            )
        )
    result_url = state.config.url(
        f"/api/courses/{course_id}/lineitems/{column.id}/results/{result.user_id}"
    )
    response = jsonify(
        {"resultUrl": result_url, CANVAS_SUBMISSION: {"content_items": []}}
    )
    response.content_type = SCORE_MEDIA
    return response


@blueprint.get("/api/courses/<course_id>/lineitems/<int:column_id>/results")
def results(course_id: str, column_id: int) -> Response:
    _authorised(AgsScope.RESULT_READONLY)
    column = _column(course_id, column_id)
    base = sandbox_state().config.url(f"/api/courses/{course_id}/lineitems/{column.id}")
    response = jsonify(
        [
            {
                "id": f"{base}/results/{result.user_id}",
                "scoreOf": base,
                "userId": result.user_id,
                "resultScore": result.score_given,
                "resultMaximum": result.score_maximum,
                "comment": result.comment,
                "timestamp": result.timestamp.isoformat(timespec="milliseconds"),
            }
            for result in sandbox_state().book.results(column.id)
        ]
    )
    response.content_type = RESULTS_MEDIA
    return response


@blueprint.get("/api/courses/<course_id>/memberships")
def memberships(course_id: str) -> Response:
    _authorised(NRPS_SCOPE)
    course = _course(course_id)
    roster = sandbox_state().book.roster(course.course_id)
    page, links = _page(list(roster), sandbox_state().config.members_page_size)
    response = jsonify(
        {
            "id": request.url,
            "context": {
                "id": course.context_id,
                "label": course.label,
                "title": course.title,
            },
            "members": [
                {
                    "status": "Active",
                    "name": member.name,
                    "given_name": member.given_name,
                    "family_name": member.family_name,
                    "user_id": member.sub,
                    "roles": list(member.roles),
                }
                for member in page
            ],
        }
    )
    response.content_type = MEMBERSHIPS_MEDIA
    if links:
        response.headers["Link"] = links
    return response


def _authorised(*scopes: str) -> AccessToken:
    """The request's bearer token, which must carry one of the scopes."""
    scheme, _, value = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        abort(_error(401, "unauthorized", "Missing access token"))
    found = sandbox_state().book.token(value.strip())
    if found is None:
        abort(_error(401, "unauthorized", "Invalid access token"))
    if not found.scopes & {str(scope) for scope in scopes}:
        abort(_error(401, "unauthorized", "Insufficient permissions"))
    return found


def _course(course_id: str) -> DemoCourse:
    course = find_course(course_id)
    if course is None:
        abort(_not_found())
    return course


def _column(course_id: str, column_id: int) -> GradeColumn:
    column = sandbox_state().book.column(_course(course_id).course_id, column_id)
    if column is None:
        abort(_not_found())
    return column


def _json_object() -> dict[str, Any]:
    body = request.get_json(force=True, silent=True)
    if not isinstance(body, dict):
        abort(_error(400, "bad_request", "the body must be a JSON object"))
    return body


def _timestamp(value: Any, name: str) -> datetime:
    text = str(value)
    if not _TIMESTAMP.match(text):
        abort(
            _error(
                400, "bad_request", f"Provided {name} of {text} not a valid timestamp"
            )
        )
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _check_score_values(body: dict[str, Any], column: GradeColumn) -> None:
    if body["activityProgress"] not in ACTIVITY_PROGRESS:
        abort(_error(400, "bad_request", "unknown activityProgress"))
    if body["gradingProgress"] not in GRADING_PROGRESS:
        abort(_error(400, "bad_request", "unknown gradingProgress"))
    given, maximum = body.get("scoreGiven"), body.get("scoreMaximum")
    if given is not None and maximum is None:
        abort(
            _error(
                422,
                "unprocessable_entity",
                "ScoreMaximum not supplied when ScoreGiven present.",
            )
        )
    if maximum is not None and (_number(maximum) or 0) < 0:
        abort(
            _error(
                422,
                "unprocessable_entity",
                "ScoreMaximum must be greater than or equal to 0",
            )
        )
    if maximum is not None and _number(maximum) == 0 and column.score_maximum != 0:
        abort(
            _error(
                422,
                "unprocessable_entity",
                "cannot be zero if line item's maximum is not zero",
            )
        )
    if given is not None and (_number(given) or 0) < 0:
        abort(
            _error(
                422,
                "unprocessable_entity",
                "ScoreGiven must be greater than or equal to 0",
            )
        )


def _check_submitted_at(body: dict[str, Any]) -> None:
    extension = body.get(CANVAS_SUBMISSION)
    if not isinstance(extension, dict) or "submitted_at" not in extension:
        return
    submitted = _timestamp(extension["submitted_at"], "submitted_at")
    now = datetime.fromtimestamp(sandbox_state().clock(), submitted.tzinfo)
    if submitted > now + timedelta(minutes=1):
        abort(
            _error(400, "bad_request", "Provided submitted_at timestamp in the future")
        )


def _page(items: list[Any], default_size: int) -> tuple[list[Any], str]:
    """One page of `items` and the Link header, as Canvas writes it."""
    try:
        size = min(max(int(request.args.get("limit", default_size)), 1), MAX_PAGE_SIZE)
        number = max(int(request.args.get("page", 1)), 1)
    except ValueError:
        abort(_error(400, "bad_request", "limit and page must be numbers"))
    last = max(math.ceil(len(items) / size), 1)
    kept = [
        (k, v) for k, v in request.args.items(multi=True) if k not in ("page", "limit")
    ]

    def url(page: int) -> str:
        query = urlencode([*kept, ("page", str(page)), ("per_page", str(size))])
        return f"{request.base_url}?{query}"

    rels = [("current", number)]
    if number < last:
        rels.append(("next", number + 1))
    if number > 1:
        rels.append(("prev", number - 1))
    rels += [("first", 1), ("last", last)]
    links = ",".join(f'<{url(page)}>; rel="{rel}"' for rel, page in rels)
    return items[(number - 1) * size : number * size], links


def _column_json(column: GradeColumn) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": sandbox_state().config.url(
            f"/api/courses/{column.course_id}/lineitems/{column.id}"
        ),
        "scoreMaximum": column.score_maximum,
        "label": column.label,
    }
    for key, value in (
        ("resourceId", column.resource_id),
        ("tag", column.tag),
        ("resourceLinkId", column.resource_link_id),
    ):
        if value is not None:
            body[key] = value
    return body


def _number(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        abort(_error(400, "bad_request", "scores must be numbers"))
    return float(value)


def _text(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def _error(status: int, kind: str, message: str) -> Response:
    response = jsonify(errors={"type": kind, "message": message})
    response.status_code = status
    return response


def _not_found() -> Response:
    response = jsonify(errors=[{"message": "The specified resource does not exist."}])
    response.status_code = 404
    return response


def _oauth_error(error: str, description: str, status: int = 400) -> Response:
    response = jsonify(error=error, error_description=description)
    response.status_code = status
    return response
