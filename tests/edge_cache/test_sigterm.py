"""A real `edge-cache` process: starts from environment variables alone, serves hits, finishes
in-flight requests on SIGTERM and exits 0, and keeps its cache across the restart."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.support.origins import ScriptedOrigin
from tests.support.ports import free_port


class Process:
    def __init__(self, proc: asyncio.subprocess.Process, port: int) -> None:
        self.proc = proc
        self.port = port
        self.url = f"http://127.0.0.1:{port}"


async def start_edge(origin: ScriptedOrigin, data: Path) -> Process:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGE_CACHE_")}
    env.update(
        EDGE_CACHE_ORIGIN=origin.url,
        EDGE_CACHE_DATA_DIR=str(data),
        EDGE_CACHE_PORT=str(port),
        EDGE_CACHE_PROBE_INTERVAL="0.2",
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "edge_cache.cli", env=env,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )
    deadline = time.monotonic() + 30
    async with aiohttp.ClientSession() as session:
        while True:
            if proc.returncode is not None:
                raise AssertionError("edge-cache exited during start-up")
            try:
                async with session.get(f"http://127.0.0.1:{port}/readyz") as resp:
                    if resp.status == 200:
                        return Process(proc, port)
            except aiohttp.ClientError:
                pass
            if time.monotonic() > deadline:
                proc.kill()
                raise AssertionError("edge-cache did not become ready within 30 s")
            await asyncio.sleep(0.05)


@pytest.fixture
async def origin() -> AsyncIterator[ScriptedOrigin]:
    server = ScriptedOrigin()
    await server.start()
    yield server
    await server.close()


async def test_sigterm_finishes_in_flight_and_exits_0(
    origin: ScriptedOrigin, tmp_path: Path
) -> None:
    origin.route("/warm", headers={"Cache-Control": "max-age=600"}, body=b"w" * 1300)
    origin.route("/slow", headers={"Cache-Control": "max-age=600"}, body=b"slow", delay=1.0)
    edge = await start_edge(origin, tmp_path / "data")
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(edge.url + "/warm") as resp:
                assert resp.headers["X-Edge-Cache"] == "MISS"
            async with session.get(edge.url + "/warm") as resp:
                assert resp.headers["X-Edge-Cache"] == "HIT"
                assert resp.headers["Age"] == "0"
            async with session.get(edge.url + "/metrics") as resp:
                text = await resp.text()
                assert 'edge_requests_total{cache_status="HIT"} 1.0' in text
                assert "edge_origin_up 1.0" in text
            async with session.get(edge.url + "/_edge/status") as resp:
                status = await resp.json()
                assert status["state"] == "online"
                assert status["cache_entries"] == 1

            in_flight = asyncio.ensure_future(session.get(edge.url + "/slow"))
            deadline = time.monotonic() + 10
            while origin.count("/slow") == 0 and time.monotonic() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.02)
            edge.proc.send_signal(signal.SIGTERM)
            resp = await asyncio.wait_for(in_flight, 20)
            assert resp.status == 200
            assert await resp.read() == b"slow"
            resp.release()
        code = await asyncio.wait_for(edge.proc.wait(), 20)
        assert code == 0
        assert edge.proc.stderr is not None
        log = (await edge.proc.stderr.read()).decode()
        events = [json.loads(line).get("event") for line in log.splitlines() if line.strip()]
        assert "serving" in events and "stopped" in events
        assert "request" in events  # one access-log line per request
    finally:
        if edge.proc.returncode is None:
            edge.proc.kill()
            await edge.proc.wait()

    # Restart on the same data dir: served from the persisted store, origin untouched.
    before = origin.count("/warm")
    again = await start_edge(origin, tmp_path / "data")
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(again.url + "/warm") as resp:
                assert resp.headers["X-Edge-Cache"] == "HIT"
                assert await resp.read() == b"w" * 1300
            async with session.get(again.url + "/slow") as resp:
                assert resp.headers["X-Edge-Cache"] == "HIT"
        assert origin.count("/warm") == before
        again.proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(again.proc.wait(), 20) == 0
    finally:
        if again.proc.returncode is None:
            again.proc.kill()
            await again.proc.wait()
