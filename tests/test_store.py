"""The shared store: atomic take and add, on the database and on Redis."""

from __future__ import annotations

import os
import threading
import uuid

import pytest

from lti_tool.lti.store import DatabaseStore, RedisStore


@pytest.fixture(params=["database", "redis"])
def store(request, engine):  # type: ignore[no-untyped-def]
    if request.param == "database":
        return DatabaseStore(engine)
    url = os.environ.get("LTI_TOOL_TEST_REDIS_URL")
    if not url:
        pytest.skip("LTI_TOOL_TEST_REDIS_URL not set (make test sets it)")
    return RedisStore(url, prefix=f"test-{uuid.uuid4().hex[:8]}:")


def test_put_then_get(store):
    store.put("a", "1", 60)
    assert store.get("a") == "1"
    assert store.get("missing") is None


def test_take_returns_once(store):
    store.put("state", "value", 60)
    assert store.take("state") == "value"
    assert store.take("state") is None


def test_add_only_when_absent(store):
    assert store.add("nonce", "1", 60) is True
    assert store.add("nonce", "1", 60) is False


def test_expired_entries_are_gone(store):
    if isinstance(store, RedisStore):
        store.put("short", "1", 1)
        import time

        time.sleep(1.2)
    else:
        store.put("short", "1", -1)
    assert store.get("short") is None
    assert store.take("short") is None
    assert store.add("short", "2", 60) is True


def test_concurrent_take_has_one_winner(store):
    store.put("contested", "prize", 60)
    winners: list[str] = []
    barrier = threading.Barrier(8)

    def grab() -> None:
        barrier.wait()
        value = store.take("contested")
        if value is not None:
            winners.append(value)

    threads = [threading.Thread(target=grab) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert winners == ["prize"]


def test_concurrent_add_has_one_winner(store):
    results: list[bool] = []
    barrier = threading.Barrier(8)

    def try_add() -> None:
        barrier.wait()
        results.append(store.add("once", "1", 60))

    threads = [threading.Thread(target=try_add) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results.count(True) == 1


def test_purge_removes_only_expired_rows(engine):
    store = DatabaseStore(engine)
    store.put("old", "1", -5)
    store.put("fresh", "2", 60)

    assert store.purge_expired() == 1
    assert store.get("fresh") == "2"


def test_writes_sweep_expired_rows(engine):
    store = DatabaseStore(engine, sweep_every=1)
    store.put("old", "1", -5)
    store.put("new", "2", 60)

    from sqlalchemy import select

    from lti_tool.models import StoreEntry

    with engine.connect() as connection:
        keys = set(connection.scalars(select(StoreEntry.key)))
    assert keys == {"new"}
