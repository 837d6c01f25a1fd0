"""A token the cloud has just issued is accepted by an online edge on its first request, also
while both cores are busy (issue: a clerk who signs in at the cloud and walks to the till must
not be told 401 because the edge's event loop was slow to refresh its digest list)."""

from __future__ import annotations

import asyncio
import subprocess
import sys

import aiohttp

from tests.support.inventory_edge import InventoryEdgeFactory
from tests.support.load import busy_cores


def issue_token(db_url: str, name: str) -> str:
    """`inventory-app create-token`: the real CLI, against the cloud's database."""
    done = subprocess.run(
        [sys.executable, "-m", "inventory_app.cli", "create-token", "--role", "clerk",
         "--name", name],
        env={"INVENTORY_DATABASE_URL": db_url, "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, check=True, timeout=120,
    )
    return done.stdout.strip().splitlines()[-1]


async def test_fresh_token_accepted_on_first_request_while_cores_are_busy(
    inventory_edge: InventoryEdgeFactory,
) -> None:
    cloud = await inventory_edge()
    edge = cloud.edge
    with busy_cores():
        async with aiohttp.ClientSession() as s:
            await edge.wait_state(s, "online")
            for i in range(5):
                token = await asyncio.to_thread(issue_token, cloud.db_url, f"till-{i}")
                async with s.get(edge.url + "/api/products",
                                 headers={"Authorization": f"Bearer {token}"}) as resp:
                    assert resp.status == 200, f"token {i}: {resp.status} {await resp.text()}"
            async with s.get(edge.url + "/api/products",
                             headers={"Authorization": "Bearer never-issued"}) as resp:
                assert resp.status == 401  # still refused after the refresh it waited for
