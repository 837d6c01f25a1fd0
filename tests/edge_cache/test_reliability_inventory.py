"""Two edge sidecars in front of the real inventory-app, both cut off at once and selling the same
products: after the cloud returns and both outboxes drain, every balance equals initial + Σ all
deltas, no sale is lost or doubled, and each oversell is flagged for review (not rejected)."""

from __future__ import annotations

import random
import uuid
from pathlib import Path
from typing import Any

import aiohttp

from tests.support.inventory import InventoryServer, seed
from tests.support.sidecar import Sidecar
from tests.support.waiting import wait_until

POLICY = """routes:
  - path: /api/documents
    methods: [POST]
    replay: parallel
    affects: [/api/stock, /api/warehouses, /api/ledger, /api/reviews]
"""
INITIAL = 5


async def api(s: aiohttp.ClientSession, method: str, url: str, token: str,
              body: Any = None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    if method != "GET":
        headers["Idempotency-Key"] = str(uuid.uuid4())
    async with s.request(method, url, json=body, headers=headers) as resp:
        return resp.status, await resp.json(content_type=None)


async def test_two_offline_sidecars_converge_on_the_real_inventory_app(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/inventory.db"
    world = seed(url, ("edge-a", "edge-b"))
    app = InventoryServer(url, tmp_path / "inventory.log")
    await app.start()
    (tmp_path / "policy.yaml").write_text(POLICY)
    edges = [
        Sidecar(app.url, tmp_path / name, EDGE_CACHE_DEVICE_TOKEN=world.tokens[name],
                EDGE_CACHE_POLICY_FILE=str(tmp_path / "policy.yaml"),
                EDGE_CACHE_CHANGES_PATH="/api/changes", EDGE_CACHE_CHANGES_TIMEOUT="1")
        for name in ("edge-a", "edge-b")
    ]
    clerk = world.tokens["clerk"]
    rng = random.Random(11)
    sold = dict.fromkeys(world.products, 0)
    try:
        async with aiohttp.ClientSession() as s:
            status, _ = await api(s, "POST", app.url + "/api/documents", clerk, {
                "id": str(uuid.uuid4()), "type": "purchase_receipt", "warehouse_id": world.shop,
                "partner_id": world.supplier,
                "lines": [{"product_id": p, "qty": INITIAL} for p in world.products]})
            assert status == 201
            for edge in edges:
                await edge.start()
            for edge in edges:  # credentials verified locally: the digest list is synced
                await wait_until(lambda e=edge: (e.data_dir / "token-digests.json").exists())  # type: ignore[misc]
                for p in world.products:
                    status, body = await api(
                        s, "GET", f"{edge.url}/api/warehouses/{world.shop}/stock/{p}", clerk)
                    assert status == 200 and body["qty"] == INITIAL

            await app.stop()  # the WAN is down for both shops
            for edge in edges:
                await edge.wait_state(s, "offline")
            for n in range(24):
                edge = edges[n % 2]
                product, qty = rng.choice(world.products), rng.randint(1, 3)
                sold[product] += qty
                status, body = await api(s, "POST", edge.url + "/api/documents", clerk, {
                    "id": str(uuid.uuid4()), "type": "sales_issue", "warehouse_id": world.shop,
                    "lines": [{"product_id": product, "qty": qty}]})
                assert status == 202 and body["queued"] is True
            # the shops still read their (pre-outage) stock while offline
            async with s.get(f"{edges[0].url}/api/warehouses/{world.shop}/stock/"
                             f"{world.products[0]}",
                             headers={"Authorization": f"Bearer {clerk}"}) as resp:
                assert resp.status == 200 and resp.headers["X-Edge-Cache"] == "OFFLINE-HIT"
            async with s.get(f"{edges[0].url}/api/products",
                             headers={"Authorization": "Bearer forged"}) as resp:
                assert resp.status == 401  # refused offline as online

            await app.start()  # same port, same database: the WAN is back
            statuses = [await edge.wait_drained(s, 90) for edge in edges]
            assert [st["dead_letters"] for st in statuses] == [0, 0]

            for p in world.products:
                status, body = await api(
                    s, "GET", f"{app.url}/api/warehouses/{world.shop}/stock/{p}", clerk)
                assert body["qty"] == INITIAL - sold[p], (p, body, sold)
            status, ledger = await api(
                s, "GET", f"{app.url}/api/ledger?warehouse_id={world.shop}&limit=500", clerk)
            sales = [r for r in ledger["results"] if r["document_type"] == "sales_issue"]
            assert len(sales) == 24  # every sale exactly once
            oversold_docs = {r["document_id"] for r in sales if r["negative_after"]}
            status, reviews = await api(s, "GET", f"{app.url}/api/reviews", clerk)
            flagged = {r["document_id"] for r in reviews["results"] if r["reason"] == "oversell"}
            assert flagged == oversold_docs and len(flagged) > 0
            assert all(r["edge_replay"] for r in sales)
            # and the edges read the converged balances (change feed / invalidation)
            for edge in edges:
                async def fresh(e: Sidecar = edge) -> bool:
                    _, body = await api(s, "GET", f"{e.url}/api/warehouses/{world.shop}/stock/"
                                        f"{world.products[0]}", clerk)
                    return bool(body["qty"] == INITIAL - sold[world.products[0]])
                assert await fresh()
    finally:
        for edge in edges:
            await edge.stop()
        await app.stop()
