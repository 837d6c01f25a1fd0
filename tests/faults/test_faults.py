"""Fault injection with real processes (issue 14): the real inventory-app on SQLite, real
edge-cache processes, one link emulator per shop. Each test breaks one thing — the cloud killed
(`kill -9`) mid-replay three times, the cloud hung (SIGSTOP), the edge's disk full (a small
tmpfs), the edge's outbox `-wal` file removed after a `kill -9`, the edge restarted while its
link is down — and then checks against the cloud's ledger that every acknowledged sale is
applied exactly once, nothing refused is applied, the balances are initial + Σ deltas, every
oversell is flagged and no dead letter holds an applied sale. Each prints a `FAULT …` line with
its counts (run with `-s` to see them)."""

from __future__ import annotations

import asyncio
import functools
import json
import random
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
import pytest_asyncio

from tests.faults.harness import Cloud, Shop, drained, verify
from tests.support.tmpfs import fill, free, small_tmpfs
from tests.support.waiting import wait_until

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(loop_scope="module")
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


async def metric(s: aiohttp.ClientSession, shop: Shop, name: str) -> dict[str, float]:
    """`edge_<name>` samples of a shop's edge by label value (or '' without labels)."""
    async with s.get(shop.sidecar.url + "/metrics") as resp:
        text = (await resp.read()).decode()
    out: dict[str, float] = {}
    for m in re.finditer(rf'^edge_{name}(?:{{\w+="([^"]*)"}})? (\S+)$', text, re.M):
        out[m.group(1) or ""] = float(m.group(2))
    return out


async def depth(s: aiohttp.ClientSession, shops: list[Shop]) -> int:
    total = 0
    for shop in shops:
        total += int((await shop.sidecar.status(s))["outbox_depth"])
    return total


async def start_shops(cloud: Cloud, tmp: Path, *names: str, **env: str) -> list[Shop]:
    shops = [Shop(name, cloud, tmp, **env) for name in names]
    for shop in shops:
        await shop.start()
    return shops


async def go_offline(s: aiohttp.ClientSession, shops: list[Shop], mode: str = "refuse") -> None:
    for shop in shops:
        await shop.link.down(mode)
    for shop in shops:
        await shop.sidecar.wait_state(s, "offline")


async def test_cloud_killed_mid_replay_three_times(cloud: Cloud, tmp_path: Path,
                                                   session: aiohttp.ClientSession) -> None:
    s, rng = session, random.Random(14)
    initial = await cloud.balances(s)
    shops = await start_shops(cloud, tmp_path, "shop-a", "shop-b")
    try:
        await go_offline(s, shops)
        for shop in shops:
            await shop.sell_many(s, 75, rng)
        assert {x.status for shop in shops for x in shop.sales} == {202}
        for shop in shops:
            await shop.link.slow(40)  # the link is back (a WAN): replays are in flight
        for threshold in (110, 70, 30):  # kill -9 the cloud while both edges replay
            await wait_until(functools.partial(_at_most, s, shops, threshold), 120,
                             f"replay below {threshold} queued", interval=0.05)
            await cloud.kill9()
            await cloud.restart()
        await drained(s, shops, 90)
        tally = await verify(s, cloud, shops, "cloud kill -9 mid-replay", initial)
        waits = [await metric(s, shop, "replay_total") for shop in shops]
        tally.extra["kills"] = cloud.kills
        tally.extra["waits"] = sum(w.get("wait", 0) for w in waits)
        tally.extra["transport errors"] = sum(w.get("transport_error", 0) for w in waits)
        tally.extra["already applied"] = sum(w.get("already_applied", 0) for w in waits)
        print(tally.line())
        assert tally.acknowledged == 150 and tally.applied == 150
    finally:
        for shop in shops:
            await shop.stop()


async def _no_replay_in_flight(s: aiohttp.ClientSession, shop: Shop) -> bool:
    return int((await shop.sidecar.status(s))["replay"]["inflight"]) == 0


