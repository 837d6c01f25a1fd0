"""Replaying the outbox against a real write-applying origin on a loopback port."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from edge_cache.health import OriginHealth
from edge_cache.messages import Request
from edge_cache.origin_client import OriginClient
from edge_cache.outbox import DEAD, Outbox, Replayer, ReplayPlan

from tests.support.origins import LedgerOrigin
from tests.support.waiting import wait_until

DEVICE = "device-secret"


def policy(method: str, path: str) -> ReplayPlan:
    if path == "/sales":
        return ReplayPlan(affects=("/stock",), parallel=True)
    return ReplayPlan()


class Rig:
    def __init__(self, origin: LedgerOrigin, outbox: Outbox, health: OriginHealth,
                 replayer: Replayer, evicted: list[str]) -> None:
        self.origin, self.outbox, self.health = origin, outbox, health
        self.replayer, self.evicted = replayer, evicted

    async def drained(self, deadline: float = 30.0) -> None:
        await wait_until(lambda: self.outbox.depth() == 0 and not self.replayer.inflight(),
                         deadline)


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    origin = LedgerOrigin(DEVICE)
    await origin.start()
    outbox = Outbox(tmp_path, policy=policy)
    outbox.open()
    client = OriginClient(origin.url, timeout=5.0)
    health = OriginHealth(client, interval=0.2, timeout=2.0, initial_online=False)
    evicted: list[str] = []
    replayer = Replayer(outbox, health, client, device_token=DEVICE,
                        invalidate=lambda what: evicted.extend([*what.keys, *what.paths]),
                        backoff_base=0.05, backoff_cap=0.2, max_attempts=5)
    r = Rig(origin, outbox, health, replayer, evicted)
    replayer.start()
    yield r
    await replayer.stop()
    await health.stop()
    await client.close()
    await outbox.close()
    await origin.close()


def write(method: str, target: str, payload: dict[str, object], key: str | None = None,
          **hdrs: str) -> Request:
    headers = [("Content-Type", "application/json"), ("Authorization", "Bearer user-1")]
    if key:
        headers.append(("Idempotency-Key", key))
    headers += [(k.replace("_", "-"), v) for k, v in hdrs.items()]
    return Request(method, target, headers, json.dumps(payload).encode())


async def test_nothing_replays_while_offline_then_all_in_order(rig: Rig) -> None:
    rig.origin.put_item("a", 0)
    for v in range(1, 6):
        await rig.outbox.enqueue(write("PUT", "/items/a", {"value": v, "op": f"a{v}"}))
    await asyncio.sleep(0.3)
    assert rig.origin.applied == []  # OFFLINE: the replayer never dials
    rig.health.start()
    await rig.drained()
    assert [a.body["value"] for a in rig.origin.applied] == [1, 2, 3, 4, 5]
    assert rig.origin.items["a"]["value"] == 5
    first = rig.origin.applied[0]
    assert first.device and first.queued_at and first.queued_at.endswith("Z")
    assert "/items/a" in rig.evicted and "/items" in rig.evicted
    assert rig.replayer.last_success_at is not None


async def test_order_kept_per_resource_and_parent(rig: Rig) -> None:
    await rig.outbox.enqueue(write("POST", "/items", {"id": "n", "value": "new", "op": "c"}))
    await rig.outbox.enqueue(write("PUT", "/items/n", {"value": "edited", "op": "e"}))
    for i in range(20):
        await rig.outbox.enqueue(write("POST", f"/stock/s{i % 3}", {"delta": 1, "op": i}))
    rig.health.start()
    await rig.drained()
    ops = [a.body["op"] for a in rig.origin.applied]
    assert ops.index("c") < ops.index("e")
    per_sku: dict[str, list[object]] = {}
    for a in rig.origin.applied:
        if a.path.startswith("/stock/"):
            per_sku.setdefault(a.path, []).append(a.body["op"])
    for sku_ops in per_sku.values():
        assert sku_ops == sorted(sku_ops)  # type: ignore[type-var]
    assert sum(rig.origin.stock.values()) == 20
    assert rig.origin.items["n"]["value"] == "edited"


async def test_parallel_route_and_bounded_concurrency(rig: Rig) -> None:
    rig.origin.write_delay = 0.02
    rig.origin.stock["p"] = 100
    for i in range(40):
        await rig.outbox.enqueue(write("POST", "/sales", {"sku": "p", "qty": 1, "op": i}))
    rig.health.start()
    await rig.drained()
    assert rig.origin.stock["p"] == 60 and not rig.origin.duplicates()
    assert "/stock" in rig.evicted  # the route's `affects`


async def test_conflicts_go_to_dead_letters_exactly(rig: Rig) -> None:
    n_items, changed = 10, {"i2", "i5", "i7"}
    etags = {f"i{i}": rig.origin.put_item(f"i{i}", "orig") for i in range(n_items)}
    for item, etag in etags.items():
        await rig.outbox.enqueue(write("PUT", f"/items/{item}", {"value": "edge", "op": item},
                                       If_Match=etag))
    for item in changed:
        rig.origin.put_item(item, "changed-in-cloud")
    rig.health.start()
    await wait_until(lambda: rig.outbox.depth() == 0)
    dead = await rig.outbox.entries(DEAD)
    assert sorted(e.path.rsplit("/", 1)[1] for e in dead) == sorted(changed)
    assert all(e.last_status == 412 and e.last_body for e in dead)
    for i in range(n_items):
        want = "changed-in-cloud" if f"i{i}" in changed else "edge"
        assert rig.origin.items[f"i{i}"]["value"] == want
    assert rig.replayer.counts["conflict"] == len(changed)


async def test_dropped_responses_are_not_applied_twice(rig: Rig) -> None:
    rig.origin.stock["d"] = 0
    rig.origin.drop_every = 3
    for i in range(30):
        await rig.outbox.enqueue(write("POST", "/stock/d", {"delta": 1, "op": f"d{i}"}))
    rig.health.start()
    await rig.drained()
    assert rig.origin.dropped >= 5
    assert rig.origin.stock["d"] == 30 and not rig.origin.duplicates()
    assert len(rig.origin.op_counts) == 30


async def test_server_errors_spend_attempts_then_dead_letter_when_exhausted(rig: Rig) -> None:
    rig.health.start()
    await wait_until(rig.health.is_online)
    rig.origin.write_status = 500
    await rig.outbox.enqueue(write("POST", "/stock/x", {"delta": 1, "op": "x"}))
    await wait_until(lambda: rig.replayer.counts["retry"] >= 2)
    rig.origin.write_status = None
    await rig.drained()
    assert rig.origin.stock["x"] == 1
    rig.origin.write_status = 500
    await rig.outbox.enqueue(write("POST", "/stock/y", {"delta": 1, "op": "y"}))
    await wait_until(lambda: rig.outbox.dead_count() == 1)
    assert rig.replayer.counts["exhausted"] == 1
    (dead,) = await rig.outbox.entries(DEAD)
    assert dead.attempts == 5 and dead.last_error == "HTTP 500 (scripted failure) after 5 attempts"


async def test_unprocessable_and_missing_routes_are_dead_letters(rig: Rig) -> None:
    await rig.outbox.enqueue(write("POST", "/stock/z", {"delta": 1, "op": "z"}, key="k1"))
    await rig.outbox.enqueue(write("POST", "/stock/z", {"delta": 5, "op": "z2"}, key="k1"))
    await rig.outbox.enqueue(write("POST", "/nowhere", {"op": "n"}))
    rig.health.start()
    await wait_until(lambda: rig.outbox.depth() == 0)
    dead = {e.target: e.last_status for e in await rig.outbox.entries(DEAD)}
    assert dead == {"/stock/z": 422, "/nowhere": 404}
    assert rig.origin.stock["z"] == 1


async def test_origin_dying_mid_replay_pauses_and_resumes(rig: Rig) -> None:
    rig.origin.write_delay = 0.01
    rig.health.start()
    await wait_until(rig.health.is_online)
    await rig.origin.set_mode("refuse")
    await wait_until(lambda: not rig.health.is_online())
    for i in range(50):
        await rig.outbox.enqueue(write("POST", "/stock/m", {"delta": 1, "op": f"m{i}"}))
    await rig.origin.set_mode("ok")
    await wait_until(lambda: rig.origin.stock.get("m", 0) >= 5)
    await rig.origin.set_mode("refuse")
    await wait_until(lambda: not rig.health.is_online())
    await rig.origin.set_mode("ok")
    await rig.drained()
    assert rig.origin.stock["m"] == 50 and not rig.origin.duplicates()
