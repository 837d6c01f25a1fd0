"""The cache store: LRU bounds, restart persistence (lazy load), corrupt or missing files."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from edge_cache.entry import CachedResponse
from edge_cache.store import CacheStore

from tests.edge_cache.conftest import FakeClock, SidecarFactory
from tests.edge_cache.origin import ScriptedOrigin


def make_entry(key: str, size: int = 100, now: float = 1000.0) -> CachedResponse:
    entry = CachedResponse(
        key=key,
        path=key.split("?")[0],
        vary=(),
        vary_values=(),
        status=200,
        headers=[("Cache-Control", "max-age=60")],
        body=b"x" * size,
        request_time=now,
        response_time=now,
        initial_age=0.0,
        lifetime=60.0,
    )
    return entry


def open_store(path: Path, clock: FakeClock, **kw: int) -> CacheStore:
    store = CacheStore(
        path,
        max_bytes=kw.get("max_bytes", 10**9),
        max_entries=kw.get("max_entries", 10**6),
        hot_entries=kw.get("hot_entries", 16),
        clock=clock,
        touch_interval=0,
    )
    store.open()
    return store


def test_lru_entry_bound_keeps_recently_used(tmp_path: Path, clock: FakeClock) -> None:
    store = open_store(tmp_path / "c.db", clock, max_entries=5)
    for i in range(5):
        clock.advance(1)
        store.put(make_entry(f"/k{i}"))
    clock.advance(1)
    store.touch(store.variants("/k0")[0])  # /k0 becomes the most recently used
    for i in range(5, 8):
        clock.advance(1)
        store.put(make_entry(f"/k{i}"))
    assert store.stats()["entries"] == 5
    assert store.evictions == 3
    keys = {r[0] for r in store.db.execute("SELECT key FROM entries")}
    assert keys == {"/k0", "/k4", "/k5", "/k6", "/k7"}
    assert store.variants("/k1") == []
    store.close()


def test_byte_bound(tmp_path: Path, clock: FakeClock) -> None:
    store = open_store(tmp_path / "c.db", clock, max_bytes=20_000)
    for i in range(50):
        clock.advance(1)
        store.put(make_entry(f"/b{i}", size=1000))
    stats = store.stats()
    assert stats["bytes"] <= 20_000
    assert stats["entries"] >= 10
    real = store.db.execute("SELECT count(*), sum(size) FROM entries").fetchone()
    assert (real[0], real[1]) == (stats["entries"], stats["bytes"])
    store.close()


def test_totals_survive_reopen_without_scan(tmp_path: Path, clock: FakeClock) -> None:
    path = tmp_path / "c.db"
    store = open_store(path, clock)
    for i in range(20):
        store.put(make_entry(f"/t{i}", size=10))
    store.evict_path("/t3")
    before = store.stats()
    store.close()
    again = open_store(path, clock)
    assert again.stats()["entries"] == before["entries"] == 19
    assert again.stats()["bytes"] == before["bytes"]
    assert again.stats()["hot_entries"] == 0  # lazy: nothing loaded yet
    assert again.variants("/t5")[0].body == b"x" * 10
    again.close()


def test_corrupt_file_is_moved_aside_loudly(
    tmp_path: Path, clock: FakeClock, caplog  # type: ignore[no-untyped-def]
) -> None:
    path = tmp_path / "cache.sqlite3"
    path.write_bytes(b"this is not a database" * 100)
    store = open_store(path, clock)
    assert store.recovered_from is not None
    assert store.recovered_from.exists()
    assert "unusable" in caplog.text and "EMPTY" in caplog.text
    store.put(make_entry("/fine"))
    assert store.stats()["entries"] == 1
    store.close()


def test_missing_directory_is_created(tmp_path: Path, clock: FakeClock) -> None:
    store = open_store(tmp_path / "deep" / "er" / "cache.sqlite3", clock)
    assert store.stats()["entries"] == 0
    store.close()


async def test_restart_serves_hits_without_origin(
    make_sidecar: SidecarFactory, origin: ScriptedOrigin, clock: FakeClock, tmp_path: Path
) -> None:
    data = tmp_path / "persist"
    first = await make_sidecar(data_dir=data)
    for i in range(20):
        origin.route(f"/p{i}", headers={"Cache-Control": "max-age=600"}, body=f"p{i}".encode())
        await first.get(f"/p{i}")
    await first.stop()
    clock.advance(30)
    second = await make_sidecar(data_dir=data)
    for i in range(20):
        reply = await second.get(f"/p{i}")
        assert (reply.cache, reply.body, reply.age) == ("HIT", f"p{i}".encode(), 30)
    assert sum(origin.count(f"/p{i}") for i in range(20)) == 20


async def test_sidecar_starts_on_corrupt_cache_file(
    make_sidecar: SidecarFactory, origin: ScriptedOrigin, tmp_path: Path
) -> None:
    data = tmp_path / "bad"
    data.mkdir()
    (data / "cache.sqlite3").write_bytes(b"\x00garbage" * 512)
    sidecar = await make_sidecar(data_dir=data)
    assert sidecar.edge.store.recovered_from is not None
    origin.route("/x", headers={"Cache-Control": "max-age=60"})
    await sidecar.get("/x")
    assert (await sidecar.get("/x")).cache == "HIT"


async def test_eviction_through_the_proxy(
    make_sidecar: SidecarFactory, origin: ScriptedOrigin, clock: FakeClock
) -> None:
    sidecar = await make_sidecar(MAX_ENTRIES="3", HOT_ENTRIES="2")
    for i in range(6):
        clock.advance(1)
        await sidecar.get(f"/e{i}")
    assert sidecar.edge.store.stats()["entries"] == 3
    assert (await sidecar.get("/e5")).cache == "HIT"
    assert (await sidecar.get("/e0")).cache == "MISS"
    metrics = sidecar.edge.metrics.render().decode()
    assert "edge_evictions_total" in metrics
    assert "edge_cache_entries 3.0" in metrics


async def test_hot_tier_off_still_caches(
    make_sidecar: SidecarFactory, origin: ScriptedOrigin
) -> None:
    sidecar = await make_sidecar(HOT_ENTRIES="0")
    await sidecar.get("/h")
    assert (await sidecar.get("/h")).cache == "HIT"


async def test_oversized_response_is_not_stored(
    make_sidecar: SidecarFactory, origin: ScriptedOrigin
) -> None:
    sidecar = await make_sidecar(MAX_BYTES="5000")
    origin.route("/big", headers={"Cache-Control": "max-age=60"}, body=b"b" * 10_000)
    assert (await sidecar.get("/big")).body == b"b" * 10_000
    assert (await sidecar.get("/big")).cache == "MISS"
    assert sidecar.edge.store.stats()["entries"] == 0


def test_wal_mode_and_synchronous_normal(tmp_path: Path, clock: FakeClock) -> None:
    store = open_store(tmp_path / "c.db", clock)
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store.db.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
    store.close()
    raw = sqlite3.connect(tmp_path / "c.db")
    assert raw.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    raw.close()


async def test_a_failing_store_degrades_to_pass_through(
    make_sidecar: SidecarFactory, origin: ScriptedOrigin
) -> None:
    sidecar = await make_sidecar(HOT_ENTRIES="0")
    await sidecar.get("/before")
    sidecar.edge.store.db.close()  # every further SQLite call fails
    for path in ("/before", "/after", "/after"):
        reply = await sidecar.get(path)
        assert reply.status == 200
        assert reply.cache == "MISS"
    assert sidecar.edge.store.errors >= 3
    write = await sidecar.request("POST", "/after", body=b"x")
    assert write.status == 201


async def test_batched_puts_are_visible_at_once(tmp_path: Path, clock: FakeClock) -> None:
    store = open_store(tmp_path / "c.db", clock, hot_entries=0)
    for i in range(10):
        store.put(make_entry(f"/w{i}", size=i + 1))
    raw = store.db.execute("SELECT count(*) FROM entries").fetchone()[0]
    assert raw == 0  # not written yet: one transaction later
    assert store.variants("/w3")[0].body == b"x" * 4  # a read of a pending key flushes
    assert store.evict_key("/w5") == 1
    assert store.stats()["entries"] == 9
    store.put(make_entry("/late"))
    await asyncio.sleep(0.3)  # the timer writes the batch
    assert store.db.execute("SELECT count(*) FROM entries WHERE key = '/late'").fetchone()[0] == 1
    store.close()
