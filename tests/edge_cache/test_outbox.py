"""The durable outbox: group-committed SQLite queue, bounds, dead letters, start-up safety."""

from __future__ import annotations

import asyncio
import errno
import json
import shutil
import sqlite3
import statistics
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from edge_cache.messages import Request
from edge_cache.outbox import (
    DEAD,
    QUEUED,
    Outbox,
    OutboxFull,
    OutboxStartupError,
    OutboxStorageError,
    ReplayPlan,
)
from edge_cache.outbox.acked import AckMark, AckState, startup_problem
from edge_cache.outbox.store import _storage_error

from tests.support.tmpfs import fill, free, small_tmpfs


def policy(method: str, path: str) -> ReplayPlan:
    if path == "/sales":
        return ReplayPlan(affects=("/stock",), parallel=True)
    return ReplayPlan()


@pytest.fixture
async def outbox(tmp_path: Path) -> AsyncIterator[Outbox]:
    box = Outbox(tmp_path, policy=policy)
    box.open()
    yield box
    await box.close()


def touch(path: Path) -> None:
    path.touch()


def remove_files(db: Path, *suffixes: str) -> None:
    for suffix in suffixes:
        Path(str(db) + suffix).unlink(missing_ok=True)


def post(target: str, body: bytes = b"{}", key: str | None = None, **hdrs: str) -> Request:
    headers = [("Content-Type", "application/json"), ("Host", "shop")]
    if key:
        headers.append(("Idempotency-Key", key))
    headers += [(k.replace("_", "-"), v) for k, v in hdrs.items()]
    return Request("POST", target, headers, body)


async def test_enqueue_keeps_or_adds_key_and_survives_reopen(tmp_path: Path) -> None:
    box = Outbox(tmp_path, policy=policy)
    box.open()
    a = await box.enqueue(post("/items", b'{"v": 1}', key="client-key-1"))
    b = await box.enqueue(post("/items/7?x=1", b'{"v": 2}',
                               X_Edge_Device_Authorization="Bearer forged"))
    assert a.idempotency_key == "client-key-1"
    assert len(b.idempotency_key) == 36 and ("Idempotency-Key", b.idempotency_key) in b.headers
    assert not any(k.lower() == "x-edge-device-authorization" for k, _ in b.headers)
    assert a.location == f"/_edge/outbox/{a.id}" and b.id > a.id
    assert box.depth() == 2
    await box.close()

    again = Outbox(tmp_path, policy=policy)
    again.open()  # the same data dir after a restart
    try:
        assert again.depth() == 2
        entries = await again.entries(QUEUED)
        assert [e.target for e in entries] == ["/items", "/items/7?x=1"]
        assert entries[1].body == b'{"v": 2}'
        assert entries[1].idempotency_key == b.idempotency_key
        assert entries[0].queued_at <= entries[1].queued_at
    finally:
        await again.close()


async def test_identical_retry_with_same_key_is_not_queued_twice(outbox: Outbox) -> None:
    first = await outbox.enqueue(post("/items", b"{}", key="k"))
    again = await outbox.enqueue(post("/items", b"{}", key="k"))
    assert again.id == first.id and outbox.depth() == 1
    other = await outbox.enqueue(post("/items", b'{"different": 1}', key="k"))
    assert other.id != first.id and outbox.depth() == 2  # the origin will answer 422


async def test_pending_marks_path_parent_and_affects(outbox: Outbox) -> None:
    await outbox.enqueue(post("/api/products/17", b"{}"))
    await outbox.enqueue(post("/sales", b"{}"))
    await outbox.enqueue(post("/sales", b"{}"))
    assert outbox.pending_for("/api/products/17") == 1
    assert outbox.pending_for("/api/products") == 1
    assert outbox.pending_for("/sales") == 2
    assert outbox.pending_for("/stock") == 2
    assert outbox.pending_for("/api/products/18") == 0
    age = outbox.oldest_age()
    assert age is not None and age >= 0
    first = next(outbox.iter_queued())
    await outbox.complete(first.id)
    assert outbox.pending_for("/api/products") == 0 and outbox.depth() == 2


async def test_full_outbox_refuses_and_never_evicts(tmp_path: Path) -> None:
    box = Outbox(tmp_path, max_entries=3, max_bytes=10_000)
    box.open()
    try:
        for i in range(3):
            await box.enqueue(post(f"/items/{i}"))
        with pytest.raises(OutboxFull):
            await box.enqueue(post("/items/3"))
        assert box.depth() == 3
        assert [e.target for e in await box.entries()] == ["/items/0", "/items/1", "/items/2"]
        await box.complete(next(box.iter_queued()).id)
        await box.enqueue(post("/items/3"))  # room again after a replay
        with pytest.raises(OutboxFull):
            await box.enqueue(post("/items/big", b"x" * 20_000))  # the byte bound
    finally:
        await box.close()


