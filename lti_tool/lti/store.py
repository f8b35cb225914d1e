"""A key-value store shared by every worker and host: state, nonces, cached keys.

Login and launch are two requests that a load balancer may send to different
processes, so nothing about them may live in process memory.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

import redis
from sqlalchemy import Connection, Engine, bindparam, delete, func, literal, select
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

    def redeem(
        self, key: str, prefix: str, mark_key: str, mark_ttl: int
    ) -> Redeemed | None:
        """Take `key` only if its value starts with `prefix`, and add `mark_key`.

        Both happen in one atomic step, or neither: None when the key is missing,
        expired or its value does not start with `prefix`. A login's state is
        spent this way, with its nonce marked as used, in one round trip.
        """


@dataclass(frozen=True)
class Redeemed:
    """What `SharedStore.redeem` took, and whether the mark was new."""

    value: str
    marked: bool


class DatabaseStore:
    """The default store: one table, with each operation in its own transaction.

    Expired rows are swept by about one write in `sweep_every`, so the table stays
    small without a separate cron job (`lti-tool store purge` does it on demand).

    Every login and launch runs some of these operations, so each is a single
    statement, built once and run in autocommit mode: the database makes one
    statement atomic on its own, and BEGIN and COMMIT would double the round
    trips. Only `redeem` on SQLite needs two statements in a transaction.
    """

    def __init__(self, engine: Engine, sweep_every: int = 200) -> None:
        self._engine = engine
        self._autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
        self._sweep_every = sweep_every
        self._is_postgresql = engine.dialect.name == "postgresql"

        insert = postgresql.insert if self._is_postgresql else sqlite.insert
        row = {
            "key": bindparam("key"),
            "value": bindparam("value"),
            "expires_at": bindparam("expires_at"),
        }
        upsert = insert(StoreEntry).values(**row)
        self._put = upsert.on_conflict_do_update(
            index_elements=[StoreEntry.key],
            set_={
                "value": upsert.excluded.value,
                "expires_at": upsert.excluded.expires_at,
            },
        )
        # A row comes back when inserted or when an expired entry was replaced.
        self._add = upsert.on_conflict_do_update(
            index_elements=[StoreEntry.key],
            set_={
                "value": upsert.excluded.value,
                "expires_at": upsert.excluded.expires_at,
            },
            where=StoreEntry.expires_at <= bindparam("now"),
        ).returning(StoreEntry.key)
        self._get = select(StoreEntry.value).where(
            StoreEntry.key == bindparam("key"), StoreEntry.expires_at > bindparam("now")
        )
        # DELETE … RETURNING makes the read and the removal one step, so two
        # workers racing on the same state cannot both win.
        self._take = (
            delete(StoreEntry)
            .where(
                StoreEntry.key == bindparam("key"),
                StoreEntry.expires_at > bindparam("now"),
            )
            .returning(StoreEntry.value)
        )
        self._take_matching = (
            delete(StoreEntry)
            .where(
                StoreEntry.key == bindparam("key"),
                StoreEntry.expires_at > bindparam("now"),
                func.substr(StoreEntry.value, 1, bindparam("length"))
                == bindparam("prefix"),
            )
            .returning(StoreEntry.value)
        )
        # On PostgreSQL, the take and the mark in one statement: the mark is
        # inserted only from the row the take returned.
        taken = self._take_matching.cte("taken")
        marked = (
            postgresql.insert(StoreEntry)
            .from_select(
                ["key", "value", "expires_at"],
                select(
                    bindparam("mark_key", type_=StoreEntry.key.type),
                    literal("1"),
                    bindparam("mark_expires_at", type_=StoreEntry.expires_at.type),
                ).select_from(taken),
            )
            .on_conflict_do_update(
                index_elements=[StoreEntry.key],
                set_={"value": "1", "expires_at": bindparam("mark_expires_at")},
                where=StoreEntry.expires_at <= bindparam("now"),
            )
            .returning(StoreEntry.key)
            .cte("marked")
        )
        self._redeem_in_one = select(
            taken.c.value,
            select(func.count()).select_from(marked).scalar_subquery().label("marked"),
        )

    def _maybe_sweep(self) -> None:
        if random.randrange(self._sweep_every) == 0:
            self.purge_expired()

    def put(self, key: str, value: str, ttl: int) -> None:
        self._maybe_sweep()
        expires_at = utcnow() + timedelta(seconds=ttl)
        with self._autocommit.connect() as connection:
            connection.execute(
                self._put, {"key": key, "value": value, "expires_at": expires_at}
            )

    def get(self, key: str) -> str | None:
        with self._engine.connect() as connection:
            value = connection.scalar(self._get, {"key": key, "now": utcnow()})
        return None if value is None else str(value)

    def take(self, key: str) -> str | None:
        with self._autocommit.connect() as connection:
            value = connection.scalar(self._take, {"key": key, "now": utcnow()})
        return None if value is None else str(value)

    def add(self, key: str, value: str, ttl: int) -> bool:
        self._maybe_sweep()
        with self._autocommit.connect() as connection:
            return self._add_in(connection, key, value, ttl)

    def redeem(
        self, key: str, prefix: str, mark_key: str, mark_ttl: int
    ) -> Redeemed | None:
        now = utcnow()
        taken = {"key": key, "now": now, "prefix": prefix, "length": len(prefix)}
        if self._is_postgresql:
            both = {
                **taken,
                "mark_key": mark_key,
                "mark_expires_at": now + timedelta(seconds=mark_ttl),
            }
            with self._autocommit.connect() as connection:
                row = connection.execute(self._redeem_in_one, both).first()
            return None if row is None else Redeemed(str(row.value), row.marked > 0)

        with self._engine.begin() as connection:
            value = connection.scalar(self._take_matching, taken)
            if value is None:
                return None
            marked = self._add_in(connection, mark_key, "1", mark_ttl)
        return Redeemed(str(value), marked)

    def _add_in(self, connection: Connection, key: str, value: str, ttl: int) -> bool:
        now = utcnow()
        row = {
            "key": key,
            "value": value,
            "expires_at": now + timedelta(seconds=ttl),
            "now": now,
        }
        return connection.execute(self._add, row).first() is not None

    def purge_expired(self) -> int:
        """Delete expired entries; returns how many went."""
        with self._engine.begin() as connection:
            result = connection.execute(
                delete(StoreEntry).where(StoreEntry.expires_at <= utcnow())
            )
        return result.rowcount or 0


_REDEEM_SCRIPT = """
local value = redis.call('GET', KEYS[1])
if not value or string.sub(value, 1, string.len(ARGV[1])) ~= ARGV[1] then
    return false
