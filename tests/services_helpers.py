"""Shared pieces of the AGS, NRPS and token tests: fixtures, a store, a clock."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

from lti_tool.lti.store import Redeemed

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def strip(value: Any) -> Any:
    """A fixture without its documentation keys (those starting with `_`)."""
    if isinstance(value, dict):
        return {k: strip(v) for k, v in value.items() if not k.startswith("_")}
    if isinstance(value, list):
        return [strip(item) for item in value]
    return value


def fixture(name: str) -> Any:
    """A Moodle 4.5 or Canvas capture from the shared fixtures folder, stripped."""
    return strip(json.loads((FIXTURES / name).read_text()))


class MemoryStore:
    """The SharedStore protocol in a dict, with expiry, for unit tests."""

    def __init__(self, clock: Any = time.time) -> None:
        self.values: dict[str, tuple[str, float]] = {}
        self.clock = clock
        self.lock = threading.Lock()

    def put(self, key: str, value: str, ttl: int) -> None:
        with self.lock:
            self.values[key] = (value, self.clock() + ttl)

    def get(self, key: str) -> str | None:
        with self.lock:
            found = self.values.get(key)
        return found[0] if found and found[1] > self.clock() else None

    def take(self, key: str) -> str | None:
        with self.lock:
            found = self.values.pop(key, None)
        return found[0] if found and found[1] > self.clock() else None

    def add(self, key: str, value: str, ttl: int) -> bool:
        with self.lock:
            return self._add(key, value, ttl)

    def _add(self, key: str, value: str, ttl: int) -> bool:
        found = self.values.get(key)
        if found and found[1] > self.clock():
            return False
        self.values[key] = (value, self.clock() + ttl)
        return True

    def redeem(
        self, key: str, prefix: str, mark_key: str, mark_ttl: int
    ) -> Redeemed | None:
        with self.lock:
            found = self.values.get(key)
            if not found or found[1] <= self.clock():
                return None
            if not found[0].startswith(prefix):
                return None
            del self.values[key]
            return Redeemed(found[0], self._add(mark_key, "1", mark_ttl))


class Clock:
    """A clock that moves only when a test says so."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now
