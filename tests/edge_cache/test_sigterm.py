"""A real `edge-cache` process: starts from environment variables alone, serves hits, finishes
in-flight requests on SIGTERM and exits 0, and keeps its cache across the restart."""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.support.origins import ScriptedOrigin
from tests.support.sidecar import Sidecar
from tests.support.waiting import wait_until


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
    edge = Sidecar(origin.url, tmp_path / "data", EDGE_CACHE_ACCESS_LOG="on")
    try:
        await edge.start()
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
            await wait_until(lambda: origin.count("/slow") > 0, 10, "the slow request in flight")
            assert edge.proc is not None
            edge.proc.send_signal(signal.SIGTERM)
            resp = await asyncio.wait_for(in_flight, 20)
            assert resp.status == 200
            assert await resp.read() == b"slow"
            resp.release()
        assert await edge.exit_code(20) == 0
        log = edge.log_path.read_text()
        events = [json.loads(line).get("event") for line in log.splitlines() if line.strip()]
        assert "serving" in events and "stopped" in events
        assert "request" in events  # one access-log line per request

        # Restart on the same data dir: served from the persisted store, origin untouched.
        before = origin.count("/warm")
        await edge.start()
        async with aiohttp.ClientSession() as session:
            async with session.get(edge.url + "/warm") as resp:
                assert resp.headers["X-Edge-Cache"] == "HIT"
                assert await resp.read() == b"w" * 1300
            async with session.get(edge.url + "/slow") as resp:
                assert resp.headers["X-Edge-Cache"] == "HIT"
        assert origin.count("/warm") == before
        assert await edge.stop() == 0
    finally:
        await edge.kill9()
