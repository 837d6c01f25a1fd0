"""The edge-cache app run inside the test's event loop, on a real loopback port (real sockets,
real SQLite files), with an injectable clock: what the `make_sidecar` fixture of
tests/edge_cache/conftest.py builds. (The `edge-cache` console script as a process is
tests/support/sidecar.py.)"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from edge_cache.app import EdgeCache
from edge_cache.server import HttpServer


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
