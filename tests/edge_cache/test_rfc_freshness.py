"""RFC 9111 §3 storing rules, §4.2 freshness and Age, §5.2 directives, HEAD, policy TTL."""

from __future__ import annotations

import email.utils
from pathlib import Path

from tests.support.origins import ScriptedOrigin
from tests.support.sidecar_in_process import FakeClock, Sidecar, SidecarFactory


def http_date(ts: float) -> str:
    return email.utils.formatdate(ts, usegmt=True)


async def test_max_age_hit_then_expired(
    sidecar: Sidecar, origin: ScriptedOrigin, clock: FakeClock
) -> None:
    origin.route("/a", headers={"Cache-Control": "max-age=60"}, body=b"A")
    first = await sidecar.get("/a")
    assert (first.status, first.cache, first.body) == (200, "MISS", b"A")
    clock.advance(30)
    hit = await sidecar.get("/a")
    assert (hit.cache, hit.age, hit.count) == ("HIT", 30, 1)
    clock.advance(31)
    again = await sidecar.get("/a")
    assert again.cache == "EXPIRED"
    assert again.count == 2
    assert origin.count("/a") == 2


async def test_age_header_on_every_reused_response(
    sidecar: Sidecar, origin: ScriptedOrigin, clock: FakeClock
) -> None:
    origin.route("/a", headers={"Cache-Control": "max-age=600"})
    await sidecar.get("/a")
    ages = []
    for _ in range(3):
        clock.advance(7)
        reply = await sidecar.get("/a")
        assert reply.cache == "HIT"
        ages.append(reply.age)
    assert ages == [7, 14, 21]


async def test_s_maxage_overrides_max_age(
    sidecar: Sidecar, origin: ScriptedOrigin, clock: FakeClock
) -> None:
    origin.route("/s", headers={"Cache-Control": "max-age=1000, s-maxage=10"})
    await sidecar.get("/s")
    clock.advance(5)
    assert (await sidecar.get("/s")).cache == "HIT"
    clock.advance(10)
    assert (await sidecar.get("/s")).cache == "EXPIRED"


async def test_max_age_overrides_expires(
    sidecar: Sidecar, origin: ScriptedOrigin, clock: FakeClock
) -> None:
    origin.route(
        "/m", headers={"Cache-Control": "max-age=10", "Expires": http_date(clock.now + 1000)}
    )
    await sidecar.get("/m")
    clock.advance(20)
    assert (await sidecar.get("/m")).cache == "EXPIRED"


async def test_expires_minus_date(
    sidecar: Sidecar, origin: ScriptedOrigin, clock: FakeClock
) -> None:
    origin.route("/e", headers={"Expires": http_date(clock.now + 100)})
    await sidecar.get("/e")
    clock.advance(90)
    assert (await sidecar.get("/e")).cache == "HIT"
    clock.advance(20)
    assert (await sidecar.get("/e")).cache == "EXPIRED"


async def test_invalid_expires_means_stale(
    sidecar: Sidecar, origin: ScriptedOrigin, clock: FakeClock
) -> None:
    origin.route("/x", headers={"Expires": "0"}, body=b"x")
    await sidecar.get("/x")
    assert (await sidecar.get("/x")).count == 2


async def test_age_from_origin_counts(
    sidecar: Sidecar, origin: ScriptedOrigin, clock: FakeClock
) -> None:
    origin.route("/aged", headers={"Cache-Control": "max-age=60", "Age": "50"})
    first = await sidecar.get("/aged")
    assert first.cache == "MISS"
    clock.advance(5)
    hit = await sidecar.get("/aged")
    assert (hit.cache, hit.age) == ("HIT", 55)
    clock.advance(6)
    assert (await sidecar.get("/aged")).cache == "EXPIRED"


