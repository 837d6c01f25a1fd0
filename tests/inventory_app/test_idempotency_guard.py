"""The concurrency guard of the one-transaction idempotency protocol across processes (two
engines stand for two app processes): on PostgreSQL a second claim of a key that is in flight
is answered at once (`in_flight` → 409), without waiting; on SQLite the second claim waits for
the first transaction and then replays its stored response."""

from __future__ import annotations

import threading
import uuid

import pytest
from inventory_app.api.idempotency import Captured, IdempotencyMiddleware
from inventory_app.db import Database
from inventory_app.services import idempotency as store
from inventory_app.settings import Settings

from tests.inventory_app.api_support import World

PRINCIPAL, KEY, HASH = "p" * 64, "guard-key", "h" * 64


async def _never(_scope: object, _receive: object, _send: object) -> None:
    raise AssertionError("not called")


def _middleware(url: str) -> tuple[Database, IdempotencyMiddleware]:
    db = Database(url)
    return db, IdempotencyMiddleware(_never, db=db, settings=Settings(database_url=url))


@pytest.mark.postgres
def test_postgres_second_process_gets_in_flight_at_once(migrated_pg_url: str) -> None:
    db1, first = _middleware(migrated_pg_url)
    db2, second = _middleware(migrated_pg_url)
    tx1 = db1.request_transaction()
    try:
        assert first._claim(tx1, PRINCIPAL, KEY, HASH).action == "proceed"
        tx2 = db2.request_transaction()
        try:
            assert second._claim(tx2, PRINCIPAL, KEY, HASH).action == "in_flight"
        finally:
            tx2.close()
        tx1.close()  # the first attempt dies: nothing is left behind
        tx3 = db2.request_transaction()
        try:
            assert second._claim(tx3, PRINCIPAL, KEY, HASH).action == "proceed"
        finally:
            tx3.close()
    finally:
        db1.dispose()
        db2.dispose()


def test_sqlite_second_process_waits_then_replays(sqlite_url: str) -> None:
    db1, first = _middleware(sqlite_url)
    db2, second = _middleware(sqlite_url)
    tx1 = db1.request_transaction()
    decision = first._claim(tx1, PRINCIPAL, KEY, HASH)
    assert decision.action == "proceed" and decision.record_id is not None
    result: list[store.Decision] = []
    tx2 = db2.request_transaction()
    waiter = threading.Thread(target=lambda: result.append(
        second._claim(tx2, PRINCIPAL, KEY, HASH)))
    waiter.start()
    waiter.join(timeout=0.5)
    assert result == []  # still waiting for the first transaction's write lock
    captured = Captured(status=201, headers={"content-type": "application/json"},
                        chunks=[b'{"ok":true}'])
    assert first._complete(tx1, decision.record_id, captured, (PRINCIPAL, KEY), HASH) is True
    waiter.join(timeout=60)
    tx2.close()
    assert [(d.action, d.status, d.body) for d in result] == [("replay", 201, b'{"ok":true}')]
    db1.dispose()
    db2.dispose()


def test_a_stored_error_after_a_failed_write_block_keeps_nothing_else(world: World) -> None:
    """A write block that raises (here: posting an unknown document → 404) rolls the whole
    request transaction back; the 404 is then stored alone and replayed."""
    last = world.get("/api/changes").json()["last_seq"]
    path = f"/api/documents/{uuid.uuid4()}/post"
    first = world.post(path, {}, key="fail-then-store")
    assert first.status_code == 404 and "idempotent-replayed" not in first.headers
    again = world.post(path, {}, key="fail-then-store")
    assert again.status_code == 404 and again.headers["idempotent-replayed"] == "true"
    assert again.content == first.content
    assert world.get("/api/changes").json()["last_seq"] == last  # no seq was spent