end
redis.call('DEL', KEYS[1])
local marked = redis.call('SET', KEYS[2], '1', 'EX', tonumber(ARGV[2]), 'NX')
return {value, marked and 1 or 0}
"""


class RedisStore:
    """The store when REDIS_URL is set; keys expire on their own."""

    def __init__(self, url: str, prefix: str = "lti_tool:") -> None:
        self._redis = redis.Redis.from_url(
            url, socket_timeout=2, socket_connect_timeout=2, decode_responses=True
        )
        self._prefix = prefix
        self._redeem_script = self._redis.register_script(_REDEEM_SCRIPT)

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

    def redeem(
        self, key: str, prefix: str, mark_key: str, mark_ttl: int
    ) -> Redeemed | None:
        # A script runs atomically on the server: check, take and mark, in one
        # round trip, with nothing changed when the prefix does not match.
        result = self._redeem_script(
            keys=[self._prefix + key, self._prefix + mark_key],
            args=[prefix, mark_ttl],
        )
        if not result:
            return None
        value, marked = result
        return Redeemed(str(value), bool(marked))


def make_store(engine: Engine, redis_url: str) -> SharedStore:
    """Redis when configured, else the database every worker already shares."""
    if redis_url:
        return RedisStore(redis_url)
    return DatabaseStore(engine)