async def test_concurrent_enqueues_share_commits(outbox: Outbox) -> None:
    n = 300
    started = time.perf_counter()
    entries = await asyncio.gather(*(outbox.enqueue(post("/sales", b'{"n": %d}' % i))
                                     for i in range(n)))
    total = time.perf_counter() - started
    assert len({e.id for e in entries}) == n and outbox.depth() == n
    lat = sorted(outbox.enqueue_latencies)
    p99 = lat[int(len(lat) * 0.99) - 1]
    print(f"{n} concurrent enqueues in {total * 1000:.1f} ms; median "
          f"{statistics.median(lat) * 1000:.2f} ms, p99 {p99 * 1000:.2f} ms")


async def test_dead_letters_retry_and_discard(outbox: Outbox) -> None:
    a = await outbox.enqueue(post("/items/1"))
    b = await outbox.enqueue(post("/items/2"))
    await outbox.bury(a.id, status=412, body=b'{"title": "precondition failed"}',
                      error="conflict: HTTP 412", attempts=1)
    assert outbox.depth() == 1 and outbox.dead_count() == 1
    assert outbox.pending_for("/items/1") == 0
    dead = await outbox.entries(DEAD)
    assert [e.id for e in dead] == [a.id]
    assert dead[0].last_status == 412 and dead[0].last_body == b'{"title": "precondition failed"}'
    assert not await outbox.discard(b.id)  # queued entries cannot be discarded
    retried = await outbox.retry(a.id)
    assert retried is not None and retried.state == QUEUED
    assert [r.id for r in outbox.iter_queued()] == [a.id, b.id]  # back in its place
    await outbox.bury(a.id, status=422, body=b"", error="rejected", attempts=1)
    assert await outbox.discard(a.id)
    assert await outbox.get(a.id) is None and outbox.dead_count() == 0


async def test_corrupt_outbox_is_refused_clearly(tmp_path: Path) -> None:
    box = Outbox(tmp_path)
    box.open()
    await box.enqueue(post("/items"))
    await box.close()
    db = tmp_path / "outbox.sqlite3"
    remove_files(db, "-wal", "-shm")
    db.write_bytes(b"this is not a database" * 200)
    with pytest.raises(OutboxStartupError, match="unreadable or corrupt"):
        Outbox(tmp_path).open()
    assert db.read_bytes().startswith(b"this is not a database")  # left untouched


async def test_missing_outbox_with_marker_is_refused(tmp_path: Path) -> None:
    box = Outbox(tmp_path)
    box.open()
    await box.enqueue(post("/items"))
    await box.close()
    remove_files(tmp_path / "outbox.sqlite3", "", "-wal", "-shm")
    with pytest.raises(OutboxStartupError, match="missing"):
        Outbox(tmp_path).open()
    assert not (tmp_path / "outbox.sqlite3").exists()  # nothing was recreated silently


async def test_second_process_on_same_data_dir_is_refused(outbox: Outbox, tmp_path: Path) -> None:
    with pytest.raises(OutboxStartupError, match="another edge-cache process"):
        Outbox(tmp_path).open()


