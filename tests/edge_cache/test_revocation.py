"""Revocation reaches the edge through the change feed (issue: "revocations reach online edges
within seconds through the change feed, and an offline edge refuses what it knew to be
revoked"), against the real inventory-app: its admin API revokes, its feed announces it."""

from __future__ import annotations

import hashlib
import uuid

import aiohttp

from tests.support.inventory_edge import InventoryEdgeFactory
from tests.support.waiting import wait_until


async def _status(s: aiohttp.ClientSession, url: str, token: str) -> int:
    async with s.get(url, headers={"Authorization": f"Bearer {token}"}) as resp:
        await resp.read()
        return resp.status


async def test_a_revoked_token_is_refused_online_within_seconds_and_offline_after_a_restart(
    inventory_edge: InventoryEdgeFactory,
) -> None:
    # the digest list is synced only every 10 min here: only the change feed can be this fast
    cloud = await inventory_edge(EDGE_CACHE_TOKEN_SYNC_INTERVAL="600",
                                 EDGE_CACHE_CHANGES_PATH="/api/changes",
                                 EDGE_CACHE_CHANGES_TIMEOUT="1")
    app, edge = cloud.app, cloud.edge
    clerk, admin = cloud.world.tokens["clerk"], cloud.world.tokens["admin"]
    products = edge.url + "/api/products"
    async with aiohttp.ClientSession() as s:
        await edge.wait_state(s, "online")
        assert await _status(s, products, clerk) == 200
        headers = {"Authorization": f"Bearer {admin}", "Idempotency-Key": str(uuid.uuid4())}
        async with s.get(app.url + "/api/auth/tokens", headers=headers) as resp:
            tokens = (await resp.json())["results"]
        (clerk_id,) = [t["id"] for t in tokens if t["name"] == "t-clerk"]
        async with s.post(f"{app.url}/api/auth/tokens/{clerk_id}/revoke",
                          headers=headers) as resp:
            assert resp.status == 200, await resp.text()

        # online the cloud itself refuses it; what matters is that the edge's own list
        # (kept on disk for offline use) drops it now, not at the next sync in 10 min
        revoked = hashlib.sha256(clerk.encode()).hexdigest()
        await wait_until(lambda: revoked not in cloud.digests.read_text(), 30,
                         "the edge dropping the revoked token's digest")
        assert await _status(s, products, clerk) == 401
        assert await _status(s, products, admin) == 200  # only that token is gone

        await app.stop()  # the cloud goes away; the edge restarts offline
        await edge.wait_state(s, "offline")
        assert await edge.stop() == 0
        await edge.start()
        assert await _status(s, products, clerk) == 401
        assert await _status(s, products, admin) == 200  # served from the store
