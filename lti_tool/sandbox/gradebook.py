"""The sandbox's grade book, access tokens and deep-linked links, in memory.

One process serves the sandbox (development and tests), so a lock is enough.
Everything a test needs to check after a run is here: each result with the
history of the scores accepted for it, and counters of what was asked.
"""

from __future__ import annotations

import secrets
import threading
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from lti_tool.sandbox.config import SandboxConfig
from lti_tool.sandbox.demo import COURSES, DemoCourse, DemoLink, find_course
from lti_tool.sandbox.roster import Enrolment, course_roster


@dataclass
class GradeColumn:
    """A line item: one column of a course's grade book."""

    id: int
    course_id: str
    label: str
    score_maximum: float
    resource_id: str | None = None
    tag: str | None = None
    resource_link_id: str | None = None
    client_id: str = ""


@dataclass
class Result:
    """One learner's result in one column, with every accepted score."""

    user_id: str
    score_given: float | None
    score_maximum: float | None
    activity_progress: str
    grading_progress: str
    comment: str
    timestamp: datetime
    history: list[tuple[datetime, float | None]] = field(default_factory=list)


@dataclass(frozen=True)
class AccessToken:
    client_id: str
    scopes: frozenset[str]
    expires_at: float


@dataclass(frozen=True)
class DeepLinkingRequest:
    """A deep-linking launch waiting for the tool's answer."""

    course_id: str
    client_id: str
    deployment_id: str
    style: str
    data: str | None
    accept_multiple: bool
    expires_at: float


class StaleTimestamp(ValueError):
    """A score older than the result it would replace (Canvas answers 400)."""


class GradeBook:
    """Line items, results, tokens and links the sandbox created at runtime."""

    def __init__(self, config: SandboxConfig, clock: Callable[[], float]) -> None:
        self._config = config
        self._clock = clock
        self._lock = threading.Lock()
        self._columns: dict[int, GradeColumn] = {}
        self._results: dict[tuple[int, str], Result] = {}
        self._tokens: dict[str, AccessToken] = {}
        self._used_jtis: dict[str, float] = {}
        self._deep_linking: dict[str, DeepLinkingRequest] = {}
        self._links: dict[str, list[DemoLink]] = {c.course_id: [] for c in COURSES}
        self._rosters = {c.course_id: course_roster(config, c) for c in COURSES}
        self.counters: Counter[str] = Counter()

    # Counters and faults

    def count(self, name: str) -> int:
        """Add one to a counter; returns the new value."""
        with self._lock:
            self.counters[name] += 1
            return self.counters[name]

    # Rosters and links

    def roster(self, course_id: str) -> tuple[Enrolment, ...]:
        return self._rosters.get(course_id, ())

    def learner(self, course_id: str, user_id: str) -> Enrolment | None:
        """The enrolled learner with this `sub`, if there is one."""
        return next(
            (m for m in self.roster(course_id) if m.sub == user_id and m.is_learner),
            None,
        )

    def links(self, course: DemoCourse) -> list[DemoLink]:
        """The course's fixed links and those deep linking added."""
        with self._lock:
            return [*course.links, *self._links.get(course.course_id, [])]

    def find_link(self, course_id: str, link_id: str) -> DemoLink | None:
        course = find_course(course_id)
        if course is None:
            return None
        return next(
            (link for link in self.links(course) if link.link_id == link_id), None
        )

    def add_link(self, course_id: str, link: DemoLink) -> None:
        with self._lock:
            self._links.setdefault(course_id, []).append(link)

    def new_link_id(self, course_id: str) -> str:
        with self._lock:
            return f"added-{len(self._links.get(course_id, [])) + 1}"

    # Tokens

    def use_jti(self, jti: str, expires_at: float) -> bool:
        """Spend an assertion id; False when it was seen before (a replay)."""
        now = self._clock()
        with self._lock:
            for old in [j for j, exp in self._used_jtis.items() if exp < now - 600]:
                del self._used_jtis[old]
            if jti in self._used_jtis:
                return False
            self._used_jtis[jti] = expires_at
            return True

    def issue_token(self, client_id: str, scopes: frozenset[str]) -> str:
        value = secrets.token_urlsafe(32)
        expires_at = self._clock() + self._config.access_token_ttl_seconds
        with self._lock:
            self._tokens[value] = AccessToken(client_id, scopes, expires_at)
        return value

    def token(self, value: str) -> AccessToken | None:
        """A live token, or None when unknown or expired."""
        with self._lock:
            found = self._tokens.get(value)
        if found is None or found.expires_at <= self._clock():
            return None
        return found

    def revoke_tokens(self) -> None:
        """Forget every token, as a platform restart or a revocation would."""
        with self._lock:
            self._tokens.clear()

    # Line items and results

    def columns(self, course_id: str) -> list[GradeColumn]:
        with self._lock:
            return [c for c in self._columns.values() if c.course_id == course_id]

    def column(self, course_id: str, column_id: int) -> GradeColumn | None:
        with self._lock:
            found = self._columns.get(column_id)
        return found if found is not None and found.course_id == course_id else None

    def add_column(self, course_id: str, **fields: Any) -> GradeColumn:
        with self._lock:
            column = GradeColumn(
                id=len(self._columns) + 1, course_id=course_id, **fields
            )
            self._columns[column.id] = column
            return column

    def delete_column(self, column_id: int) -> None:
        """Remove a column and its results, as a teacher deleting it would."""
        with self._lock:
            self._columns.pop(column_id, None)
            for key in [k for k in self._results if k[0] == column_id]:
                del self._results[key]

    def record(self, column_id: int, result: Result) -> Result:
        """Store a score; StaleTimestamp when it is older than the stored one."""
        key = (column_id, result.user_id)
        with self._lock:
            stored = self._results.get(key)
            if stored is not None and result.timestamp < stored.timestamp:
                self.counters["stale_scores"] += 1
                raise StaleTimestamp(
                    stored.timestamp.isoformat(timespec="milliseconds")
                )
            result.history = [
                *(stored.history if stored else []),
                (result.timestamp, result.score_given),
            ]
            self._results[key] = result
            self.counters["scores_accepted"] += 1
            return result

    def results(self, column_id: int) -> list[Result]:
        with self._lock:
            return [r for (c, _), r in self._results.items() if c == column_id]

    def result(self, column_id: int, user_id: str) -> Result | None:
        with self._lock:
            return self._results.get((column_id, user_id))

    # Deep linking

    def open_deep_linking(self, request: DeepLinkingRequest) -> str:
        request_id = uuid.uuid4().hex
        with self._lock:
            self._deep_linking[request_id] = request
        return request_id

    def peek_deep_linking(self, request_id: str) -> DeepLinkingRequest | None:
        """The pending request, left in place; None when unknown or expired."""
        with self._lock:
            found = self._deep_linking.get(request_id)
        if found is None or found.expires_at <= self._clock():
            return None
        return found

    def take_deep_linking(self, request_id: str) -> DeepLinkingRequest | None:
        """The pending request, once; None when unknown, used or expired."""
        with self._lock:
            found = self._deep_linking.pop(request_id, None)
        if found is None or found.expires_at <= self._clock():
            return None
        return found