async def test_outbox_uses_wal_and_full_sync(outbox: Outbox) -> None:
    conn = sqlite3.connect(outbox.path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()
    assert outbox._wconn is not None
    assert outbox._wconn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def copy_data_dir(src: Path, dst: Path, *, without: tuple[str, ...] = ()) -> Path:
    """What a backup (or a careless copy) of a live data dir holds: every file but `without`."""
    dst.mkdir()
    for f in src.iterdir():
        if f.is_file() and f.name not in without and f.name != "outbox.lock":
            shutil.copy2(f, dst / f.name)
    return dst


async def crashed_outbox(tmp_path: Path, checkpointed: int, unflushed: int) -> Path:
    """A data dir as a `kill -9` leaves it: `checkpointed` entries in the main file (a clean
    close), then `unflushed` more acknowledged ones that live only in the -wal file."""
    live = tmp_path / "live"
    box = Outbox(live)
    box.open()
    for i in range(checkpointed):
        await box.enqueue(post(f"/sales/{i}"))
    await box.close()  # the last close checkpoints the WAL into the main file
    box = Outbox(live)
    box.open()
    for i in range(unflushed):
        await box.enqueue(post(f"/sales/{checkpointed + i}"))
    crashed = copy_data_dir(live, tmp_path / "crashed")  # the process is "killed" here
    await box.close()
    return crashed


async def test_lost_wal_after_a_crash_is_refused_clearly(tmp_path: Path) -> None:
    crashed = await crashed_outbox(tmp_path, checkpointed=10, unflushed=5)
    assert (crashed / "outbox.sqlite3-wal").stat().st_size > 0
    intact = copy_data_dir(crashed, tmp_path / "intact")
    box = Outbox(intact)
    box.open()  # with its -wal file the crashed outbox opens with every entry
    try:
        assert box.depth() == 15
    finally:
        await box.close()
    (crashed / "outbox.sqlite3-wal").unlink()
    (crashed / "outbox.sqlite3-shm").unlink(missing_ok=True)
    with pytest.raises(OutboxStartupError) as refused:
        Outbox(crashed).open()
    message = str(refused.value)
    assert "its highest id is 10, but writes up to id 14 were acknowledged (and up to 15 " \
        "were being committed): at least 4 acknowledged writes are missing" in message
    assert "-wal" in message and "outbox.acked" in message
    # the operator accepts the loss on purpose: the entries the main file holds are kept
    (crashed / "outbox.acked").unlink()
    (crashed / "outbox.created").unlink()
    box = Outbox(crashed)
    box.open()
    try:
        assert box.depth() == 10
    finally:
        await box.close()


async def test_missing_acked_file_is_refused_and_old_data_dirs_are_upgraded(
    tmp_path: Path,
) -> None:
    crashed = await crashed_outbox(tmp_path, checkpointed=3, unflushed=2)
    (crashed / "outbox.acked").unlink()
    with pytest.raises(OutboxStartupError, match=r"outbox\.acked is missing or unreadable"):
        Outbox(crashed).open()
    # a data dir from before the acked file (its marker does not name one) is upgraded
    marker = crashed / "outbox.created"
    marker.write_text(json.dumps({"created_at": 1.0, "database": "outbox.sqlite3"}))
    box = Outbox(crashed)
    box.open()
    try:
        assert box.depth() == 5 and (crashed / "outbox.acked").exists()
        assert json.loads(marker.read_text())["acked_file"] == "outbox.acked"
        await box.enqueue(post("/sales/x"))
    finally:
        await box.close()


def test_acked_mark_rules_and_torn_slots(tmp_path: Path) -> None:
    state = AckState(acked=10, pending=12)
    assert startup_problem(state, 12, wal_existed=False) is None  # all there
    assert startup_problem(state, 11, wal_existed=True) is None  # last batch never committed
    assert startup_problem(state, 10, wal_existed=True) is None
    assert "may be lost" in str(startup_problem(state, 11, wal_existed=False))
    assert "at least 1 acknowledged" in str(startup_problem(state, 9, wal_existed=True))
    mark = AckMark(tmp_path / "outbox.acked")
    mark.open(None, 4)
    mark.write(4, 6)
    mark.write(6, 9)
    mark.close()
    assert AckMark(mark.path).read() == AckState(6, 9)
    data = bytearray(mark.path.read_bytes())  # a torn write spoils the newest slot only:
    data[0 * 32 + 10] ^= 0xFF  # generation 4 (two at creation, two writes) is in slot 4 % 2
    mark.path.write_bytes(bytes(data))
    assert AckMark(mark.path).read() == AckState(4, 6)
    mark.path.write_bytes(b"\0" * 64)
    assert AckMark(mark.path).read() is None


async def test_disk_full_refuses_the_write_and_recovers(tmp_path: Path) -> None:
    with small_tmpfs(tmp_path / "disk", "2m") as disk:
        box = Outbox(disk)
        box.open()
        try:
            kept = await box.enqueue(post("/sales/0", b'{"n": 0}'))
            fill(disk)
            body = b'{"pad": "%s"}' % (b"x" * 60_000)  # needs new pages in the -wal file
            refused = 0
            for i in range(20):
                try:
                    await box.enqueue(post(f"/sales/full-{i}", body))
                except OutboxStorageError as exc:
                    assert exc.disk_full and "disk full" in str(exc)
                    refused += 1
            assert refused > 0
            stored = [e.target for e in await box.entries()]
            assert box.depth() == len(stored)  # nothing counted that is not stored
            assert stored[0] == kept.target
            free(disk)
            again = await box.enqueue(post("/sales/after", b"{}"))
            assert again.id > kept.id and box.depth() == len(stored) + 1
        finally:
            await box.close()
        reopened = Outbox(disk)
        reopened.open()  # the acked mark agrees with what was stored
        try:
            assert reopened.depth() == len(stored) + 1
        finally:
            await reopened.close()


def test_storage_errors_are_classified() -> None:
    full = _storage_error(sqlite3.OperationalError("database or disk is full"))
    assert full.disk_full and "disk full" in str(full)
    nospace = _storage_error(OSError(errno.ENOSPC, "No space left on device"))
    assert nospace.disk_full
    io = _storage_error(sqlite3.OperationalError("disk I/O error"))
    assert not io.disk_full and "storage error: disk I/O error" in str(io)


async def test_a_batch_that_never_committed_is_settled_at_start(tmp_path: Path) -> None:
    """A crash between recording a batch's ids and its commit leaves `pending` ahead of the
    outbox; with the -wal file there that is accepted — and settled, so that a later clean
    stop (which removes the -wal) does not look like a loss."""
    box = Outbox(tmp_path)
    box.open()
    for i in range(3):
        await box.enqueue(post(f"/sales/{i}"))
    await box.close()
    mark = AckMark(tmp_path / "outbox.acked")
    assert mark.read() == AckState(2, 3)
    mark.open(mark.read(), 3)
    mark.write(3, 5)  # ids 4-5 recorded, then the process died before the commit
    mark.close()
    touch(tmp_path / "outbox.sqlite3-wal")  # as a crashed process leaves it
    box = Outbox(tmp_path)
    box.open()
    try:
        assert box.depth() == 3 and AckMark(mark.path).read() == AckState(3, 3)
    finally:
        await box.close()
    box = Outbox(tmp_path)
    box.open()  # after the clean stop (no -wal) it opens again
    await box.close()
