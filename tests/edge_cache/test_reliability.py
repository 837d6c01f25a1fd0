"""Reliability of the write path with real processes and sockets (issue 3).

* zero lost and zero duplicated writes across `kill -9` of the sidecar during enqueue and during
  replay, with replay responses dropped after the origin committed;
* conflicts: queued updates whose resources changed at the origin end as exactly that many 412
  dead letters, nothing overwritten;
* two sidecars offline at once selling the same products: the origin ends at initial + Σ deltas
  and every oversell is flagged;
* a full disk (a small tmpfs): writes refused with 507, reads still served (issue 14).
"""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.support.origins import LedgerOrigin
from tests.support.sidecar import Sidecar
from tests.support.tmpfs import fill, free, small_tmpfs
from tests.support.waiting import wait_until

DEVICE = "device-secret"
POLICY = "routes:\n  - path: /sales\n    methods: [POST]\n    replay: parallel\n"


@pytest.fixture
async def origin() -> AsyncIterator[LedgerOrigin]:
    o = LedgerOrigin(DEVICE)
    await o.start()
    yield o
    await o.close()


def sidecar(origin: LedgerOrigin, tmp_path: Path, name: str = "edge", **env: str) -> Sidecar:
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    env.setdefault("EDGE_CACHE_DEVICE_TOKEN", DEVICE)
    env.setdefault("EDGE_CACHE_AUTH_REQUIRED", "off")
    env.setdefault("EDGE_CACHE_POLICY_FILE", str(policy))
    return Sidecar(origin.url, tmp_path / name, **env)


async def send_until_accepted(
    session: aiohttp.ClientSession, edge: Sidecar, path: str, payload: dict[str, object],
    key: str,
) -> int:
    """POST like a till does: retry with the same key until the sidecar answers 202/2xx."""
    attempts = 0
    while True:
        attempts += 1
        try:
            async with session.post(edge.url + path, json=payload,
                                    headers={"Idempotency-Key": key},
                                    timeout=aiohttp.ClientTimeout(total=10)) as resp:
                await resp.read()
                if resp.status < 300:
                    return attempts
                assert resp.status >= 500, resp.status  # not accepted: retry
        except (aiohttp.ClientError, TimeoutError, OSError):
            pass
        assert attempts < 2000, "sidecar never accepted the write"
        await asyncio.sleep(0.02)


async def test_no_write_lost_or_duplicated_across_kill9_and_dropped_responses(
    origin: LedgerOrigin, tmp_path: Path
) -> None:
    n_writes, workers = 300, 8
    edge = sidecar(origin, tmp_path)
    await edge.start()
    await origin.set_mode("refuse")
    ops = [f"op-{i:04d}" for i in range(n_writes)]
    todo: asyncio.Queue[str] = asyncio.Queue()
    for op in ops:
        todo.put_nowait(op)
    acked: list[str] = []
    async with aiohttp.ClientSession() as s:
        await edge.wait_state(s, "offline")

        async def till() -> None:
            while not todo.empty():
                op = todo.get_nowait()
                await send_until_accepted(s, edge, f"/stock/sku{int(op[3:]) % 5}",
                                          {"delta": 1, "op": op}, key=op)
                acked.append(op)

        tills = [asyncio.create_task(till()) for _ in range(workers)]
        for threshold in (50, 120, 200):  # kill -9 during enqueue, three times
            await wait_until(lambda t=threshold: len(acked) >= t, 60)  # type: ignore[misc]
            await edge.kill9()
            await edge.start()
            await edge.wait_state(s, "offline")
        await asyncio.gather(*tills)
        assert sorted(acked) == ops
        assert origin.applied == []

        origin.write_delay = 0.005
        origin.drop_every = 7  # the origin commits, then the response is lost
        await origin.set_mode("ok")
        for threshold in (60, 150, 240):  # kill -9 during replay, three times
            await wait_until(lambda t=threshold: len(origin.applied) >= t, 60)  # type: ignore[misc]
            await edge.kill9()
            await edge.start()
        status = await edge.wait_drained(s, 120)
    await edge.stop()
    print(f"kills: {edge.starts - 1}, dropped responses: {origin.dropped}, "
          f"applied: {len(origin.applied)}")
    assert status["dead_letters"] == 0
    assert not origin.duplicates()
    assert sorted(origin.op_counts) == ops and set(origin.op_counts.values()) == {1}
    assert sum(origin.stock.values()) == n_writes
    assert origin.dropped > 0


async def test_conflicting_updates_become_exactly_that_many_412_dead_letters(
    origin: LedgerOrigin, tmp_path: Path
) -> None:
    n_items, changed = 24, {3, 7, 8, 15, 21}
    etags = {i: origin.put_item(f"i{i}", "cloud-v1") for i in range(n_items)}
    edge = sidecar(origin, tmp_path)
    await edge.start()
    try:
        async with aiohttp.ClientSession() as s:
            for i in range(n_items):  # the shop saw (and cached) every item
                async with s.get(f"{edge.url}/items/i{i}") as resp:
                    assert resp.status == 200
            await origin.set_mode("refuse")
            await edge.wait_state(s, "offline")
            for i in range(n_items):
                async with s.put(f"{edge.url}/items/i{i}", json={"value": "edge-edit"},
                                 headers={"If-Match": etags[i]}) as resp:
                    assert resp.status == 202
            for i in changed:  # meanwhile someone edits some of them in the cloud
                origin.put_item(f"i{i}", "cloud-edit")
            await origin.set_mode("ok")
            status = await edge.wait_drained(s)
            async with s.get(edge.url + "/_edge/outbox?state=dead") as resp:
                dead = json.loads(await resp.read())["entries"]
    finally:
        await edge.stop()
    assert status["dead_letters"] == len(changed)
    assert sorted(e["target"] for e in dead) == sorted(f"/items/i{i}" for i in changed)
    assert {e["last_status"] for e in dead} == {412}
    for i in range(n_items):
        assert origin.items[f"i{i}"]["value"] == ("cloud-edit" if i in changed else "edge-edit")


