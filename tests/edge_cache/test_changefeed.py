"""Change-feed following: evict exactly what changed, checkpoints, 410 reset, 404 disable."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from edge_cache.changefeed import ChangeFeedFollower
from edge_cache.health import OriginHealth
from edge_cache.origin_client import OriginClient

from tests.support.origins import LedgerOrigin
from tests.support.sidecar import Sidecar
from tests.support.waiting import wait_until

DEVICE = "device-secret"


@pytest.fixture
async def origin() -> AsyncIterator[LedgerOrigin]:
    o = LedgerOrigin(DEVICE)
    await o.start()
    yield o
    await o.close()


class Recorder:
    def __init__(self) -> None:
        self.evicted: list[str] = []
        self.purges = 0

    def evict(self, path: str) -> int:
        self.evicted.append(path)
        return 1

    def purge(self) -> int:
        self.purges += 1
        return 7


def follower(client: OriginClient, data_dir: Path, rec: Recorder) -> ChangeFeedFollower:
    health = OriginHealth(client, initial_online=True)  # not probing in these unit tests
    return ChangeFeedFollower(origin=client, path="/changes", health=health,
                              evict=rec.evict, purge=rec.purge, data_dir=data_dir,
                              device_token=DEVICE, timeout=0.2, limit=2)


async def test_follows_from_current_then_evicts_listed_paths(
    origin: LedgerOrigin, tmp_path: Path
) -> None:
    origin.record_change("/old")  # before the follower started: not its business
    rec = Recorder()
    async with OriginClient(origin.url, timeout=5.0) as client:
        feed = follower(client, tmp_path, rec)
        await feed.poll()
        assert feed.last_seq == 1 and rec.evicted == []
        await feed.poll()  # long-poll, nothing new: returns after the timeout
        for n in range(3):
            origin.record_change(f"/items/{n}", "/items")
        await feed.poll()  # a page of 2 (limit)
        await feed.poll()  # the rest
        assert rec.evicted == ["/items/0", "/items", "/items/1", "/items", "/items/2", "/items"]
        assert feed.last_seq == 4
    saved = json.loads((tmp_path / "changefeed.json").read_text())
    assert saved["last_seq"] == 4

    origin.record_change("/items/9")  # while this sidecar was down
    async with OriginClient(origin.url, timeout=5.0) as client:
        again = follower(client, tmp_path, rec)
        assert again.last_seq == 4  # resumes from the checkpoint
        await again.poll()
    assert rec.evicted[-1] == "/items/9" and again.last_seq == 5


async def test_gone_purges_and_restarts_from_current(origin: LedgerOrigin, tmp_path: Path) -> None:
    rec = Recorder()
    for _ in range(5):
        origin.record_change("/x")
    origin.change_floor = 3
    async with OriginClient(origin.url, timeout=5.0) as client:
        feed = follower(client, tmp_path, rec)
        feed.last_seq = 0
        await feed.poll()
    assert rec.purges == 1 and feed.last_seq == 5 and feed.resets == 1


async def test_origin_without_feed_disables_following(
    origin: LedgerOrigin, tmp_path: Path
) -> None:
    origin.feed_enabled = False
    rec = Recorder()
    async with OriginClient(origin.url, timeout=5.0) as client:
        feed = follower(client, tmp_path, rec)
        feed.start()
        await wait_until(lambda: not feed.enabled)
        await feed.stop()
    assert rec.evicted == [] and feed.status()["enabled"] is False


async def test_sidecar_invalidates_long_lived_entries_on_change(
    origin: LedgerOrigin, tmp_path: Path
) -> None:
    origin.put_item("p", "price 1")
    edge = Sidecar(origin.url, tmp_path / "edge", EDGE_CACHE_CHANGES_PATH="/changes",
                   EDGE_CACHE_CHANGES_TIMEOUT="0.5", EDGE_CACHE_DEVICE_TOKEN=DEVICE,
                   EDGE_CACHE_AUTH_REQUIRED="off")
    await edge.start()
    try:
        async with aiohttp.ClientSession() as s:
            async def fetch() -> tuple[str, str]:
                async with s.get(edge.url + "/long/p") as resp:
                    return resp.headers["X-Edge-Cache"], json.loads(await resp.read())["value"]

            assert await fetch() == ("MISS", "price 1")
            assert await fetch() == ("HIT", "price 1")
            await wait_until(lambda: any(t.startswith("/changes?since=")
                                         for _, t in origin.requests))
            origin.put_item("p", "price 2")
            origin.record_change("/long/p")
            answers: list[tuple[str, str]] = []

            async def invalidated() -> bool:
                answers.append(await fetch())
                return answers[-1][1] == "price 2"

            await wait_until(invalidated, 30, "the change invalidating the entry", interval=0.05)
            seen = answers[-1]
            # The entry was marked invalid, not dropped: the next read validated it at the
            # origin (EXPIRED: a new body came back) and stored the new body.
            assert seen == ("EXPIRED", "price 2")
            assert await fetch() == ("HIT", "price 2")
            status = await edge.status(s)
            assert status["changefeed"]["evicted"] >= 1 and status["last_sync"] is not None
    finally:
        await edge.stop()
