"""Assignment and Grade Services 2.0: line items and scores.

https://www.imsglobal.org/spec/lti-ags/v2p0 – with the platforms' quirks:
Moodle's line-item URLs carry `?type_id=` (LTI-NOTES case 18) and it lists every
line item of the course (case 20), Moodle wants the exact score media type
(case 19), Canvas wants `scoreMaximum` with `scoreGiven` (case 17) and the
submission extension (case 15).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from lti_tool.services.client import ServiceClient
from lti_tool.services.errors import PlatformServiceError

LINE_ITEM_MEDIA = "application/vnd.ims.lis.v2.lineitem+json"
LINE_ITEMS_MEDIA = "application/vnd.ims.lis.v2.lineitemcontainer+json"
SCORE_MEDIA = "application/vnd.ims.lis.v1.score+json"
CANVAS_SUBMISSION = "https://canvas.instructure.com/lti/submission"
# Every line item the tool creates carries this tag next to its resource id.
HOURS_TAG = "hours"


class AgsScope(StrEnum):
    LINE_ITEM = "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem"
    LINE_ITEM_READONLY = (
        "https://purl.imsglobal.org/spec/lti-ags/scope/lineitem.readonly"
    )
    RESULT_READONLY = "https://purl.imsglobal.org/spec/lti-ags/scope/result.readonly"
    SCORE = "https://purl.imsglobal.org/spec/lti-ags/scope/score"


# What the tool asks for: finding and creating columns, and posting scores.
WANTED_SCOPES = frozenset(
    {AgsScope.LINE_ITEM, AgsScope.LINE_ITEM_READONLY, AgsScope.SCORE}
)


class ActivityProgress(StrEnum):
    INITIALIZED = "Initialized"
    STARTED = "Started"
    IN_PROGRESS = "InProgress"
    SUBMITTED = "Submitted"
    COMPLETED = "Completed"


class GradingProgress(StrEnum):
    FULLY_GRADED = "FullyGraded"
    PENDING_MANUAL = "PendingManual"


def service_url(line_item_url: str, leaf: str) -> str:
    """`<line item>/scores` (or `/results`), keeping the line item's query."""
    parts = urlsplit(line_item_url)
    path = parts.path.rstrip("/") + "/" + leaf
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


def with_query(url: str, **params: str) -> str:
    """The URL with extra query parameters after the ones it already has."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    query.extend((name, value) for name, value in params.items() if value)
    return urlunsplit(
        (parts.scheme, parts.netloc, parts.path, urlencode(query), parts.fragment)
    )


def rfc3339(moment: datetime) -> str:
    """An RFC 3339 timestamp with milliseconds and an explicit offset (case 14)."""
    if moment.tzinfo is None:
        raise ValueError("score timestamps must be timezone-aware")
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


@dataclass(frozen=True)
class LineItemSpec:
    """A line item the tool wants: its column label, maximum and identity."""

    label: str
    score_maximum: float
    resource_id: str
    tag: str = HOURS_TAG
    resource_link_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "scoreMaximum": self.score_maximum,
            "label": self.label,
            "resourceId": self.resource_id,
            "tag": self.tag,
        }
        if self.resource_link_id:
            body["resourceLinkId"] = self.resource_link_id
        return body


@dataclass(frozen=True)
class PlatformLineItem:
    """A line item as the platform lists it."""

    url: str
    label: str
    score_maximum: float
    resource_id: str | None
    tag: str | None
    resource_link_id: str | None

    @classmethod
    def from_json(cls, body: Any) -> PlatformLineItem:
        if not isinstance(body, dict) or not isinstance(body.get("id"), str):
            raise ValueError("a line item without an id")
        return cls(
            url=body["id"],
            label=str(body.get("label") or ""),
            score_maximum=float(body.get("scoreMaximum") or 0),
            resource_id=_optional_text(body.get("resourceId")),
            tag=_optional_text(body.get("tag")),
            resource_link_id=_optional_text(body.get("resourceLinkId")),
        )

    def matches(self, spec: LineItemSpec) -> bool:
        """Ours for this link: same resource id and tag, never the tag alone."""
        if self.resource_id != spec.resource_id or self.tag != spec.tag:
            return False
        return not (
            spec.resource_link_id
            and self.resource_link_id
            and self.resource_link_id != spec.resource_link_id
        )


def _optional_text(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


@dataclass(frozen=True)
class Score:
    """One participant's result for a line item, as AGS posts it."""

    user_id: str
    score_given: float
    score_maximum: float
    activity_progress: ActivityProgress
    grading_progress: GradingProgress
    timestamp: datetime
    comment: str = ""
    submitted_at: datetime | None = None
    new_submission: bool = False

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "userId": self.user_id,
            "scoreGiven": self.score_given,
            "scoreMaximum": self.score_maximum,
            "activityProgress": self.activity_progress.value,
            "gradingProgress": self.grading_progress.value,
            "timestamp": rfc3339(self.timestamp),
        }
        if self.comment:
            body["comment"] = self.comment
        # Canvas: re-grades must not open a new attempt, and the submission
        # time is the participant's, not the time the score was sent.
        extension: dict[str, Any] = {"new_submission": self.new_submission}
        if self.submitted_at is not None:
            extension["submitted_at"] = rfc3339(min(self.submitted_at, self.timestamp))
        body[CANVAS_SUBMISSION] = extension
        return body