async def test_two_sidecars_offline_selling_the_same_products(
    origin: LedgerOrigin, tmp_path: Path
) -> None:
    initial = {"apple": 10, "pear": 5, "plum": 3}
    origin.stock.update(initial)
    rng = random.Random(7)
    edges = [sidecar(origin, tmp_path, name) for name in ("shop-a", "shop-b")]
    for edge in edges:
        await edge.start()
    sold: dict[str, int] = dict.fromkeys(initial, 0)
    try:
        async with aiohttp.ClientSession() as s:
            await origin.set_mode("refuse")
            for edge in edges:
                await edge.wait_state(s, "offline")
            for n in range(60):
                edge = edges[n % 2]
                sku = rng.choice(sorted(initial))
                qty = rng.randint(1, 3)
                sold[sku] += qty
                op = str(uuid.uuid4())
                async with s.post(edge.url + "/sales", json={"sku": sku, "qty": qty, "op": op},
                                  headers={"Idempotency-Key": op}) as resp:
                    assert resp.status == 202
            await origin.set_mode("ok")
            statuses = [await edge.wait_drained(s) for edge in edges]
    finally:
        for edge in edges:
            await edge.stop()
    assert all(st["dead_letters"] == 0 for st in statuses)
    assert len(origin.applied) == 60 and not origin.duplicates()
    assert all(a.device and a.queued_at for a in origin.applied)
    for sku, start in initial.items():
        assert origin.stock[sku] == start - sold[sku]
    # every sale that left a product below zero was accepted and flagged, none rejected
    negative_after = sum(1 for a in origin.applied
                         if a.path == "/sales" and origin_qty_after(origin, a.key) < 0)
    assert len(origin.oversold) == negative_after > 0


def origin_qty_after(origin: LedgerOrigin, key: str) -> int:
    stored = origin.keys[key]
    return int(json.loads(stored.body)["qty"])


async def test_full_disk_refuses_writes_with_507_and_keeps_serving_reads(
    origin: LedgerOrigin, tmp_path: Path
) -> None:
    """The real edge-cache process with its data dir on a 3 MB tmpfs: once the disk is full an
    offline write gets `507` with a problem body and `Retry-After` (never a bare 500, never a
    202 for what was not stored), reads are still served, and once there is room again every
    acknowledged write — and nothing else — reaches the origin exactly once."""
    origin.put_item("a", "cloud")
    with small_tmpfs(tmp_path / "edge", "3m"):
        edge = sidecar(origin, tmp_path, "edge")
        await edge.start()
        acked: list[str] = []
        answers: dict[int, int] = {}
        try:
            async with aiohttp.ClientSession() as s:
                async with s.get(edge.url + "/items/a") as resp:
                    assert resp.status == 200
                await origin.set_mode("refuse")
                await edge.wait_state(s, "offline")

                async def sell(op: str, pad: int = 0) -> int:
                    async with s.post(edge.url + "/sales", json={
                            "sku": "apple", "qty": 1, "op": op, "pad": "x" * pad},
                            headers={"Idempotency-Key": op}) as resp:
                        payload = await resp.read()
                        answers[resp.status] = answers.get(resp.status, 0) + 1
                        if resp.status == 202:
                            acked.append(op)
                        elif resp.status == 507:
                            assert resp.headers["Content-Type"] == "application/problem+json"
                            assert int(resp.headers["Retry-After"]) > 0
                            problem = json.loads(payload)
                            assert problem["status"] == 507
                            assert problem["type"].endswith("/outbox-storage-failed")
                        return resp.status

                assert await sell("before-full") == 202
                fill(tmp_path / "edge")
                statuses = [await sell(f"full-{i}", pad=20_000) for i in range(30)]
                assert 507 in statuses and set(statuses) <= {202, 507}, answers
                async with s.get(edge.url + "/items/a") as resp:  # reads are still served
                    body = json.loads(await resp.read())
                    assert resp.status == 200 and resp.headers["X-Edge-Cache"] == "OFFLINE-HIT"
                    assert body["value"] == "cloud"
                status = await edge.status(s)
                assert status["outbox_depth"] == len(acked)
                free(tmp_path / "edge")
                assert await sell("after-free") == 202
                await origin.set_mode("ok")
                final = await edge.wait_drained(s)
        finally:
            await edge.stop()
    print(f"answers while the disk was full: {answers}; acknowledged {len(acked)}")
    assert final["dead_letters"] == 0
    assert sorted(origin.op_counts) == sorted(acked) and not origin.duplicates()
