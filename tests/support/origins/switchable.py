"""The lifecycle both scripted test origins share: an aiohttp server on a loopback port whose
`mode` can be switched between answering, refusing connections (port closed) and blackholing
(requests accepted, never answered until the mode changes)."""

from __future__ import annotations

import asyncio

from aiohttp import web

from tests.support.ports import free_port


class SwitchableServer:
    """Subclasses implement `_handle` and wait on `self._release` while blackholed."""

    client_max_size = 1024**2

    def __init__(self) -> None:
        self.port = 0
        self.mode = "ok"
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._release = asyncio.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        raise NotImplementedError

    async def start(self, port: int | None = None) -> None:
        app = web.Application(client_max_size=self.client_max_size)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        self.port = port or free_port()
        await self._open()

    async def _open(self) -> None:
        assert self._runner is not None
        self._site = web.TCPSite(self._runner, "127.0.0.1", self.port, reuse_address=True)
        await self._site.start()

    async def set_mode(self, mode: str) -> None:
        if mode == "refuse" and self._site is not None:
            await self._site.stop()
            self._site = None
        elif mode != "refuse" and self._site is None:
            await self._open()
        if mode != "blackhole":
            self._release.set()
            self._release = asyncio.Event()
        self.mode = mode

    async def close(self) -> None:
        self._release.set()
        if self._runner is not None:
            await self._runner.cleanup()