async def test_heuristic_freshness_ten_percent_of_last_modified_age(
    sidecar: Sidecar, origin: ScriptedOrigin, clock: FakeClock
) -> None:
    origin.route("/h", last_modified=clock.now - 1000)  # heuristic lifetime 100 s
    await sidecar.get("/h")
    clock.advance(90)
    assert (await sidecar.get("/h")).cache == "HIT"
    clock.advance(20)
    assert (await sidecar.get("/h")).cache != "HIT"


async def test_heuristic_is_capped(
    make_sidecar: SidecarFactory, origin: ScriptedOrigin, clock: FakeClock
) -> None:
    sidecar = await make_sidecar(HEURISTIC_MAX="50")
    origin.route("/old", last_modified=clock.now - 10_000_000)
    await sidecar.get("/old")
    clock.advance(40)
    assert (await sidecar.get("/old")).cache == "HIT"
    clock.advance(20)
    assert (await sidecar.get("/old")).cache != "HIT"


async def test_no_heuristic_for_other_statuses(sidecar: Sidecar, origin: ScriptedOrigin) -> None:
    origin.route(
        "/r", status=302, headers={"Location": "/elsewhere"}, last_modified=0.0, body=b"r"
    )
    await sidecar.get("/r")
    await sidecar.get("/r")
    assert origin.count("/r") == 2


async def test_explicit_freshness_makes_302_cacheable(
    sidecar: Sidecar, origin: ScriptedOrigin
) -> None:
    origin.route("/r2", status=302, headers={"Location": "/x", "Cache-Control": "max-age=60"})
    await sidecar.get("/r2")
    hit = await sidecar.get("/r2")
    assert (hit.status, hit.cache) == (302, "HIT")


async def test_error_statuses_without_explicit_freshness_are_not_stored(
    sidecar: Sidecar, origin: ScriptedOrigin
) -> None:
    origin.route("/err", status=500, last_modified=0.0)  # 500 is not heuristically cacheable
    await sidecar.get("/err")
    await sidecar.get("/err")
    assert origin.count("/err") == 2


async def test_no_store_and_private_are_not_stored(
    sidecar: Sidecar, origin: ScriptedOrigin
) -> None:
    origin.route("/ns", headers={"Cache-Control": "no-store, max-age=60"})
    origin.route("/pv", headers={"Cache-Control": "private, max-age=60"})
    for path in ("/ns", "/pv"):
        await sidecar.get(path)
        reply = await sidecar.get(path)
        assert reply.cache == "MISS", path
        assert origin.count(path) == 2, path


async def test_private_field_is_stripped(sidecar: Sidecar, origin: ScriptedOrigin) -> None:
    origin.route(
        "/pf",
        headers={"Cache-Control": 'private="X-Secret", max-age=60', "X-Secret": "s3cr3t"},
    )
    first = await sidecar.get("/pf")
    assert first.headers.get("X-Secret") == "s3cr3t"  # the requester gets it
    hit = await sidecar.get("/pf")
    assert hit.cache == "HIT"
    assert "X-Secret" not in hit.headers


async def test_no_cache_response_is_revalidated_every_time(
    sidecar: Sidecar, origin: ScriptedOrigin
) -> None:
    origin.route("/nc", headers={"Cache-Control": "no-cache, max-age=600"}, etag='"1"', body=b"b")
    await sidecar.get("/nc")
    reply = await sidecar.get("/nc")
    assert (reply.cache, reply.body) == ("REVALIDATED", b"b")
    assert origin.requests[-1].headers.get("If-None-Match") == '"1"'


async def test_request_max_age_forces_revalidation(
    sidecar: Sidecar, origin: ScriptedOrigin, clock: FakeClock
) -> None:
    origin.route("/q", headers={"Cache-Control": "max-age=600"}, etag='"q"')
    await sidecar.get("/q")
    clock.advance(10)
    assert (await sidecar.get("/q", {"Cache-Control": "max-age=20"})).cache == "HIT"
    assert (await sidecar.get("/q", {"Cache-Control": "max-age=5"})).cache == "REVALIDATED"


