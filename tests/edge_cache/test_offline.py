"""Offline autonomy end to end: the real `edge-cache` process in front of a real origin.

Each test starts the sidecar as a subprocess (env vars only) and drives it over loopback.
Timings are printed, never asserted.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.support.origins import LedgerOrigin
from tests.support.sidecar import Sidecar
from tests.support.waiting import wait_until

ADMIN = "admin-secret"
DEVICE = "device-secret"


@pytest.fixture
async def origin() -> AsyncIterator[LedgerOrigin]:
    o = LedgerOrigin(DEVICE)
    await o.start()
    yield o
    await o.close()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


async def started(origin: LedgerOrigin, tmp_path: Path, **env: str) -> Sidecar:
    env.setdefault("EDGE_CACHE_ADMIN_TOKEN", ADMIN)
    env.setdefault("EDGE_CACHE_DEVICE_TOKEN", DEVICE)
    env.setdefault("EDGE_CACHE_AUTH_REQUIRED", "off")
    edge = Sidecar(origin.url, tmp_path / "edge", **env)
    await edge.start()
    return edge


async def get(session: aiohttp.ClientSession, url: str,
              headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    async with session.get(url, headers=headers) as resp:
        return resp.status, dict(resp.headers), await resp.read()


async def test_offline_reads_writes_and_drain(
    origin: LedgerOrigin, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    origin.put_item("a", "cloud-1")
    edge = await started(origin, tmp_path)
    try:
        status, headers, _ = await get(session, edge.url + "/items/a")
        assert status == 200 and headers["X-Edge-Cache"] == "MISS"

        await origin.set_mode("refuse")
        took = await edge.wait_state(session, "offline")
        print(f"refusing origin: OFFLINE after {took:.2f}s (fast probes)")

        status, headers, body = await get(session, edge.url + "/items/a")
        assert status == 200 and headers["X-Edge-Cache"] == "OFFLINE-HIT"
        assert "Age" in headers and json.loads(body)["value"] == "cloud-1"

        started_at = time.perf_counter()
        status, headers, body = await get(session, edge.url + "/items/never-seen")
        ms = (time.perf_counter() - started_at) * 1000
        print(f"uncached GET while offline: {status} in {ms:.1f} ms")
        assert status == 503 and int(headers["Retry-After"]) >= 1
        assert headers["Content-Type"].startswith("application/problem+json")

        async with session.put(edge.url + "/items/a", json={"value": "edge-2", "op": "w1"},
                               headers={"Idempotency-Key": "client-key-1"}) as resp:
            assert resp.status == 202
            location = resp.headers["Location"]
            queued = json.loads(await resp.read())
        assert queued["queued"] is True and queued["idempotency_key"] == "client-key-1"
        assert location == f"/_edge/outbox/{queued['id']}"

        # an anonymous write's body: only for the admin (nothing proves who queued it)
        status, headers, body = await get(session, edge.url + location,
                                          {"Authorization": f"Bearer {ADMIN}"})
        entry = json.loads(body)
        assert status == 200 and entry["state"] == "queued" and entry["method"] == "PUT"
        assert json.loads(entry["body"])["value"] == "edge-2"

        status, headers, _ = await get(session, edge.url + "/items/a")
        assert headers["X-Edge-Pending"] == "1" and headers["X-Edge-Outbox-Depth"] == "1"
        st = await edge.status(session)
        assert st["state"] == "offline" and st["outbox_depth"] == 1
        assert st["outbox_oldest_age_s"] >= 0
        assert origin.applied == []

        await origin.set_mode("ok")
        took = await edge.wait_state(session, "online")
        print(f"origin back: ONLINE after {took:.2f}s")
        st = await edge.wait_drained(session)
        assert st["dead_letters"] == 0 and st["last_sync"] is not None
        assert [a.key for a in origin.applied] == ["client-key-1"]
        assert origin.applied[0].device and origin.applied[0].queued_at
        assert origin.items["a"]["value"] == "edge-2"

        status, headers, body = await get(session, edge.url + "/items/a")
        assert json.loads(body)["value"] == "edge-2" and "X-Edge-Pending" not in headers

        _, _, raw = await get(session, edge.url + "/metrics")
        metrics = raw.decode()
        for line in ('edge_replay_total{result="ok"} 1.0', "edge_outbox_enqueue_seconds_count 1.0",
                     'edge_origin_transitions_total{to="offline"} 1.0',
                     'edge_origin_transitions_total{to="online"} 1.0', "edge_origin_up 1.0",
                     "edge_outbox_depth 0.0"):
            assert line in metrics, line
    finally:
        await edge.stop()


async def test_blackholed_origin_reads_never_wait(
    origin: LedgerOrigin, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    edge = await started(origin, tmp_path, EDGE_CACHE_PROBE_INTERVAL="0.5",
                         EDGE_CACHE_PROBE_TIMEOUT="1.0")
    try:
        for i in range(20):
            origin.put_item(f"k{i}", i)
            status, _, _ = await get(session, f"{edge.url}/items/k{i}")
            assert status == 200
        await origin.set_mode("blackhole")
        took = await edge.wait_state(session, "offline")
        print(f"blackholed origin: OFFLINE after {took:.2f}s (probe every 0.5 s, 1 s deadline)")
        before = len(origin.requests)
        latencies = []
        for n in range(200):
            t = time.perf_counter()
            status, headers, _ = await get(session, f"{edge.url}/items/k{n % 20}")
            latencies.append(time.perf_counter() - t)
            assert status == 200 and headers["X-Edge-Cache"] == "OFFLINE-HIT"
        latencies.sort()
        print(f"200 offline GETs: p50 {latencies[100] * 1000:.2f} ms, "
              f"max {latencies[-1] * 1000:.2f} ms")
        assert all(target == "/healthz" for _, target in origin.requests[before:])
        await origin.set_mode("ok")
        await edge.wait_state(session, "online")
    finally:
        await origin.set_mode("ok")
        await edge.stop()


async def test_full_outbox_answers_507_and_keeps_entries(
    origin: LedgerOrigin, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    edge = await started(origin, tmp_path, EDGE_CACHE_OUTBOX_MAX_ENTRIES="3")
    try:
        await origin.set_mode("refuse")
        await edge.wait_state(session, "offline")
        codes = []
        for i in range(5):
            async with session.post(edge.url + f"/stock/s{i}", json={"delta": 1}) as resp:
                codes.append(resp.status)
                if resp.status == 507:
                    problem = json.loads(await resp.read())
        assert codes == [202, 202, 202, 507, 507]
        assert problem["status"] == 507
        st = await edge.status(session)
        assert st["outbox_depth"] == 3
        await origin.set_mode("ok")
        await edge.wait_drained(session)
        assert origin.stock == {"s0": 1, "s1": 1, "s2": 1}
    finally:
        await origin.set_mode("ok")
        await edge.stop()


async def test_corrupt_or_missing_outbox_stops_startup(
    origin: LedgerOrigin, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    edge = await started(origin, tmp_path)
    await origin.set_mode("refuse")
    await edge.wait_state(session, "offline")
    async with session.post(edge.url + "/stock/x", json={"delta": 1}) as resp:
        assert resp.status == 202
    assert await edge.stop() == 0

    db = edge.data_dir / "outbox.sqlite3"
    saved = db.read_bytes()
    db.write_bytes(b"garbage, not sqlite " * 100)
    await edge.launch()
    assert await edge.exit_code() == 2
    assert "outbox database" in edge.log_tail() and "corrupt" in edge.log_tail()
    assert db.read_bytes().startswith(b"garbage")

    db.unlink()
    await edge.launch()
    assert await edge.exit_code() == 2
    assert "missing" in edge.log_tail()

    db.write_bytes(saved)
    await origin.set_mode("ok")
    await edge.start()
    try:
        await edge.wait_drained(session)
        assert origin.stock == {"x": 1}
    finally:
        await edge.stop()


async def test_per_route_max_offline_staleness(
    origin: LedgerOrigin, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "routes:\n  - path: /plain/short\n    max_offline_stale: 1\n"
    )
    edge = await started(origin, tmp_path, EDGE_CACHE_POLICY_FILE=str(policy))
    try:
        for name in ("short", "long"):
            status, _, _ = await get(session, f"{edge.url}/plain/{name}")
            assert status == 200
        await origin.set_mode("refuse")
        await edge.wait_state(session, "offline")
        status, headers, _ = await get(session, edge.url + "/plain/long")
        assert status == 200 and headers["X-Edge-Cache"] == "OFFLINE-HIT"

        async def short_expired() -> bool:
            status, _, _ = await get(session, edge.url + "/plain/short")
            return status == 503

        await wait_until(short_expired, 20, "route limit applied", interval=0.2)
        status, headers, _ = await get(session, edge.url + "/plain/long")
        assert status == 200 and headers["X-Edge-Cache"] == "OFFLINE-HIT"
    finally:
        await origin.set_mode("ok")
        await edge.stop()


async def test_admin_retry_and_discard_dead_letters(
    origin: LedgerOrigin, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    etag = origin.put_item("c", "v1")
    edge = await started(origin, tmp_path)
    try:
        await origin.set_mode("refuse")
        await edge.wait_state(session, "offline")
        ids = []
        for n in range(2):
            async with session.put(edge.url + "/items/c", json={"value": f"edge{n}"},
                                   headers={"If-Match": etag}) as resp:
                assert resp.status == 202
                ids.append(json.loads(await resp.read())["id"])
        origin.put_item("c", "cloud")  # both queued updates now conflict
        await origin.set_mode("ok")
        await edge.wait_drained(session)
        async with session.get(edge.url + "/_edge/outbox?state=dead") as resp:
            listing = json.loads(await resp.read())
        assert [e["id"] for e in listing["entries"]] == ids
        assert all(e["last_status"] == 412 for e in listing["entries"])
        async with session.get(edge.url + f"/_edge/outbox/{ids[0]}") as resp:
            assert "last_body" not in json.loads(await resp.read())  # the admin's only
        async with session.get(edge.url + f"/_edge/outbox/{ids[0]}",
                               headers={"Authorization": f"Bearer {ADMIN}"}) as resp:
            entry = json.loads(await resp.read())
        assert json.loads(entry["last_body"])["title"] == "precondition failed"

        async with session.delete(edge.url + f"/_edge/outbox/{ids[0]}") as resp:
            assert resp.status == 401  # admin token needed
        admin = {"Authorization": f"Bearer {ADMIN}"}
        async with session.delete(edge.url + f"/_edge/outbox/{ids[0]}", headers=admin) as resp:
            assert resp.status == 204
        async with session.post(edge.url + f"/_edge/outbox/{ids[1]}/retry") as resp:
            assert resp.status == 401
        origin.items["c"]["version"] = 1  # the cloud copy matches the edge's ETag again
        async with session.post(edge.url + f"/_edge/outbox/{ids[1]}/retry",
                                headers=admin) as resp:
            assert resp.status == 200
        st = await edge.wait_drained(session)
        assert st["dead_letters"] == 0
        assert origin.items["c"]["value"] == "edge1"
        async with session.post(edge.url + "/_edge/purge", headers=admin) as resp:
            assert resp.status == 200
        async with session.get(edge.url + "/metrics") as resp:
            metrics = (await resp.read()).decode()
        assert "edge_outbox_dead_letters 0.0" in metrics
        assert 'edge_replay_total{result="conflict"} 2.0' in metrics
        assert "edge_deadletters_total 2.0" in metrics
    finally:
        await origin.set_mode("ok")
        await edge.stop()


async def test_write_whose_response_is_lost_online_is_queued_and_applied_once(
    origin: LedgerOrigin, session: aiohttp.ClientSession, tmp_path: Path
) -> None:
    edge = await started(origin, tmp_path)
    try:
        origin.drop_after_commit = 1  # the origin applies the write, the answer never arrives
        async with session.post(edge.url + "/stock/lost", json={"delta": 2, "op": "once"}) as resp:
            assert resp.status == 202  # the sidecar fell back to the outbox at once
            queued = json.loads(await resp.read())
        assert origin.stock == {"lost": 2}
        st = await edge.wait_drained(session)
        assert st["dead_letters"] == 0
        assert origin.stock == {"lost": 2} and origin.op_counts == {"once": 1}
        assert origin.keys[queued["idempotency_key"]]  # replayed under the same key
    finally:
        await edge.stop()
