"""A key-value store shared by every worker and host: state, nonces, cached keys.

Login and launch are two requests that a load balancer may send to different
processes, so nothing about them may live in process memory.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Protocol

import redis
from sqlalchemy import Engine, delete, select
from sqlalchemy.dialects import postgresql, sqlite

from lti_tool.models import StoreEntry
from lti_tool.models.base import utcnow


class SharedStore(Protocol):
    """Operations the LTI flow needs; each is atomic on its own."""

    def put(self, key: str, value: str, ttl: int) -> None: ...

    def get(self, key: str) -> str | None: ...

    def take(self, key: str) -> str | None:
        """Return the value and delete it, so only one caller ever gets it."""

    def add(self, key: str, value: str, ttl: int) -> bool:
        """Store only if absent (or expired); False when the key was already there."""


class DatabaseStore:
    """The default store: one table, with each operation in its own transaction.

    Expired rows are swept by about one write in `sweep_every`, so the table stays
    small without a separate cron job (`lti-tool store purge` does it on demand).
    """

    def __init__(self, engine: Engine, sweep_every: int = 200) -> None:
        self._engine = engine
        self._sweep_every = sweep_every

    def _maybe_sweep(self) -> None:
        if random.randrange(self._sweep_every) == 0:
            self.purge_expired()

    def _upsert(self, key: str, value: str, ttl: int, only_if_expired: bool) -> bool:
        """INSERT … ON CONFLICT: one atomic statement on SQLite and PostgreSQL."""
        now = utcnow()
        insert_ = (
            postgresql.insert
            if self._engine.dialect.name == "postgresql"
            else sqlite.insert
        )
        expires_at = now + timedelta(seconds=ttl)
        statement = (
            insert_(StoreEntry)
            .values(key=key, value=value, expires_at=expires_at)
            .on_conflict_do_update(
                index_elements=[StoreEntry.key],
                set_={"value": value, "expires_at": expires_at},
                where=(StoreEntry.expires_at <= now) if only_if_expired else None,
            )
            .returning(StoreEntry.key)
        )
        with self._engine.begin() as connection:
            return connection.execute(statement).first() is not None

    def put(self, key: str, value: str, ttl: int) -> None:
        self._maybe_sweep()
        self._upsert(key, value, ttl, only_if_expired=False)

    def get(self, key: str) -> str | None:
        query = select(StoreEntry.value).where(
            StoreEntry.key == key, StoreEntry.expires_at > utcnow()
        )
        with self._engine.connect() as connection:
            return connection.scalar(query)

    def take(self, key: str) -> str | None:
        # DELETE ... RETURNING makes the read and the removal one step, so two
        # workers racing on the same state cannot both win.
        statement = (
            delete(StoreEntry)
            .where(StoreEntry.key == key)
            .returning(StoreEntry.value, StoreEntry.expires_at)
        )
        with self._engine.begin() as connection:
            row = connection.execute(statement).first()
        if row is None or _aware(row.expires_at) <= utcnow():
            return None
        return str(row.value)

    def add(self, key: str, value: str, ttl: int) -> bool:
        self._maybe_sweep()
        # A row comes back when inserted or when an expired entry was replaced.
        return self._upsert(key, value, ttl, only_if_expired=True)

    def purge_expired(self) -> int:
        """Delete expired entries; returns how many went."""
        with self._engine.begin() as connection:
            result = connection.execute(
                delete(StoreEntry).where(StoreEntry.expires_at <= utcnow())
            )
        return result.rowcount or 0


class RedisStore:
    """The store when REDIS_URL is set; keys expire on their own."""

    def __init__(self, url: str, prefix: str = "lti_tool:") -> None:
        self._redis = redis.Redis.from_url(
            url, socket_timeout=2, socket_connect_timeout=2, decode_responses=True
        )
        self._prefix = prefix

    def put(self, key: str, value: str, ttl: int) -> None:
        self._redis.set(self._prefix + key, value, ex=ttl)

    def get(self, key: str) -> str | None:
        value = self._redis.get(self._prefix + key)
        return None if value is None else str(value)

    def take(self, key: str) -> str | None:
        value = self._redis.getdel(self._prefix + key)
        return None if value is None else str(value)

    def add(self, key: str, value: str, ttl: int) -> bool:
        return bool(self._redis.set(self._prefix + key, value, ex=ttl, nx=True))


def _aware(moment: datetime) -> datetime:
    # SQLite hands back naive datetimes even for timezone-aware columns.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def make_store(engine: Engine, redis_url: str) -> SharedStore:
    """Redis when configured, else the database every worker already shares."""
    if redis_url:
        return RedisStore(redis_url)
    return DatabaseStore(engine)
