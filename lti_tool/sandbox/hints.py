"""Single-use, short-lived `lti_message_hint` values kept in process memory."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class MessageHint:
    """What one login initiation launches: who, which link, and how it is shown."""

    value: str
    person_key: str
    course_id: str
    link_id: str
    document_target: str
    has_storage: bool
    expires_at: float
    # The client registration the launch uses; empty means the fixed one.
    client_id: str = ""
    message_type: str = "LtiResourceLinkRequest"

    def is_expired(self, now: float) -> bool:
        """Whether the hint has outlived its lifetime."""
        return now >= self.expires_at


class MessageHintStore:
    """Issues hints and hands each one out once; one process, guarded by a lock."""

    def __init__(self, ttl_seconds: int, clock: Callable[[], float]) -> None:
        self._ttl_seconds = ttl_seconds
        self._clock = clock
        self._hints: dict[str, MessageHint] = {}
        self._lock = threading.Lock()

    def issue(
        self,
        *,
        person_key: str,
        course_id: str,
        link_id: str,
        document_target: str,
        has_storage: bool,
        client_id: str = "",
        message_type: str = "LtiResourceLinkRequest",
    ) -> MessageHint:
        """Create and remember a new hint for one launch."""
        now = self._clock()
        hint = MessageHint(
            value=secrets.token_urlsafe(32),
            person_key=person_key,
            course_id=course_id,
            link_id=link_id,
            document_target=document_target,
            has_storage=has_storage,
            expires_at=now + self._ttl_seconds,
            client_id=client_id,
            message_type=message_type,
        )

        with self._lock:
            self._drop_expired(now)
            self._hints[hint.value] = hint
        return hint

    def consume(self, value: str) -> MessageHint | None:
        """Remove and return the hint, expired or not; None if unknown or used."""
        with self._lock:
            return self._hints.pop(value, None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._hints)

    def _drop_expired(self, now: float) -> None:
        # Pages that never reach /auth would otherwise pile up for the life of
        # the process; the caller holds the lock.
        expired = [key for key, hint in self._hints.items() if hint.is_expired(now)]
        for key in expired:
            del self._hints[key]
