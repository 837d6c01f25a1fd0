"""RFC 5861 stale-while-revalidate (background refresh) and stale-if-error (5xx, refused and
blackholed origins), RFC 9111 §4.2.4 limits, and serving while disconnected."""

from __future__ import annotations

import asyncio

from tests.support.origins import ScriptedOrigin
from tests.support.sidecar_in_process import FakeClock, Sidecar, SidecarFactory
from tests.support.waiting import wait_until


async def test_stale_while_revalidate_serves_stale_and_refreshes(
    sidecar: Sidecar, origin: ScriptedOrigin, clock: FakeClock
) -> None:
    origin.route("/s", headers={"Cache-Control": "max-age=10, stale-while-revalidate=30"})
    await sidecar.get("/s")
    clock.advance(15)
    stale = await sidecar.get("/s")
    assert (stale.cache, stale.count, stale.age) == ("UPDATING", 1, 15)
    await wait_until(lambda: origin.count("/s") == 2)
    await wait_until(lambda: not sidecar.edge.proxy.background)
    fresh = await sidecar.get("/s")
    assert (fresh.cache, fresh.count) == ("HIT", 2)


async def test_stale_while_revalidate_refresh_is_coalesced(
    sidecar: Sidecar, origin: ScriptedOrigin, clock: FakeClock
) -> None:
    origin.route(
        "/s", headers={"Cache-Control": "max-age=10, stale-while-revalidate=30"}, delay=1.0
    )
    await sidecar.get("/s")
    clock.advance(15)
    replies = await asyncio.gather(*(sidecar.get("/s") for _ in range(20)))
    assert "UPDATING" in {r.cache for r in replies}
    assert {r.cache for r in replies} <= {"UPDATING", "HIT"}  # HIT: arrived after the refresh
    await wait_until(lambda: not sidecar.edge.proxy.background)
    assert origin.count("/s") == 2


async def test_beyond_stale_while_revalidate_is_synchronous(
    sidecar: Sidecar, origin: ScriptedOrigin, clock: FakeClock
) -> None:
    origin.route("/s", headers={"Cache-Control": "max-age=10, stale-while-revalidate=5"})
    await sidecar.get("/s")
    clock.advance(20)
    reply = await sidecar.get("/s")
    assert (reply.cache, reply.count) == ("EXPIRED", 2)


async def test_swr_does_not_apply_with_must_revalidate_or_no_cache(
    sidecar: Sidecar, origin: ScriptedOrigin, clock: FakeClock
) -> None:
    origin.route(
        "/m", headers={"Cache-Control": "max-age=1, stale-while-revalidate=60, must-revalidate"}
    )
    await sidecar.get("/m")
    clock.advance(5)
    assert (await sidecar.get("/m")).cache == "EXPIRED"
    origin.route("/n", headers={"Cache-Control": "max-age=1, stale-while-revalidate=60"})
    await sidecar.get("/n")
    clock.advance(5)
    assert (await sidecar.get("/n", {"Cache-Control": "no-cache"})).cache == "EXPIRED"


async def test_stale_if_error_on_5xx(
    sidecar: Sidecar, origin: ScriptedOrigin, clock: FakeClock
) -> None:
    origin.route("/e", headers={"Cache-Control": "max-age=10, stale-if-error=60"}, body=b"good")
    await sidecar.get("/e")
    clock.advance(20)
    await origin.set_mode("5xx")
    stale = await sidecar.get("/e")
    assert (stale.status, stale.cache, stale.body, stale.age) == (200, "STALE", b"good", 20)
    clock.advance(60)
    too_old = await sidecar.get("/e")
    assert too_old.status == 503
    assert too_old.cache == "EXPIRED"


async def test_5xx_without_stale_if_error_is_passed_on(
    sidecar: Sidecar, origin: ScriptedOrigin, clock: FakeClock
) -> None:
    origin.route("/e", headers={"Cache-Control": "max-age=10"})
    await sidecar.get("/e")
    clock.advance(20)
    await origin.set_mode("5xx")
    assert (await sidecar.get("/e")).status == 503


async def test_request_stale_if_error(
    sidecar: Sidecar, origin: ScriptedOrigin, clock: FakeClock
) -> None:
    origin.route("/e", headers={"Cache-Control": "max-age=10"})
    await sidecar.get("/e")
    clock.advance(20)
    await origin.set_mode("5xx")
    reply = await sidecar.get("/e", {"Cache-Control": "stale-if-error=30"})
    assert (reply.status, reply.cache) == (200, "STALE")


async def test_stale_if_error_on_refused_connection(
    sidecar: Sidecar, origin: ScriptedOrigin, clock: FakeClock
) -> None:
    origin.route("/e", headers={"Cache-Control": "public, max-age=0, stale-if-error=604800"})
    await sidecar.get("/e")
    clock.advance(3600)
    await origin.set_mode("refuse")
    reply = await sidecar.get("/e")
    assert (reply.status, reply.cache, reply.age) == (200, "STALE", 3600)
    missing = await sidecar.get("/not-cached")
    assert missing.status == 502


