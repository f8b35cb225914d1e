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


def test_redeem_takes_the_value_and_marks_once(store):
    store.put("state:s1", "proof-a {json}", 60)
    redeemed = store.redeem("state:s1", "proof-a ", "nonce:n1", 60)
    assert redeemed is not None
    assert redeemed.value == "proof-a {json}"
    assert redeemed.marked is True
    assert store.get("state:s1") is None
    # The mark stays: a second login carrying the same nonce finds it used.
    store.put("state:s2", "proof-b {json}", 60)
    again = store.redeem("state:s2", "proof-b ", "nonce:n1", 60)
    assert again is not None and again.marked is False


def test_redeem_with_the_wrong_prefix_changes_nothing(store):
    store.put("state:s1", "proof-a {json}", 60)
    assert store.redeem("state:s1", "proof-x ", "nonce:n1", 60) is None
    assert store.get("state:s1") == "proof-a {json}"
    # No mark was left behind: the rightful browser still redeems with its nonce.
    redeemed = store.redeem("state:s1", "proof-a ", "nonce:n1", 60)
    assert redeemed is not None and redeemed.marked is True


def test_redeem_of_a_missing_or_expired_key_is_none(store):
    assert store.redeem("state:none", "p", "nonce:n", 60) is None
    if isinstance(store, RedisStore):
        return
    store.put("state:old", "p {}", -1)
    assert store.redeem("state:old", "p", "nonce:n", 60) is None
    assert store.add("nonce:n", "1", 60) is True


def test_concurrent_redeem_has_one_winner(store):
    store.put("state:contested", "proof {json}", 60)
    winners: list[str] = []
    barrier = threading.Barrier(8)

    def grab(index: int) -> None:
        barrier.wait()
        redeemed = store.redeem("state:contested", "proof ", f"nonce:{index}", 60)
        if redeemed is not None:
            winners.append(redeemed.value)

    threads = [threading.Thread(target=grab, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert winners == ["proof {json}"]
