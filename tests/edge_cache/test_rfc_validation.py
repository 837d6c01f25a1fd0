"""RFC 9111 §4.3: validation with If-None-Match / If-Modified-Since and updating on 304."""

from __future__ import annotations

from tests.support.origins import ScriptedOrigin
from tests.support.sidecar_in_process import FakeClock, Sidecar


async def test_etag_revalidation_uses_if_none_match(
    sidecar: Sidecar, origin: ScriptedOrigin, clock: FakeClock
) -> None:
    origin.route("/v", headers={"Cache-Control": "max-age=10"}, etag='"v1"', body=b"body")
    await sidecar.get("/v")
    clock.advance(11)
    reply = await sidecar.get("/v")
    assert (reply.status, reply.cache, reply.body) == (200, "REVALIDATED", b"body")
    assert origin.requests[-1].headers.get("If-None-Match") == '"v1"'
    assert reply.age == 0


async def test_last_modified_revalidation_uses_if_modified_since(
    sidecar: Sidecar, origin: ScriptedOrigin, clock: FakeClock
) -> None:
    origin.route("/lm", headers={"Cache-Control": "max-age=0"}, last_modified=clock.now - 3600)
    await sidecar.get("/lm")
    reply = await sidecar.get("/lm")
    assert reply.cache == "REVALIDATED"
    sent = origin.requests[-1].headers
    assert "If-Modified-Since" in sent
    assert "If-None-Match" not in sent


async def test_304_updates_stored_headers(
    sidecar: Sidecar, origin: ScriptedOrigin, clock: FakeClock
) -> None:
    origin.route(
        "/u", headers={"Cache-Control": "max-age=0", "X-Version": "old"}, etag='"u"', body=b"12345"
    )
    await sidecar.get("/u")
    origin.route(
        "/u", headers={"Cache-Control": "max-age=100", "X-Version": "new"}, etag='"u"', body=b"zz"
    )
    reply = await sidecar.get("/u")
    assert reply.cache == "REVALIDATED"
    assert reply.body == b"12345"  # the stored body is kept
    assert reply.headers["X-Version"] == "new"
    assert reply.headers.getall("X-Version") == ["new"]
    assert reply.headers["Content-Length"] == "5"
    clock.advance(50)
    hit = await sidecar.get("/u")  # the new max-age=100 from the 304 applies
    assert (hit.cache, hit.headers["X-Version"], hit.age) == ("HIT", "new", 50)
    assert origin.count("/u") == 2


async def test_304_update_survives_restart(
    sidecar: Sidecar, origin: ScriptedOrigin, clock: FakeClock
) -> None:
    origin.route("/r", headers={"Cache-Control": "max-age=0", "X-V": "1"}, etag='"r"')
    await sidecar.get("/r")
    origin.route("/r", headers={"Cache-Control": "max-age=100", "X-V": "2"}, etag='"r"')
    await sidecar.get("/r")
    row = sidecar.edge.store.db.execute(
        "SELECT headers, lifetime FROM entries WHERE key = '/r'"
    ).fetchone()
    assert b"X-V: 2" in row[0]
    assert row[1] == 100


async def test_changed_resource_replaces_entry(
    sidecar: Sidecar, origin: ScriptedOrigin, clock: FakeClock
) -> None:
    origin.route("/c", headers={"Cache-Control": "max-age=10"}, etag='"1"', body=b"one")
    await sidecar.get("/c")
    origin.route("/c", headers={"Cache-Control": "max-age=10"}, etag='"2"', body=b"two")
    clock.advance(11)
    changed = await sidecar.get("/c")
    assert (changed.status, changed.cache, changed.body) == (200, "EXPIRED", b"two")
    assert (await sidecar.get("/c")).body == b"two"


async def test_without_validators_refetches_unconditionally(
    sidecar: Sidecar, origin: ScriptedOrigin, clock: FakeClock
) -> None:
    origin.route("/n", headers={"Cache-Control": "max-age=10"}, body=b"n")
    await sidecar.get("/n")
    clock.advance(11)
    reply = await sidecar.get("/n")
    assert reply.cache == "EXPIRED"
    sent = origin.requests[-1].headers
    assert "If-None-Match" not in sent and "If-Modified-Since" not in sent


async def test_client_validators_on_miss_are_answered_by_the_cache(
    sidecar: Sidecar, origin: ScriptedOrigin
) -> None:
    origin.route("/cv", headers={"Cache-Control": "max-age=60"}, etag='"cv"', body=b"full")
    reply = await sidecar.get("/cv", {"If-None-Match": '"cv"'})
    assert (reply.status, reply.body) == (304, b"")
    assert "If-None-Match" not in origin.requests[-1].headers  # full response fetched
    full = await sidecar.get("/cv")
    assert (full.status, full.cache, full.body) == (200, "HIT", b"full")


async def test_weak_comparison_for_if_none_match(
    sidecar: Sidecar, origin: ScriptedOrigin
) -> None:
    origin.route("/w", headers={"Cache-Control": "max-age=60"}, etag='W/"w1"')
    await sidecar.get("/w")
    assert (await sidecar.get("/w", {"If-None-Match": '"w1"'})).status == 304
    assert (await sidecar.get("/w", {"If-None-Match": '"a", W/"w1"'})).status == 304
    assert (await sidecar.get("/w", {"If-None-Match": "*"})).status == 304
    assert (await sidecar.get("/w", {"If-None-Match": '"zz"'})).status == 200


async def test_revalidation_of_conditional_client_request(
    sidecar: Sidecar, origin: ScriptedOrigin
) -> None:
    origin.route("/cc", headers={"Cache-Control": "max-age=0"}, etag='"x"', body=b"data")
    await sidecar.get("/cc")
    reply = await sidecar.get("/cc", {"If-None-Match": '"x"'})
    assert (reply.status, reply.cache) == (304, "REVALIDATED")
    assert origin.requests[-1].headers.get("If-None-Match") == '"x"'


async def test_must_revalidate_entry_is_validated_once_stale(
    sidecar: Sidecar, origin: ScriptedOrigin, clock: FakeClock
) -> None:
    origin.route("/m", headers={"Cache-Control": "max-age=5, must-revalidate"}, etag='"m"')
    await sidecar.get("/m")
    assert (await sidecar.get("/m")).cache == "HIT"
    clock.advance(6)
    assert (await sidecar.get("/m")).cache == "REVALIDATED"