async def _at_most(s: aiohttp.ClientSession, shops: list[Shop], n: int) -> bool:
    return await depth(s, shops) <= n


async def test_cloud_hung_by_sigstop_during_replay_and_sales(
    cloud: Cloud, tmp_path: Path, session: aiohttp.ClientSession
) -> None:
    s, rng = session, random.Random(15)
    initial = await cloud.balances(s)
    (shop,) = shops = await start_shops(cloud, tmp_path, "shop-a",
                                        EDGE_CACHE_PROBE_TIMEOUT="1")
    try:
        await go_offline(s, shops)
        await shop.sell_many(s, 40, rng)
        await shop.link.slow(40)
        await wait_until(lambda: _at_most(s, shops, 34), 60, "replay started", interval=0.05)
        cloud.pause()  # the cloud hangs: connections accepted, nothing answered
        try:
            tills = asyncio.gather(*(shop.sell_many(s, 5, random.Random(i)) for i in range(2)))
            await shop.sidecar.wait_state(s, "offline", 60)
            await tills  # sales during the hang: answered by the edge, queued
            # the replays the hang caught give up (request deadline) before the cloud wakes up
            await wait_until(lambda: _no_replay_in_flight(s, shop), 60, "hung replays ended",
                             interval=0.05)
        finally:
            cloud.resume()
        await drained(s, shops, 90)
        tally = await verify(s, cloud, shops, "cloud SIGSTOP", initial)
        counts = await metric(s, shop, "replay_total")
        tally.extra["already applied"] = counts.get("already_applied", 0)
        tally.extra["waits"] = counts.get("wait", 0)
        tally.extra["transport errors"] = counts.get("transport_error", 0)
        print(tally.line())
        assert tally.acknowledged == 50
    finally:
        for shop in shops:
            await shop.stop()


async def test_edge_disk_full(cloud: Cloud, tmp_path: Path,
                              session: aiohttp.ClientSession) -> None:
    s, rng = session, random.Random(16)
    initial = await cloud.balances(s)
    w = cloud.world
    clerk = {"Authorization": f"Bearer {w.tokens['clerk']}"}
    with small_tmpfs(tmp_path / "disk", "4m") as disk:
        shop = Shop("shop-b", cloud, tmp_path)
        try:
            await shop.start(data_dir=disk / "edge")
            for p in w.products:  # the shop has read its stock while online
                async with s.get(f"{shop.sidecar.url}/api/warehouses/{w.shop}/stock/{p}",
                                 headers=clerk) as resp:
                    assert resp.status == 200
            await go_offline(s, [shop])
            await shop.sell_many(s, 5, rng)
            fill(disk)
            await shop.sell_many(s, 20, rng)
            statuses = [x.status for x in shop.sales]
            assert 507 in statuses[5:] and set(statuses) <= {202, 507}, statuses
            for p in w.products:  # reads are still served from the store
                async with s.get(f"{shop.sidecar.url}/api/warehouses/{w.shop}/stock/{p}",
                                 headers=clerk) as resp:
                    assert resp.status == 200 and resp.headers["X-Edge-Cache"] == "OFFLINE-HIT"
            free(disk)
            await shop.sell_many(s, 5, rng)
            assert {x.status for x in shop.sales[-5:]} == {202}
            await shop.link.up()
            await drained(s, [shop], 60)
            tally = await verify(s, cloud, [shop], "edge disk full", initial)
            assert tally.refused > 0
        finally:
            await shop.stop()