async def test_request_min_fresh(
    sidecar: Sidecar, origin: ScriptedOrigin, clock: FakeClock
) -> None:
    origin.route("/mf", headers={"Cache-Control": "max-age=100"}, etag='"m"')
    await sidecar.get("/mf")
    clock.advance(50)
    assert (await sidecar.get("/mf", {"Cache-Control": "min-fresh=40"})).cache == "HIT"
    assert (await sidecar.get("/mf", {"Cache-Control": "min-fresh=60"})).cache == "REVALIDATED"


async def test_request_max_stale(
    sidecar: Sidecar, origin: ScriptedOrigin, clock: FakeClock
) -> None:
    origin.route("/ms", headers={"Cache-Control": "max-age=10"})
    await sidecar.get("/ms")
    clock.advance(15)
    stale = await sidecar.get("/ms", {"Cache-Control": "max-stale=10"})
    assert (stale.cache, stale.age, stale.count) == ("STALE", 15, 1)
    anything = await sidecar.get("/ms", {"Cache-Control": "max-stale"})
    assert anything.cache == "STALE"
    too_old = await sidecar.get("/ms", {"Cache-Control": "max-stale=2"})
    assert too_old.cache == "EXPIRED"


async def test_max_stale_does_not_override_must_revalidate(
    sidecar: Sidecar, origin: ScriptedOrigin, clock: FakeClock
) -> None:
    origin.route("/mr", headers={"Cache-Control": "max-age=10, must-revalidate"})
    await sidecar.get("/mr")
    clock.advance(15)
    assert (await sidecar.get("/mr", {"Cache-Control": "max-stale=100"})).cache == "EXPIRED"


async def test_only_if_cached(sidecar: Sidecar, origin: ScriptedOrigin, clock: FakeClock) -> None:
    origin.route("/o", headers={"Cache-Control": "max-age=10"})
    miss = await sidecar.get("/o", {"Cache-Control": "only-if-cached"})
    assert miss.status == 504
    assert origin.count("/o") == 0
    await sidecar.get("/o")
    assert (await sidecar.get("/o", {"Cache-Control": "only-if-cached"})).cache == "HIT"
    clock.advance(20)
    stale = await sidecar.get("/o", {"Cache-Control": "only-if-cached"})
    assert stale.status == 504
    assert origin.count("/o") == 1


async def test_request_no_cache_and_pragma_go_to_origin(
    sidecar: Sidecar, origin: ScriptedOrigin
) -> None:
    origin.route("/p", headers={"Cache-Control": "max-age=600"}, etag='"p"')
    await sidecar.get("/p")
    assert (await sidecar.get("/p", {"Cache-Control": "no-cache"})).cache == "REVALIDATED"
    assert (await sidecar.get("/p", {"Pragma": "no-cache"})).cache == "REVALIDATED"
    assert (await sidecar.get("/p")).cache == "HIT"
    assert origin.count("/p") == 3


async def test_request_no_store_bypasses(sidecar: Sidecar, origin: ScriptedOrigin) -> None:
    origin.route("/b", headers={"Cache-Control": "max-age=600"})
    reply = await sidecar.get("/b", {"Cache-Control": "no-store"})
    assert reply.cache == "BYPASS"
    assert (await sidecar.get("/b")).cache == "MISS"


async def test_invalid_cache_control_values_read_safely(
    sidecar: Sidecar, origin: ScriptedOrigin
) -> None:
    cases = {
        "/i1": "max-age=abc",
        "/i2": "max-age=-5",
        "/i3": "max-age=60, max-age=3600",
        "/i4": "max-age=1.5",
        "/i5": 's-maxage="x", max-age=600',
    }
    for path, value in cases.items():
        origin.route(path, headers={"Cache-Control": value})
        await sidecar.get(path)
        reply = await sidecar.get(path)
        assert reply.cache != "HIT", (path, value)
        assert origin.count(path) == 2, (path, value)
    origin.route("/i6", headers={"Cache-Control": "max-age=600, stale-if-error=bogus, ,,foo"})
    await sidecar.get("/i6")
    assert (await sidecar.get("/i6")).cache == "HIT"


