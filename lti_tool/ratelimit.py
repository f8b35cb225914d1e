"""Fixed-window request counters shared by every worker: Redis, else the database.

The shared store (lti_tool.lti.store) has no atomic increment, so counting lives
here: Redis INCR, or one upserted row per window whose count the database
increments in a single statement, so concurrent requests never lose a hit.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

import redis
from sqlalchemy import Engine, delete
from sqlalchemy.dialects import postgresql, sqlite

from lti_tool.models import RateLimitWindow
from lti_tool.models.base import utcnow


class Counter(Protocol):
    """Counts hits per key; each window's count expires on its own."""

    def hit(self, key: str, ttl: int) -> int:
        """Add one hit to `key` and return the count including it."""


class DatabaseCounter:
    """Counters in the `rate_limit_window` table, swept now and then."""

    def __init__(self, engine: Engine, sweep_every: int = 200) -> None:
        self._engine = engine
        self._sweep_every = sweep_every
        dialect = engine.dialect.name
        if dialect not in ("postgresql", "sqlite"):
            raise ValueError(f"no upsert for database {dialect!r}")
        self._insert = postgresql.insert if dialect == "postgresql" else sqlite.insert

    def hit(self, key: str, ttl: int) -> int:
        if random.randrange(self._sweep_every) == 0:
            self.purge_expired()
        insert = self._insert(RateLimitWindow).values(
            key=key, hits=1, expires_at=utcnow() + timedelta(seconds=ttl)
        )
        statement = insert.on_conflict_do_update(
            index_elements=[RateLimitWindow.key],
            set_={"hits": RateLimitWindow.hits + 1},
        ).returning(RateLimitWindow.hits)
        with self._engine.begin() as connection:
            return int(connection.execute(statement).scalar_one())

    def purge_expired(self) -> int:
        """Delete counters of windows that have ended; returns how many went."""
        with self._engine.begin() as connection:
            result = connection.execute(
                delete(RateLimitWindow).where(RateLimitWindow.expires_at <= utcnow())
            )
        return result.rowcount or 0


class RedisCounter:
    """Counters in Redis; INCR and EXPIRE travel in one transaction.

    The window is part of the key, so renewing the expiry on every hit only keeps
    a finished window's key a little longer; it never extends a window.
    """

    def __init__(self, url: str, prefix: str = "lti_tool:rate:") -> None:
        self._redis = redis.Redis.from_url(
            url, socket_timeout=2, socket_connect_timeout=2, decode_responses=True
        )
        self._prefix = prefix

    def hit(self, key: str, ttl: int) -> int:
        pipeline = self._redis.pipeline(transaction=True)
        pipeline.incr(self._prefix + key)
        pipeline.expire(self._prefix + key, ttl)
        count, _ = pipeline.execute()
        return int(count)


def make_counter(engine: Engine, redis_url: str) -> Counter:
    """Redis when configured, like the shared store; else the database."""
    if redis_url:
        return RedisCounter(redis_url)
    return DatabaseCounter(engine)


@dataclass(frozen=True)
class Decision:
    """Whether one request may go ahead, and when to come back if not."""

    allowed: bool
    retry_after: int


def per_minute(
    counter: Counter, name: str, client: str, limit: int, now: float | None = None
) -> Decision:
    """Count one request of `client` in the current minute against `limit`."""
    now = utcnow().timestamp() if now is None else now
    window = int(now // 60)
    count = counter.hit(f"{name}:{client}:{window}", ttl=120)
    retry_after = max(1, 60 - int(now % 60))
    return Decision(count <= limit, retry_after)