async def test_edge_outbox_wal_removed_after_kill9(cloud: Cloud, tmp_path: Path,
                                                   session: aiohttp.ClientSession) -> None:
    s, rng = session, random.Random(17)
    initial = await cloud.balances(s)
    (shop,) = shops = await start_shops(cloud, tmp_path, "shop-a")
    edge = shop.sidecar
    wal = edge.data_dir / "outbox.sqlite3-wal"
    try:
        await go_offline(s, shops)
        await shop.sell_many(s, 10, rng)
        assert await edge.stop() == 0  # a clean stop: the outbox is checkpointed
        await edge.start()
        await edge.wait_state(s, "offline")
        # eight tills at once: their sales share commits (group commit)
        sold = await asyncio.gather(*(shop.sell(s, rng.choice(cloud.world.products), 1)
                                      for _ in range(8)))
        assert [x.status for x in sold] == [202] * 8
        await edge.kill9()  # right after the 202s: these eight live only in the -wal file now
        kept = shutil.copy2(wal, tmp_path / "kept-wal")
        wal.unlink()
        (edge.data_dir / "outbox.sqlite3-shm").unlink(missing_ok=True)
        await edge.launch()
        assert await edge.exit_code(60) != 0  # refuses to start on the damaged outbox
        refusal = edge.log_tail(5)
        assert "ids 11–18 were acknowledged but the outbox's highest id is 10: 8 acknowledged " \
            "writes missing" in refusal, refusal
        assert "-wal" in refusal
        shutil.copy2(kept, wal)  # the operator restores the file
        await edge.start()
        assert (await edge.status(s))["outbox_depth"] == 18
        await shop.link.up()
        await drained(s, shops, 60)
        tally = await verify(s, cloud, shops, "edge -wal removed after kill -9", initial)
        tally.extra["refused starts"] = 1
        print(tally.line())
        assert tally.acknowledged == tally.applied == 18
    finally:
        await shop.stop()


async def test_edge_restarted_while_its_link_is_down(cloud: Cloud, tmp_path: Path,
                                                     session: aiohttp.ClientSession) -> None:
    s, rng = session, random.Random(18)
    await cloud.top_up(s, 20)  # online sales need stock (earlier faults oversold it)
    initial = await cloud.balances(s)
    w = cloud.world
    clerk = {"Authorization": f"Bearer {w.tokens['clerk']}"}
    (shop,) = shops = await start_shops(cloud, tmp_path, "shop-b",
                                        EDGE_CACHE_PROBE_TIMEOUT="3")
    edge = shop.sidecar
    stock = f"{edge.url}/api/warehouses/{w.shop}/stock/{w.products[0]}"
    try:
        async with s.get(stock, headers=clerk) as resp:
            assert resp.status == 200
        await shop.sell_many(s, 3, rng)  # online sales, applied at once
        await shop.link.down("blackhole")  # the WAN hangs; then the edge restarts
        await edge.kill9()
        await edge.launch()
        first = await wait_for_status(s, shop)
        labels = []
        for _ in range(3):
            async with s.get(stock, headers=clerk) as resp:
                assert resp.status == 200
                labels.append(resp.headers["X-Edge-Cache"])
        await shop.sell_many(s, 5, rng)
        await edge.wait_state(s, "offline")
        await shop.sell_many(s, 5, rng)
        assert first == "unknown" and set(labels) == {"OFFLINE-HIT"}, (first, labels)
        await shop.link.up()
        await drained(s, shops, 60)
        tally = await verify(s, cloud, shops, "edge restart while offline", initial)
        tally.extra["reads while unknown"] = "/".join(sorted(set(labels)))
        print(tally.line())
        assert tally.acknowledged == 13
    finally:
        await shop.stop()


async def wait_for_status(s: aiohttp.ClientSession, shop: Shop) -> str:
    """The state in the first /_edge/status the (re)started edge answers."""
    state: list[str] = []

    async def answered() -> bool:
        proc = shop.sidecar.proc
        assert proc is not None and proc.returncode is None, shop.sidecar.log_tail()
        try:
            async with s.get(shop.sidecar.url + "/_edge/status") as resp:
                state.append(json.loads(await resp.read())["state"])
                return True
        except aiohttp.ClientConnectionError:
            return False

    await wait_until(answered, 30, "edge answering")
    return state[0]
