"""The durable outbox: group-committed SQLite queue, bounds, dead letters, start-up safety."""

from __future__ import annotations

import asyncio
import errno
import json
import os
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
    acked,
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
    assert "ids 11–15 were acknowledged but the outbox's highest id is 10: 5 acknowledged " \
        "writes missing" in message
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


BOOT, OTHER_BOOT = b"b" * 16, b"o" * 16


def test_acked_mark_rules_and_torn_slots(tmp_path: Path) -> None:
    state = AckState(acked=10, reserved=50, boot=BOOT)
    for boot in (BOOT, OTHER_BOOT):
        assert startup_problem(state, 12, wal_existed=True, boot=boot) is None
        assert startup_problem(state, 50, wal_existed=False, boot=boot) is None
        assert startup_problem(state, 9, wal_existed=True, boot=boot) is not None
    # the same boot: `acked` is exact (page cache), so a missing -wal that lost nothing is fine
    assert startup_problem(state, 10, wal_existed=False, boot=BOOT) is None
    assert "id 10 were acknowledged" in str(startup_problem(state, 9, False, BOOT))
    assert ": 1 acknowledged write missing" in str(startup_problem(state, 9, False, BOOT))
    assert ": at least 3 acknowledged writes missing" in str(
        startup_problem(state, 7, True, OTHER_BOOT))
    # another boot without the -wal: the lease's ids cannot be verified
    assert "ids 11–50 may have been acknowledged" in str(
        startup_problem(state, 10, False, OTHER_BOOT))
    assert startup_problem(AckState(10, 50, None), 10, False, BOOT) is not None  # older file
    mark = AckMark(tmp_path / "outbox.acked", BOOT)
    mark.open(4, 8)
    mark.record(6)
    mark.reserve(20)
    mark.close()
    assert AckMark(mark.path).read() == AckState(6, 20, BOOT)
    data = bytearray(mark.path.read_bytes())  # a torn write spoils the newest slot only:
    data[0 * 48 + 10] ^= 0xFF  # generation 4 (two at open, record, reserve) is in slot 4 % 2
    mark.path.write_bytes(bytes(data))
    assert AckMark(mark.path).read() == AckState(6, 12, BOOT)  # open reserved 4 + 8
    mark.path.write_bytes(b"\0" * 96)
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


async def test_lease_after_a_crash_is_settled_and_a_restart_without_wal_is_refused(
    tmp_path: Path,
) -> None:
    """A crash leaves the lease (ids reserved ahead) standing. With the -wal file, or on the
    same boot (the record of acknowledged ids is then exact), the outbox opens and settles
    it; after a restart of the machine without the -wal it is refused, naming the ids."""
    crashed = await crashed_outbox(tmp_path, checkpointed=3, unflushed=0)  # all checkpointed
    state = AckMark(crashed / "outbox.acked").read()
    assert state is not None and state.acked == 3 and state.reserved > 3
    other = copy_data_dir(crashed, tmp_path / "other-boot")
    (crashed / "outbox.sqlite3-wal").unlink(missing_ok=True)
    box = Outbox(crashed)
    box.open()  # same boot: nothing acknowledged is missing
    try:
        assert box.depth() == 3
        await box.enqueue(post("/sales/x"))
    finally:
        await box.close()
    assert AckMark(crashed / "outbox.acked").read() == AckState(4, 4, state.boot)  # given back
    (other / "outbox.sqlite3-wal").unlink(missing_ok=True)
    with pytest.raises(OutboxStartupError, match=rf"ids 4–{state.reserved} may have been "
                                                 "acknowledged"):
        Outbox(other, boot_id=OTHER_BOOT).open()


async def test_power_loss_with_lost_wal_is_refused(tmp_path: Path) -> None:
    """After a power loss only what was flushed is on the device: the record of acknowledged
    ids may lag, but no entry was answered before a lease covering it was flushed."""
    live = tmp_path / "live"
    box = Outbox(live, lease_ids=4)
    box.open()
    try:
        flushed = copy_data_dir(live, tmp_path / "flushed")  # the lease taken at open
        for i in range(3):
            await box.enqueue(post(f"/sales/{i}"))
        crashed = copy_data_dir(live, tmp_path / "crashed")
    finally:
        await box.close()
    shutil.copy2(flushed / "outbox.acked", crashed / "outbox.acked")  # the lagging record
    (crashed / "outbox.sqlite3-wal").unlink()
    (crashed / "outbox.sqlite3-shm").unlink(missing_ok=True)
    with pytest.raises(OutboxStartupError, match=r"machine restarted .* ids 1–4 may have"):
        Outbox(crashed, boot_id=OTHER_BOOT).open()


async def test_group_commit_answers_only_what_a_flushed_lease_covers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Concurrent enqueues share commits; a tiny lease runs out again and again, and every
    entry is answered only after a flush of outbox.acked reserving its id (read back from the
    file at each flush; the flush is made slow, as on a busy disk, so an answer that did not
    wait for it would come first). Then a lost -wal is refused with the exact ids and count."""
    real_fdatasync = os.fdatasync
    flushed_reserved = [0]

    def slow_spying_fdatasync(fd: int) -> None:
        path = os.path.realpath(f"/proc/self/fd/{fd}")
        if not path.endswith("outbox.acked"):
            real_fdatasync(fd)
            return
        state = AckMark(Path(path)).read()  # what this flush puts on the device
        time.sleep(0.02)
        real_fdatasync(fd)
        assert state is not None
        flushed_reserved[0] = max(flushed_reserved[0], state.reserved)

    monkeypatch.setattr(acked.os, "fdatasync", slow_spying_fdatasync)
    live = tmp_path / "live"
    box = Outbox(live, lease_ids=8)
    box.open()
    uncovered: list[int] = []

    async def one(i: int) -> int:
        entry = await box.enqueue(post("/sales", b'{"n": %d}' % i))
        if entry.id > flushed_reserved[0]:
            uncovered.append(entry.id)
        return entry.id

    n = 200
    try:
        ids = await asyncio.gather(*(one(i) for i in range(n)))
        assert sorted(ids) == list(range(1, n + 1)) and not uncovered
        crashed = copy_data_dir(live, tmp_path / "crashed")
    finally:
        await box.close()
    assert (crashed / "outbox.sqlite3-wal").stat().st_size > 0
    intact = copy_data_dir(crashed, tmp_path / "intact")
    (crashed / "outbox.sqlite3-wal").unlink()
    (crashed / "outbox.sqlite3-shm").unlink(missing_ok=True)
    with pytest.raises(OutboxStartupError, match=rf"ids 1–{n} were acknowledged but the "
                                                 rf"outbox's highest id is 0: {n} acknowledged"):
        Outbox(crashed).open()
    box = Outbox(intact)
    box.open()
    try:
        assert box.depth() == n
    finally:
        await box.close()


async def test_background_reference_mode_still_records_acked_ids(tmp_path: Path) -> None:
    crashed = tmp_path / "crashed"
    box = Outbox(tmp_path / "live", acked_sync="background")
    box.open()
    try:
        for i in range(3):
            await box.enqueue(post(f"/sales/{i}"))
        copy_data_dir(tmp_path / "live", crashed)
    finally:
        await box.close()
    (crashed / "outbox.sqlite3-wal").unlink()
    with pytest.raises(OutboxStartupError, match="ids 1–3 were acknowledged"):
        Outbox(crashed).open()
    with pytest.raises(ValueError, match="acked_sync"):
        Outbox(tmp_path, acked_sync="never")