async def test_stale_if_error_on_blackholed_origin(
    make_sidecar: SidecarFactory, origin: ScriptedOrigin, clock: FakeClock
) -> None:
    sidecar = await make_sidecar(ORIGIN_TIMEOUT="2")  # generous: the warm-up must not time out
    origin.route("/e", headers={"Cache-Control": "max-age=10, stale-if-error=600"})
    await sidecar.get("/e")
    clock.advance(30)
    await origin.set_mode("blackhole")
    reply = await sidecar.get("/e")
    assert (reply.status, reply.cache) == (200, "STALE")
    missing = await sidecar.get("/not-cached")
    assert missing.status == 504


async def test_must_revalidate_forbids_stale_on_error(
    sidecar: Sidecar, origin: ScriptedOrigin, clock: FakeClock
) -> None:
    origin.route("/m", headers={"Cache-Control": "max-age=10, must-revalidate, stale-if-error=60"})
    origin.route("/s", headers={"Cache-Control": "s-maxage=10, stale-if-error=60"})
    await sidecar.get("/m")
    await sidecar.get("/s")
    clock.advance(20)
    await origin.set_mode("refuse")
    assert (await sidecar.get("/m")).status == 502
    assert (await sidecar.get("/s")).status == 502


async def test_transport_error_uses_the_route_offline_licence(
    make_sidecar: SidecarFactory, origin: ScriptedOrigin, clock: FakeClock
) -> None:
    sidecar = await make_sidecar(MAX_OFFLINE_STALE="100")
    origin.route("/t", headers={"Cache-Control": "max-age=10"})
    await sidecar.get("/t")
    clock.advance(60)  # 50 s stale: inside the licence
    await origin.set_mode("refuse")
    assert (await sidecar.get("/t")).cache == "STALE"
    clock.advance(100)  # 150 s stale: outside
    assert (await sidecar.get("/t")).status == 502


async def test_disconnected_with_real_health_serves_offline_hits(
    make_sidecar: SidecarFactory, origin: ScriptedOrigin, clock: FakeClock
) -> None:
    sidecar = await make_sidecar(
        health=True, PROBE_INTERVAL="0.05", PROBE_TIMEOUT="3", PROBE_SUCCESSES="2"
    )
    origin.route("/d", headers={"Cache-Control": "public, max-age=0, stale-if-error=604800"})
    await sidecar.get("/d")
    clock.advance(120)
    await origin.set_mode("refuse")
    first = await sidecar.get("/d")
    assert first.cache in ("STALE", "OFFLINE-HIT")
    await wait_until(lambda: not sidecar.edge.health.is_online())
    seen_before = origin.count("/d")
    offline = await sidecar.get("/d")
    assert (offline.status, offline.cache, offline.age) == (200, "OFFLINE-HIT", 120)
    uncached = await sidecar.get("/never")
    assert uncached.status == 503
    assert "Retry-After" in uncached.headers
    assert uncached.headers["Content-Type"] == "application/problem+json"
    assert origin.count("/d") == seen_before
    await origin.set_mode("ok")
    await wait_until(lambda: sidecar.edge.health.is_online())
    back = await sidecar.get("/d")
    assert back.cache == "EXPIRED"
    assert origin.count("/d") == seen_before + 1


async def test_requests_waiting_on_a_dead_origin_are_released_when_offline(
    make_sidecar: SidecarFactory, origin: ScriptedOrigin, clock: FakeClock
) -> None:
    sidecar = await make_sidecar(
        health=True, ORIGIN_TIMEOUT="60", PROBE_INTERVAL="0.05", PROBE_TIMEOUT="0.3"
    )
    origin.route("/w", headers={"Cache-Control": "max-age=10, stale-if-error=600"}, body=b"w")
    await sidecar.get("/w")
    clock.advance(30)
    await origin.set_mode("blackhole")
    # Without release this would wait for the 60 s origin deadline.
    stale, missing = await asyncio.wait_for(
        asyncio.gather(sidecar.get("/w"), sidecar.get("/never-seen")), 30
    )
    assert (stale.status, stale.body) == (200, b"w")
    assert stale.cache in ("STALE", "OFFLINE-HIT")
    assert missing.status == 503
    assert not sidecar.edge.health.is_online()


async def test_operator_offline_cap_wins_over_a_longer_stale_if_error(
    make_sidecar: SidecarFactory, origin: ScriptedOrigin, clock: FakeClock
) -> None:
    """EDGE_CACHE_MAX_OFFLINE_STALE caps offline answers even when the origin allows more."""
    sidecar = await make_sidecar(
        health=True, MAX_OFFLINE_STALE="100", PROBE_INTERVAL="0.05", PROBE_TIMEOUT="3"
    )
    origin.route("/cap", headers={"Cache-Control": "public, max-age=0, stale-if-error=604800"})
    await sidecar.get("/cap")
    await origin.set_mode("refuse")
    await wait_until(lambda: not sidecar.edge.health.is_online())
    clock.advance(50)
    inside = await sidecar.get("/cap")
    assert (inside.status, inside.cache) == (200, "OFFLINE-HIT")
    clock.advance(100)  # 150 s stale: past the operator's cap, stale-if-error notwithstanding
    outside = await sidecar.get("/cap")
    assert outside.status == 503
    assert "Retry-After" in outside.headers
