"""Fixtures for edge-cache tests: a fake clock, the scripted origin, and an in-process sidecar
listening on a real loopback port (real sockets, real SQLite files)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from edge_cache.app import EdgeCache
from edge_cache.logs import AccessLog
from edge_cache.server import HttpServer
from edge_cache.settings import Settings
from edge_cache.standins import AlwaysOnline

from tests.support.origins import ScriptedOrigin
from tests.support.waiting import wait_until


class FakeClock:
    """Injectable clock: starts at the real time, moves only when told."""

    def __init__(self) -> None:
        self.now = float(int(time.time()))

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Reply:
    status: int
    headers: Any  # CIMultiDictProxy
    body: bytes

    @property
    def cache(self) -> str | None:
        return self.headers.get("X-Edge-Cache")

    @property
    def age(self) -> int | None:
        value = self.headers.get("Age")
        return None if value is None else int(value)

    @property
    def count(self) -> int | None:
        """The origin's request counter for the served body (which origin answer it is)."""
        value = self.headers.get("X-Origin-Count")
        return None if value is None else int(value)


class Sidecar:
    def __init__(self, edge: EdgeCache, server: HttpServer, session: aiohttp.ClientSession):
        self.edge = edge
        self.server = server
        self.session = session
        self.stopped = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.port}"

    async def request(
        self,
        method: str,
        path: str,
        headers: dict[str, str] | None = None,
        body: bytes | None = None,
    ) -> Reply:
        async with self.session.request(
            method,
            self.url + path,
            headers=headers or {},
            data=body,
            allow_redirects=False,
        ) as resp:
            payload = await resp.read()
            return Reply(resp.status, resp.headers, payload)

    async def get(self, path: str, headers: dict[str, str] | None = None) -> Reply:
        return await self.request("GET", path, headers)

    async def stop(self) -> None:
        if self.stopped:
            return
        self.stopped = True
        await self.server.shutdown(grace=2.0)
        await self.edge.stop()


SidecarFactory = Callable[..., Awaitable[Sidecar]]


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
        *, health: bool | Any = False, outbox: bool = False, data_dir: Path | None = None,
        **env: str,
    ) -> Sidecar:
        values = {
            "EDGE_CACHE_ORIGIN": origin.url,
            "EDGE_CACHE_DATA_DIR": str(data_dir or tmp_path / "data"),
        }
        values.update({f"EDGE_CACHE_{k}": v for k, v in env.items()})
        settings = Settings.from_env(values)
        chosen = AlwaysOnline() if health is False else health
        edge = EdgeCache(settings, clock=clock, health=chosen, outbox=outbox)
        await edge.start()
        # the prober starts "unknown" (answered as offline): wait for its first verdict, as
        # /readyz does
        known = getattr(edge.health, "is_known", lambda: True)
        await wait_until(known, 30.0)
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