async def test_quoted_and_mixed_case_directives(sidecar: Sidecar, origin: ScriptedOrigin) -> None:
    origin.route("/mc", headers={"Cache-Control": 'MAX-AGE="60", Public'})
    await sidecar.get("/mc")
    assert (await sidecar.get("/mc")).cache == "HIT"
    origin.route("/ns2", headers={"Cache-Control": "max-age=60", "cache-control": "No-Store"})
    await sidecar.get("/ns2")
    assert (await sidecar.get("/ns2")).cache == "MISS"


async def test_head_served_from_get_entry(sidecar: Sidecar, origin: ScriptedOrigin) -> None:
    origin.route("/hd", headers={"Cache-Control": "max-age=60"}, body=b"0123456789")
    await sidecar.get("/hd")
    head = await sidecar.request("HEAD", "/hd")
    assert (head.status, head.cache, head.body) == (200, "HIT", b"")
    assert head.headers["Content-Length"] == "10"


async def test_head_miss_fills_the_cache(sidecar: Sidecar, origin: ScriptedOrigin) -> None:
    origin.route("/hm", headers={"Cache-Control": "max-age=60"}, body=b"abc")
    head = await sidecar.request("HEAD", "/hm")
    assert (head.status, head.cache, head.body) == (200, "MISS", b"")
    assert head.headers["Content-Length"] == "3"
    get = await sidecar.get("/hm")
    assert (get.cache, get.body) == ("HIT", b"abc")


async def test_query_strings_are_distinct_keys(sidecar: Sidecar, origin: ScriptedOrigin) -> None:
    await sidecar.get("/list?page=1")
    await sidecar.get("/list?page=2")
    assert (await sidecar.get("/list?page=1")).cache == "HIT"
    assert origin.count("/list") == 2


async def test_policy_ttl_override_and_bypass(
    make_sidecar: SidecarFactory, origin: ScriptedOrigin, clock: FakeClock, tmp_path: Path
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "routes:\n"
        "  - path: /api/stock\n    ttl: 30\n"
        "  - path: /api/me*\n    bypass: true\n"
    )
    sidecar = await make_sidecar(POLICY_FILE=str(policy))
    origin.route("/api/stock", headers={"Cache-Control": "public, max-age=0"})
    origin.route("/api/me", headers={"Cache-Control": "max-age=600"})
    await sidecar.get("/api/stock")
    clock.advance(20)
    assert (await sidecar.get("/api/stock")).cache == "HIT"
    clock.advance(20)
    assert (await sidecar.get("/api/stock")).cache == "EXPIRED"
    await sidecar.get("/api/me")
    assert (await sidecar.get("/api/me")).cache == "BYPASS"
    assert origin.count("/api/me") == 2


async def test_client_conditional_answered_from_cache(
    sidecar: Sidecar, origin: ScriptedOrigin, clock: FakeClock
) -> None:
    origin.route(
        "/c", headers={"Cache-Control": "max-age=60"}, etag='"c1"', last_modified=clock.now - 50
    )
    await sidecar.get("/c")
    not_modified = await sidecar.get("/c", {"If-None-Match": '"c1"'})
    assert (not_modified.status, not_modified.cache, not_modified.body) == (304, "HIT", b"")
    changed = await sidecar.get("/c", {"If-None-Match": '"other"'})
    assert changed.status == 200
    ims = await sidecar.get("/c", {"If-Modified-Since": http_date(clock.now)})
    assert ims.status == 304
    assert origin.count("/c") == 1


async def test_head_pass_through_keeps_content_length(
    sidecar: Sidecar, origin: ScriptedOrigin
) -> None:
    origin.route("/hp", headers={"Cache-Control": "max-age=60"}, body=b"12345678")
    head = await sidecar.request("HEAD", "/hp", {"Cache-Control": "no-store"})
    assert (head.status, head.cache, head.body) == (200, "BYPASS", b"")
    assert head.headers["Content-Length"] == "8"
    assert origin.requests[-1].method == "HEAD"
