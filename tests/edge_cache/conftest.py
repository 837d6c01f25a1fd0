"""Fixtures for edge-cache tests: a fake clock, the scripted origin, and an in-process sidecar
listening on a real loopback port (real sockets, real SQLite files); the classes are in
tests/support (origins/, sidecar_in_process.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from edge_cache.logs import AccessLog
from edge_cache.parts import HealthLike
from edge_cache.server import HttpServer
from edge_cache.settings import Settings
from edge_cache.wiring import build

from tests.support.inventory_edge import InventoryEdge, InventoryEdgeFactory
from tests.support.origins import ScriptedOrigin
from tests.support.sidecar_in_process import FakeClock, Sidecar, SidecarFactory
from tests.support.waiting import wait_until


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def origin(clock: FakeClock) -> AsyncIterator[ScriptedOrigin]:
    server = ScriptedOrigin(clock=clock)
    await server.start()
    yield server
    await server.close()


@pytest.fixture
async def make_sidecar(
    tmp_path: Path, clock: FakeClock, origin: ScriptedOrigin
) -> AsyncIterator[SidecarFactory]:
    """Factory: `await make_sidecar(health=False, outbox=False, **env)`; env keys without the
    EDGE_CACHE_ prefix, e.g. `ORIGIN_TIMEOUT="0.5"`. health=False (default) = always online."""
    made: list[Sidecar] = []
    session = aiohttp.ClientSession(auto_decompress=False)

    async def factory(
        *, health: bool | HealthLike = False, outbox: bool = False, data_dir: Path | None = None,
        **env: str,
    ) -> Sidecar:
        values = {
            "EDGE_CACHE_ORIGIN": origin.url,
            "EDGE_CACHE_DATA_DIR": str(data_dir or tmp_path / "data"),
        }
        values.update({f"EDGE_CACHE_{k}": v for k, v in env.items()})
        settings = Settings.from_env(values)
        edge = build(settings, clock=clock, health=health, outbox=outbox)
        await edge.start()
        # the prober starts "unknown" (answered as offline): wait for its first verdict, as
        # /readyz does
        await wait_until(edge.health.is_known, 30.0)
        server = HttpServer(edge, AccessLog(enabled=False))
        await server.start("127.0.0.1", 0)
        sidecar = Sidecar(edge, server, session)
        made.append(sidecar)
        return sidecar

    yield factory
    for sidecar in made:
        await sidecar.stop()
    await session.close()


@pytest.fixture
async def sidecar(make_sidecar: SidecarFactory) -> Sidecar:
    return await make_sidecar()


@pytest.fixture
async def inventory_edge(tmp_path: Path) -> AsyncIterator[InventoryEdgeFactory]:
    """Factory: `await inventory_edge(**edge_env)` starts the real inventory-app and one
    credential-verifying edge in front of it (tests/support/inventory_edge.py); both are
    stopped after the test."""
    made: list[InventoryEdge] = []

    async def factory(**edge_env: str) -> InventoryEdge:
        pair = await InventoryEdge.start(tmp_path, **edge_env)
        made.append(pair)
        return pair

    yield factory
    for pair in made:
        await pair.stop()
