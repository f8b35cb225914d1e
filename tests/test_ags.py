"""AGS line items and scores in the shapes Moodle 4.5 and Canvas send and expect."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import responses

from lti_tool.lti.http import PlatformSession
from lti_tool.services.ags import (
    CANVAS_SUBMISSION,
    LINE_ITEM_MEDIA,
    SCORE_MEDIA,
    ActivityProgress,
    AgsClient,
    GradingProgress,
    LineItemSpec,
    Score,
    rfc3339,
    service_url,
)
from lti_tool.services.client import ServiceClient
from lti_tool.services.errors import PlatformServiceError
from lti_tool.services.token import AccessTokens, ServiceAccount
from tests.services_helpers import MemoryStore, fixture

TOKEN_URL = "https://lms.example.edu/token"
# The recorded Moodle's and Canvas's service hosts, as ServiceAccount.of names them.
SERVICE_HOSTS = ("127.0.0.1:8081", "*.instructure.com:443")
MOODLE_LINE_ITEMS = "http://127.0.0.1:8081/mod/lti/services.php/2/lineitems?type_id=1"
MOODLE_LINE_ITEM = (
    "http://127.0.0.1:8081/mod/lti/services.php/2/lineitems/2/lineitem?type_id=1"
)
CANVAS_LINE_ITEMS = "https://westfield.instructure.com/api/lti/courses/4821/line_items"
CANVAS_LINE_ITEM = CANVAS_LINE_ITEMS + "/912"
RFC3339_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00$")
SPEC = LineItemSpec(
    label="Medi-Cal Peer Support Specialist Training",
    score_maximum=100.0,
    resource_id="pss",
    resource_link_id="c2e8a4f1-7b3d-4e95-a06c-59d1f2b7e813",
)


@pytest.fixture
def ags(keys_dir: Any) -> AgsClient:
    from datetime import timedelta

    from lti_tool.lti.keys import KeyRing

    tokens = AccessTokens(
        MemoryStore(), PlatformSession(5), KeyRing(keys_dir, timedelta(days=14))
    )
    account = ServiceAccount(1, "client-1", TOKEN_URL, TOKEN_URL, SERVICE_HOSTS)
    return AgsClient(
        ServiceClient(
            tokens, PlatformSession(5), account, ["scope-a", "scope-b"], "ags"
        )
    )


def token_answer(mock: responses.RequestsMock, value: str = "token-1") -> None:
    mock.post(TOKEN_URL, json={"access_token": value, "expires_in": 3600})


def a_score(**changes: Any) -> Score:
    values: dict[str, Any] = {
        "user_id": "5d8f2b6e-91c4-4a7d-b3e0-6f1a9c2d7e48",
        "score_given": 12.5,
        "score_maximum": 100.0,
        "activity_progress": ActivityProgress.IN_PROGRESS,
        "grading_progress": GradingProgress.FULLY_GRADED,
        "timestamp": datetime(2025, 3, 3, 16, 20, 31, 482000, tzinfo=UTC),
        "comment": "12.5 of 100 hours credited",
        "submitted_at": datetime(2025, 3, 3, 16, 19, 58, 103000, tzinfo=UTC),
        "new_submission": False,
    }
    return Score(**{**values, **changes})


# URLs and payloads


def test_scores_url_keeps_moodles_type_id_query() -> None:
    assert service_url(MOODLE_LINE_ITEM, "scores") == (
        "http://127.0.0.1:8081/mod/lti/services.php/2/lineitems/2/lineitem/scores"
        "?type_id=1"
    )
    assert service_url(CANVAS_LINE_ITEM, "scores") == CANVAS_LINE_ITEM + "/scores"
    assert service_url(CANVAS_LINE_ITEM + "/", "results") == (
        CANVAS_LINE_ITEM + "/results"
    )


def test_timestamps_are_utc_with_milliseconds_and_an_offset() -> None:
    local = datetime(
        2025, 3, 3, 8, 20, 31, 482913, tzinfo=ZoneInfo("America/Los_Angeles")
    )

    assert rfc3339(local) == "2025-03-03T16:20:31.482+00:00"
    with pytest.raises(ValueError):
        rfc3339(datetime(2025, 3, 3, 16, 20, 31))


def test_score_body_has_what_canvas_requires_and_the_submission_extension() -> None:
    canvas = fixture("canvas/ags-score-request.json")["request"]["body"]

    body = a_score().to_json()

    assert set(canvas) - {"submission"} <= set(body)
    assert body["userId"] == canvas["userId"]
    assert RFC3339_MS.match(body["timestamp"])
    assert (body["scoreGiven"], body["scoreMaximum"]) == (12.5, 100.0)
    assert (body["activityProgress"], body["gradingProgress"]) == (
        "InProgress",
        "FullyGraded",
    )
    assert body[CANVAS_SUBMISSION] == {
        "new_submission": False,
        "submitted_at": "2025-03-03T16:19:58.103+00:00",
    }


def test_submission_time_is_never_after_the_score_timestamp() -> None:
    late = a_score(submitted_at=datetime(2030, 1, 1, tzinfo=UTC))

    extension = late.to_json()[CANVAS_SUBMISSION]

    assert extension["submitted_at"] == late.to_json()["timestamp"]


def test_first_score_opens_a_submission_and_regrades_do_not() -> None:
    assert a_score(new_submission=True).to_json()[CANVAS_SUBMISSION]["new_submission"]
    assert not a_score().to_json()[CANVAS_SUBMISSION]["new_submission"]


# Scores


def test_score_goes_to_moodles_scores_url_with_the_exact_media_type(
    ags: AgsClient,
) -> None:
    with responses.RequestsMock() as mock:
        token_answer(mock)
        mock.post(
            "http://127.0.0.1:8081/mod/lti/services.php/2/lineitems/2/lineitem/scores",
            match=[responses.matchers.query_param_matcher({"type_id": "1"})],
        )
        ags.publish_score(MOODLE_LINE_ITEM, a_score())
        score_call = mock.calls[1]

    assert score_call.request.headers["Content-Type"] == SCORE_MEDIA
    assert score_call.request.headers["Authorization"] == "Bearer token-1"
    assert json.loads(score_call.request.body)["scoreMaximum"] == 100.0


def test_a_refused_token_is_replaced_once_and_the_score_sent(ags: AgsClient) -> None:
    with responses.RequestsMock() as mock:
        mock.post(TOKEN_URL, json={"access_token": "revoked", "expires_in": 3600})
        mock.post(TOKEN_URL, json={"access_token": "fresh", "expires_in": 3600})
        mock.post(CANVAS_LINE_ITEM + "/scores", status=401)
        mock.post(CANVAS_LINE_ITEM + "/scores", status=200, json={})
        ags.publish_score(CANVAS_LINE_ITEM, a_score())
        sent = [c for c in mock.calls if c.request.url.endswith("/scores")]

    assert [c.request.headers["Authorization"] for c in sent] == [
        "Bearer revoked",
        "Bearer fresh",
    ]


def test_a_second_401_says_the_authorization_header_may_be_dropped(
    ags: AgsClient,
) -> None:
    with responses.RequestsMock() as mock:
        token_answer(mock)
        mock.post(
            CANVAS_LINE_ITEM + "/scores",
            status=401,
            json={
                "errors": {"type": "unauthorized", "message": "Missing access token"}
            },
        )
        with pytest.raises(PlatformServiceError) as raised:
            ags.publish_score(CANVAS_LINE_ITEM, a_score())
        token_calls = [c for c in mock.calls if c.request.url == TOKEN_URL]

    assert len(token_calls) == 2
    assert "Authorization header" in str(raised.value)
    assert raised.value.answer == "Missing access token"
    assert raised.value.describe().endswith(
        "Authorization header (HTTP 401: Missing access token)"
    )
    assert not raised.value.is_transient


@pytest.mark.parametrize(
    "case",
    fixture("canvas/ags-score-errors.json")["cases"],
    ids=lambda case: case["name"],
)
def test_canvas_score_refusals_keep_canvas_message(
    ags: AgsClient, case: dict[str, Any]
) -> None:
    response = case["response"]
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        token_answer(mock)
        scores = mock.post(
            CANVAS_LINE_ITEM + "/scores",
            status=response["status"],
            json=response["body"],
        )
        with pytest.raises(PlatformServiceError) as raised:
            ags.publish_score(CANVAS_LINE_ITEM, a_score())

    # A 401 is tried once more with a fresh token; nothing else is repeated.
    assert scores.call_count == (2 if response["status"] == 401 else 1)

    body = response["body"]["errors"]
    message = body["message"] if isinstance(body, dict) else body[0]["message"]
    assert raised.value.status == response["status"]
    assert raised.value.answer.startswith(message[:60])
    assert not raised.value.is_transient
    assert "token-1" not in raised.value.describe()


def test_throttling_and_server_errors_are_transient(ags: AgsClient) -> None:
    with responses.RequestsMock() as mock:
        token_answer(mock)
        mock.post(
            CANVAS_LINE_ITEM + "/scores", status=429, headers={"Retry-After": "7"}
        )
        with pytest.raises(PlatformServiceError) as throttled:
            ags.publish_score(CANVAS_LINE_ITEM, a_score())
        mock.replace(responses.POST, CANVAS_LINE_ITEM + "/scores", status=502)
        with pytest.raises(PlatformServiceError) as broken:
            ags.publish_score(CANVAS_LINE_ITEM, a_score())

    assert throttled.value.is_transient and throttled.value.retry_after == 7
    assert broken.value.is_transient and broken.value.status == 502


# Line items


def moodle_line_item(
    number: int, resource_id: str, tag: str, link: str
) -> dict[str, Any]:
    return {
        "id": f"http://127.0.0.1:8081/mod/lti/services.php/2/lineitems/{number}"
        "/lineitem?type_id=1",
        "label": f"Item {number}",
        "scoreMaximum": 100,
        "resourceId": resource_id,
        "tag": tag,
        "resourceLinkId": link,
    }


def test_line_item_is_found_by_resource_id_and_tag_never_by_tag_alone(
    ags: AgsClient,
) -> None:
    # Moodle lists every line item of the tool in the course, whatever the filter.
    listing = [
        moodle_line_item(1, "pcfm", "hours", SPEC.resource_link_id or ""),
        moodle_line_item(2, "pss", "other", SPEC.resource_link_id or ""),
        moodle_line_item(3, "pss", "hours", "another-link"),
        moodle_line_item(4, "pss", "hours", SPEC.resource_link_id or ""),
    ]
    with responses.RequestsMock() as mock:
        token_answer(mock)
        mock.get(MOODLE_LINE_ITEMS.split("?")[0], json=listing)
        found = ags.find_line_item(MOODLE_LINE_ITEMS, SPEC)
        listing_call = mock.calls[1]

    assert found is not None and found.url == listing[3]["id"]
    assert "type_id=1" in listing_call.request.url
    assert "resource_id=pss" in listing_call.request.url
    assert listing_call.request.headers["Accept"] == (
        "application/vnd.ims.lis.v2.lineitemcontainer+json"
    )


def test_line_item_listing_follows_canvas_pages(ags: AgsClient) -> None:
    page_one = fixture("canvas/ags-lineitems.json")
    next_url = CANVAS_LINE_ITEMS + "?limit=10&page=2&per_page=10"
    ours = {
        "id": CANVAS_LINE_ITEMS + "/914",
        "scoreMaximum": 100.0,
        "label": "PSS",
        "resourceId": "pss",
        "tag": "hours",
    }
    with responses.RequestsMock() as mock:
        token_answer(mock)
        mock.get(
            CANVAS_LINE_ITEMS,
            json=page_one["body"],
            headers={"Link": f'<{next_url}>; rel="next"'},
            match=[responses.matchers.query_param_matcher({}, strict_match=False)],
        )
        mock.get(next_url, json=[ours])
        found = ags.find_line_item(CANVAS_LINE_ITEMS, SPEC)

    assert found is not None and found.url == ours["id"]


def test_created_line_item_carries_resource_id_tag_and_link(ags: AgsClient) -> None:
    created = fixture("canvas/ags-lineitem.json")["create_request_example"]
    answer = {**created["response_body"], "resourceId": "pss", "tag": "hours"}
    with responses.RequestsMock() as mock:
        token_answer(mock)
        mock.get(CANVAS_LINE_ITEMS, json=[])
        mock.post(CANVAS_LINE_ITEMS, status=201, json=answer)
        item = ags.find_or_create(CANVAS_LINE_ITEMS, SPEC)
        post = mock.calls[-1]

    assert post.request.headers["Content-Type"] == LINE_ITEM_MEDIA
    assert json.loads(post.request.body) == {
        "scoreMaximum": 100.0,
        "label": SPEC.label,
        "resourceId": "pss",
        "tag": "hours",
        "resourceLinkId": SPEC.resource_link_id,
    }
    assert item.url == answer["id"]


def test_an_existing_line_item_is_not_created_again(ags: AgsClient) -> None:
    with responses.RequestsMock() as mock:
        token_answer(mock)
        mock.get(
            MOODLE_LINE_ITEMS.split("?")[0],
            json=[moodle_line_item(4, "pss", "hours", "")],
        )
        item = ags.find_or_create(MOODLE_LINE_ITEMS, SPEC)

        assert [c.request.method for c in mock.calls] == ["POST", "GET"]
    assert item.url.endswith("/lineitems/4/lineitem?type_id=1")


def test_a_listing_that_is_not_a_list_is_refused_for_good(ags: AgsClient) -> None:
    with responses.RequestsMock() as mock:
        token_answer(mock)
        mock.get(CANVAS_LINE_ITEMS, json={"lineItems": []})
        with pytest.raises(PlatformServiceError) as raised:
            ags.list_line_items(CANVAS_LINE_ITEMS)

    assert not raised.value.is_transient
