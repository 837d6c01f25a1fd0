"""OriginHealth: active prober with hysteresis and passive failure reports, against a real
scripted origin on a loopback port."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from edge_cache.health import OFFLINE, ONLINE, UNKNOWN, OriginHealth
from edge_cache.origin_client import OriginClient

from tests.support.origins import LedgerOrigin, ScriptedOrigin
from tests.support.sidecar import Sidecar
from tests.support.waiting import wait_until


@pytest.fixture
async def origin() -> AsyncIterator[ScriptedOrigin]:
    o = ScriptedOrigin()
    await o.start()
    o.route("/healthz", headers={"Cache-Control": "no-store"}, body=b"ok")
    yield o
    await o.close()


@pytest.fixture
async def client(origin: ScriptedOrigin) -> AsyncIterator[OriginClient]:
    async with OriginClient(origin.url, timeout=5.0) as c:
        yield c


# Never dialled: these tests drive the state machine by hand.
NOWHERE = OriginClient("http://127.0.0.1:9", timeout=1.0)


async def test_refusing_origin_goes_offline_and_recovers(
    origin: ScriptedOrigin, client: OriginClient
) -> None:
    # interval 1 s (the default); a refused connection is definitive whatever the deadline,
    # and a generous deadline keeps a loaded machine from faking an outage before the test's
    health = OriginHealth(client, timeout=3.0)
    seen: list[str] = []
    health.add_listener(lambda state, _reason: seen.append(state))
    health.start()
    try:
        await wait_until(lambda: health.probes >= 1)
        assert health.is_online()
        await origin.set_mode("refuse")
        took = await wait_until(lambda: not health.is_online())
        print(f"refusing origin detected OFFLINE after {took:.3f}s")
        assert health.state == OFFLINE
        await origin.set_mode("ok")
        took = await wait_until(health.is_online)
        print(f"recovered ONLINE after {took:.3f}s")
        assert seen == [ONLINE, OFFLINE, ONLINE]  # the first verdict, then two flaps
        assert health.transitions == 2
    finally:
        await health.stop()


async def test_blackholed_origin_goes_offline(
    origin: ScriptedOrigin, client: OriginClient
) -> None:
    health = OriginHealth(client)
    health.start()
    try:
        await wait_until(lambda: health.probes >= 1)
        await origin.set_mode("blackhole")
        took = await wait_until(lambda: not health.is_online())
        print(f"blackholed origin detected OFFLINE after {took:.3f}s")
        assert "timeout" in health.last_reason
        await origin.set_mode("ok")
        await wait_until(health.is_online)
    finally:
        await health.stop()


async def test_passive_failure_flips_at_once_and_success_does_not_restore() -> None:
    health = OriginHealth(NOWHERE, initial_online=True)
    assert health.is_online()
    health.record_failure("connect refused")
    assert health.state == OFFLINE
    assert health.last_reason == "connect refused"
    health.record_success()  # a late response must not end OFFLINE: only probes decide
    assert health.state == OFFLINE


async def test_hysteresis_thresholds() -> None:
    health = OriginHealth(NOWHERE, window=3, fall=2, rise=2, initial_online=True)
    # slow/5xx probe failures (not definitive) need 2 of the last 3
    health._probe_result(False, "status 503", definitive=False)
    assert health.is_online()
    health._probe_result(True, "status 200", definitive=False)
    assert health.is_online()
    health._probe_result(False, "timeout", definitive=False)
    assert not health.is_online()
    # recovery needs 2 consecutive successes
    health._probe_result(True, "status 200", definitive=False)
    assert not health.is_online()
    health._probe_result(False, "timeout", definitive=False)
    health._probe_result(True, "status 200", definitive=False)
    assert not health.is_online()
    health._probe_result(True, "status 200", definitive=False)
    assert health.is_online()
    # a refused connection is definitive
    health._probe_result(False, "connect: refused", definitive=True)
    assert not health.is_online()


async def test_wait_online_and_offline_events() -> None:
    health = OriginHealth(NOWHERE, rise=1, initial_online=True)
    await asyncio.wait_for(health.wait_online(), 1)
    health.record_failure("x")
    await asyncio.wait_for(health.wait_offline(), 1)
    waiter = asyncio.create_task(health.wait_online())
    await asyncio.sleep(0)
    assert not waiter.done()
    health._probe_result(True, "status 200", definitive=False)
    await asyncio.wait_for(waiter, 1)



async def test_starts_unknown_answered_as_offline_until_the_first_probe(
    client: OriginClient,
) -> None:
    health = OriginHealth(client, interval=30.0, timeout=3.0)  # one probe in this test
    seen: list[str] = []
    health.add_listener(lambda state, _reason: seen.append(state))
    assert health.state == UNKNOWN and not health.is_online() and not health.is_known()
    await asyncio.wait_for(health.wait_offline(), 1)  # nobody may dial the origin yet
    health.start()
    try:
        took = await wait_until(health.is_online)  # the first probe runs at once at start
        print(f"first probe: ONLINE after {took:.3f}s")
        assert health.probes == 1 and seen == [ONLINE] and health.transitions == 0
        assert health.status()["state"] == ONLINE
    finally:
        await health.stop()


async def test_first_failed_probe_decides_offline(
    origin: ScriptedOrigin, client: OriginClient
) -> None:
    await origin.set_mode("refuse")
    health = OriginHealth(client, interval=30.0, timeout=3.0, fall=2)
    health.start()
    try:
        await wait_until(health.is_known)
        assert health.state == OFFLINE and health.probes == 1  # not fall=2 probes: one
        assert "connect" in health.last_reason
    finally:
        await health.stop()
    blackholed = OriginHealth(client, interval=30.0, timeout=0.2, fall=2)
    await origin.set_mode("blackhole")
    blackholed.start()
    try:
        await wait_until(blackholed.is_known)
        assert blackholed.state == OFFLINE and "timeout" in blackholed.last_reason
    finally:
        await blackholed.stop()


async def test_failure_report_while_unknown_means_offline() -> None:
    health = OriginHealth(NOWHERE)
    health.record_success()  # no verdict from a request: only probes bring it ONLINE
    assert health.state == UNKNOWN
    health.record_failure("connect refused")
    assert health.state == OFFLINE and health.transitions == 0
    health._probe_result(True, "status 200", definitive=False)
    assert health.state == OFFLINE  # from OFFLINE the usual hysteresis applies (rise=2)
    health._probe_result(True, "status 200", definitive=False)
    assert health.state == ONLINE and health.transitions == 1


async def test_restart_while_the_link_is_down_serves_offline_hits_not_stale(
    tmp_path: Path,
) -> None:
    """The real edge-cache process restarted while its origin hangs: until the first probe has
    timed out the state is "unknown", reads are OFFLINE-HIT (never a request to the dead origin,
    never STALE) and writes are queued; /readyz says ready only once the state is known."""
    origin = LedgerOrigin()
    await origin.start()
    origin.put_item("a", "cloud")
    edge = Sidecar(origin.url, tmp_path / "edge", EDGE_CACHE_AUTH_REQUIRED="off",
                   EDGE_CACHE_PROBE_TIMEOUT="4", EDGE_CACHE_ORIGIN_TIMEOUT="30")
    try:
        async with aiohttp.ClientSession() as s:
            await edge.start()
            async with s.get(edge.url + "/items/a") as resp:
                assert resp.status == 200 and resp.headers["X-Edge-Cache"] == "MISS"
            await edge.stop()
            await origin.set_mode("blackhole")  # the link hangs: probes time out after 4 s
            await edge.launch()

            async def status() -> dict[str, object] | None:
                try:
                    async with s.get(edge.url + "/_edge/status") as resp:
                        return dict(json.loads(await resp.read()))
                except aiohttp.ClientConnectionError:
                    return None

            answers: list[dict[str, object]] = []

            async def answered() -> bool:
                assert edge.proc is not None and edge.proc.returncode is None, edge.log_tail()
                got = await status()
                answers.extend([got] if got is not None else [])
                return got is not None

            await wait_until(answered, 30, "the first status answer", interval=0.02)
            first = answers[0]
            assert first["state"] == "unknown"
            async with s.get(edge.url + "/readyz") as resp:
                assert resp.status == 503  # not ready before the first verdict
            async with s.get(edge.url + "/items/a") as resp:
                body = json.loads(await resp.read())
                assert resp.status == 200 and resp.headers["X-Edge-Cache"] == "OFFLINE-HIT"
                assert body["value"] == "cloud"
            async with s.post(edge.url + "/items", json={"id": "b", "value": "edge"},
                              headers={"Idempotency-Key": "k-b"}) as resp:
                assert resp.status == 202 and resp.headers["X-Edge-Cache"] == "QUEUED"
            assert origin.requests.count(("GET", "/items/a")) == 1  # only the first, online
            await edge.wait_state(s, "offline")  # the first probe timed out
            await edge.wait_ready()
            await origin.set_mode("ok")
            await edge.wait_drained(s)
            assert origin.items["b"]["value"] == "edge"
    finally:
        await edge.stop()
        await origin.close()
