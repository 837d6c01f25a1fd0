"""Fixtures of the fault-injection suite: one real cloud (inventory-app on SQLite) for the
module, restarted by the tests that crash it; the shops (link emulator + edge-cache) are per
test. Everything runs on the module's event loop (the cloud's process belongs to it)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
import pytest_asyncio

from tests.faults.harness import INITIAL, Cloud

DEVICES = ("shop-a", "shop-b")


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def cloud(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Cloud]:
    server = Cloud(tmp_path_factory.mktemp("cloud"), DEVICES)
    await server.start()
    async with aiohttp.ClientSession() as s:
        await server.receive(s, INITIAL)
    try:
        yield server
    finally:
        if server.proc is not None and server.proc.returncode is None:
            server.resume()  # never leave it stopped
        await server.stop()
