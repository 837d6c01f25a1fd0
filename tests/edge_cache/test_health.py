"""OriginHealth: active prober with hysteresis and passive failure reports, against a real
scripted origin on a loopback port."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from edge_cache.health import OFFLINE, ONLINE, OriginHealth

from tests.edge_cache.offline_wait import wait_until
from tests.edge_cache.origin import ScriptedOrigin


@pytest.fixture
async def origin() -> AsyncIterator[ScriptedOrigin]:
    o = ScriptedOrigin()
    await o.start()
    o.route("/healthz", headers={"Cache-Control": "no-store"}, body=b"ok")
    yield o
    await o.close()


async def test_refusing_origin_goes_offline_and_recovers(origin: ScriptedOrigin) -> None:
    # interval 1 s (the default); a refused connection is definitive whatever the deadline,
    # and a generous deadline keeps a loaded machine from faking an outage before the test's
    health = OriginHealth(origin.url, timeout=3.0)
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
        assert seen == [OFFLINE, ONLINE]
    finally:
        await health.stop()


async def test_blackholed_origin_goes_offline(origin: ScriptedOrigin) -> None:
    health = OriginHealth(origin.url)
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
    health = OriginHealth("http://127.0.0.1:9")
    assert health.is_online()
    health.record_failure("connect refused")
    assert health.state == OFFLINE
    assert health.last_reason == "connect refused"
    health.record_success()  # a late response must not end OFFLINE: only probes decide
    assert health.state == OFFLINE


async def test_hysteresis_thresholds() -> None:
    health = OriginHealth("http://127.0.0.1:9", window=3, fall=2, rise=2)
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
    health = OriginHealth("http://127.0.0.1:9", rise=1)
    await asyncio.wait_for(health.wait_online(), 1)
    health.record_failure("x")
    await asyncio.wait_for(health.wait_offline(), 1)
    waiter = asyncio.create_task(health.wait_online())
    await asyncio.sleep(0)
    assert not waiter.done()
    health._probe_result(True, "status 200", definitive=False)
    await asyncio.wait_for(waiter, 1)