class AgsClient:
    """Line items and scores of one context, through one service client."""

    def __init__(self, client: ServiceClient) -> None:
        self._client = client

    def list_line_items(
        self, line_items_url: str, spec: LineItemSpec | None = None
    ) -> list[PlatformLineItem]:
        """Every line item the listing returns, over all its pages."""
        url = line_items_url
        if spec is not None:
            # Filters narrow the listing where supported; `matches` still decides.
            url = with_query(
                url,
                resource_id=spec.resource_id,
                tag=spec.tag,
                resource_link_id=spec.resource_link_id or "",
            )
        found: list[PlatformLineItem] = []
        for page in self._client.pages(url, accept=LINE_ITEMS_MEDIA):
            items = _json(page)
            if not isinstance(items, list):
                raise _unexpected(page.url, "the line-item listing is not a list")
            found.extend(PlatformLineItem.from_json(item) for item in items)
        return found

    def find_line_item(
        self, line_items_url: str, spec: LineItemSpec
    ) -> PlatformLineItem | None:
        """Our line item for this spec, preferring one tied to the same link."""
        candidates = [
            item
            for item in self.list_line_items(line_items_url, spec)
            if item.matches(spec)
        ]
        candidates.sort(key=lambda item: item.resource_link_id is None)
        return candidates[0] if candidates else None

    def create_line_item(
        self, line_items_url: str, spec: LineItemSpec
    ) -> PlatformLineItem:
        """POST a new line item to the container."""
        response = self._client.request(
            "POST",
            line_items_url,
            accept=LINE_ITEM_MEDIA,
            headers={"Content-Type": LINE_ITEM_MEDIA},
            data=json.dumps(spec.to_json()),
        )
        try:
            return PlatformLineItem.from_json(_json(response))
        except ValueError:
            raise _unexpected(response.url, "the new line item has no id") from None

    def find_or_create(
        self, line_items_url: str, spec: LineItemSpec
    ) -> PlatformLineItem:
        """The existing line item for the spec, or a new one; never a duplicate."""
        found = self.find_line_item(line_items_url, spec)
        return (
            found if found is not None else self.create_line_item(line_items_url, spec)
        )

    def publish_score(self, line_item_url: str, score: Score) -> None:
        """POST the score to `<line item>/scores` with the exact score media type."""
        self._client.request(
            "POST",
            service_url(line_item_url, "scores"),
            accept="application/json",
            headers={"Content-Type": SCORE_MEDIA},
            data=json.dumps(score.to_json()),
        )


def _json(response: Any) -> Any:
    try:
        return response.json()
    except ValueError:
        raise _unexpected(response.url, "the platform answered without JSON") from None


def _unexpected(url: str, message: str) -> PlatformServiceError:
    # An answer we cannot read will not improve by retrying soon.
    return PlatformServiceError(message, url=url, transient=False)
