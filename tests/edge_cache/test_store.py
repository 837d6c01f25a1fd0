"""The cache store: LRU bounds, restart persistence (lazy load), corrupt or missing files."""

from __future__ import annotations

import asyncio
import random
import sqlite3
from collections import OrderedDict
from pathlib import Path

from edge_cache.entry import CachedResponse
from edge_cache.store import CacheStore

from tests.support.origins import ScriptedOrigin
from tests.support.sidecar_in_process import FakeClock, SidecarFactory


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


def _zipf_keys(n_keys: int, s: float, length: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    weights = [1.0 / (k**s) for k in range(1, n_keys + 1)]
    return [f"/z{k}" for k in rng.choices(range(n_keys), weights=weights, k=length)]


def _exact_lru(keys: list[str], size: int) -> tuple[list[bool], int, list[set[str]]]:
    """Hits per request, evictions and the resident set after each request of an exact LRU."""
    cache: OrderedDict[str, None] = OrderedDict()
    hits: list[bool] = []
    resident: list[set[str]] = []
    evictions = 0
    for key in keys:
        hit = key in cache
        hits.append(hit)
        if hit:
            cache.move_to_end(key)
        else:
            cache[key] = None
            if len(cache) > size:
                cache.popitem(last=False)
                evictions += 1
        resident.append(set(cache))
    return hits, evictions, resident


def _fifo_hits(keys: list[str], size: int) -> list[bool]:
    cache: OrderedDict[str, None] = OrderedDict()
    hits = []
    for key in keys:
        hits.append(key in cache)
        if key not in cache:
            cache[key] = None
            if len(cache) > size:
                cache.popitem(last=False)
    return hits


async def _replay(store: CacheStore, key: str) -> bool:
    """One GET as the proxy does it: a stored variant is a hit (touched), else a put."""
    found = store.variants(key)
    if found:
        store.touch(found[0])
        return True
    store.put(make_entry(key, size=10))
    return False


async def test_replay_matches_an_exact_lru(tmp_path: Path, clock: FakeClock) -> None:
    """A seeded Zipf sequence through the store (event loop running, so puts are batched; the
    clock never moves, so only the access stamps order the entries; a restart half-way) gives
    the hits, evictions and resident keys of an exact LRU, request by request. FIFO (recency
    refreshed rarely) differs on this sequence, so the test can tell the two apart."""
    keys = _zipf_keys(40, 1.1, 1500, seed=7)
    for size in (1, 3, 10):
        expected, evictions, resident = _exact_lru(keys, size)
        assert size == 1 or _fifo_hits(keys, size) != expected  # (size 1: the same policy)
        path = tmp_path / f"lru-{size}.db"
        store = open_store(path, clock, max_entries=size, hot_entries=size)
        got: list[bool] = []
        evicted = 0
        for i, key in enumerate(keys):
            if i == len(keys) // 2:  # restart: recency must survive on disk
                evicted += store.evictions
                store.flush()
                await asyncio.to_thread(store.checkpoint)
                store.close()
                store = open_store(path, clock, max_entries=size, hot_entries=size)
            got.append(await _replay(store, key))
            store.flush_pending()
            stored = {r[0] for r in store.db.execute("SELECT key FROM entries")}
            assert stored == resident[i], f"size {size}, request {i} ({key})"
            if i % 97 == 0:  # the periodic housekeeping: stamps handed to the worker thread
                store.flush()
                await asyncio.to_thread(store.checkpoint)
        evicted += store.evictions
        assert got == expected, f"size {size}"
        assert evicted == evictions
        store.close()


async def test_hits_between_batches_keep_the_bound(tmp_path: Path, clock: FakeClock) -> None:
    """With puts batched (a running loop), a full cache never serves more entries than its
    bound: a put that would exceed it writes the batch and evicts at once."""
    store = open_store(tmp_path / "c.db", clock, max_entries=2)
    for i in range(6):
        store.put(make_entry(f"/p{i}"))
        present = [k for k in (f"/p{j}" for j in range(6)) if k in store._pending_keys
                   or store.db.execute("SELECT 1 FROM entries WHERE key = ?", (k,)).fetchone()]
        assert len(present) <= 2
    store.close()


def test_access_stamps_persist_in_batches(tmp_path: Path, clock: FakeClock) -> None:
    """A hit writes nothing to SQLite; `flush()` + `checkpoint()` (the housekeeping) do, and
    a stamp never moves backwards."""
    store = open_store(tmp_path / "c.db", clock)
    store.put(make_entry("/a"))
    store.flush_pending()
    before = store.db.execute("SELECT last_access FROM entries").fetchone()[0]
    entry = store.variants("/a")[0]
    store.touch(entry)
    store.touch(entry)
    assert store.db.execute("SELECT last_access FROM entries").fetchone()[0] == before
    store.flush()
    store.checkpoint()
    after = store.db.execute("SELECT last_access FROM entries").fetchone()[0]
    assert after > before and after == entry.last_access
    stale = make_entry("/a")
    stale.last_access = before
    store._touched[id(stale)] = stale  # a late write of an older stamp
    store.flush()
    store.checkpoint()
    assert store.db.execute("SELECT last_access FROM entries").fetchone()[0] == after
    store.close()
