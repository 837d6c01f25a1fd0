"""The real inventory-app (a seeded SQLite world) with one `edge-cache` process in front of it
that verifies credentials with the world's device token: the setting of the edge's
authorization tests against the real cloud."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from tests.support.inventory import InventoryServer, InventoryWorld, seed
from tests.support.sidecar import Sidecar

DEVICE = "edge-a"


@dataclass
class InventoryEdge:
    db_url: str
    world: InventoryWorld
    app: InventoryServer
    edge: Sidecar

    @property
    def digests(self) -> Path:
        """The edge's synced token-digest list on disk."""
        return self.edge.data_dir / "token-digests.json"

    @classmethod
    async def start(cls, root: Path, **edge_env: str) -> InventoryEdge:
        """Seed and serve the cloud from `root`, then start the edge (EDGE_CACHE_* settings in
        `edge_env`); ready once the edge has synced the digest list."""
        url = f"sqlite:///{root}/inventory.db"
        world = seed(url, (DEVICE,))
        app = InventoryServer(url, root / "inventory.log")
        edge = Sidecar(app.url, root / "edge", EDGE_CACHE_DEVICE_TOKEN=world.tokens[DEVICE],
                       EDGE_CACHE_AUTH_REQUIRED="on", **edge_env)
        pair = cls(url, world, app, edge)
        try:
            await app.start()
            await edge.start()
            await edge.wait_digests()
        except BaseException:
            await pair.stop()
            raise
        return pair

    async def stop(self) -> None:
        await self.edge.stop()
        await self.app.stop()


InventoryEdgeFactory = Callable[..., Awaitable[InventoryEdge]]
