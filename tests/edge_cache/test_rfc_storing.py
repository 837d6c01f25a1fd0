"""RFC 9111 §3 (storing responses), §3.5 with cookies, §7.3 (Set-Cookie) and §3.3-3.4 (206),
from the RFC text.

§3: a cache MUST NOT store a response unless "the response status code is final", "if the
response status code is 206 or 304, or the must-understand cache directive is present: the
cache understands the response status code", no no-store, no private (shared cache), the
Authorization rule of §3.5, and "the response contains at least one of: a public response
directive; ... an Expires header field; a max-age response directive; if the cache is shared:
an s-maxage response directive; ... a status code that is defined as heuristically cacheable".
"""

from __future__ import annotations

import pytest
from aiohttp import web
from edge_cache.settings import Settings

from tests.support.origins import Script, ScriptedOrigin
from tests.support.sidecar_in_process import SidecarFactory


@pytest.mark.parametrize("status", [299, 499, 500, 502, 503, 504, 599])
async def test_any_final_status_with_explicit_freshness_is_stored(
    make_sidecar: SidecarFactory, origin: ScriptedOrigin, status: int
) -> None:
    sidecar = await make_sidecar()
    origin.route("/s", status=status, headers={"Cache-Control": "max-age=60"}, body=b"answer")
    origin.route("/e", status=status, headers={"Expires": "Wed, 01 Dec 2100 00:00:00 GMT"})
    origin.route("/none", status=status, body=b"no freshness")
    for path in ("/s", "/e"):
        first = await sidecar.get(path)
        hit = await sidecar.get(path)
        assert (first.status, first.cache) == (status, "MISS"), path
        assert (hit.status, hit.cache) == (status, "HIT"), path
        assert origin.count(path) == 1
    # not heuristically cacheable and no explicit freshness: not stored
    await sidecar.get("/none")
    assert (await sidecar.get("/none")).cache == "MISS"
    assert sidecar.edge.health.is_online()


async def test_must_understand_limits_storing_to_understood_statuses(
    make_sidecar: SidecarFactory, origin: ScriptedOrigin
) -> None:
    # §5.2.2.3: "the cache SHOULD ignore the no-store directive if it understands and
    # implements the status code's caching requirements"
    sidecar = await make_sidecar()
    cc = {"Cache-Control": "must-understand, no-store, max-age=60"}
    origin.route("/mu/200", headers=cc, body=b"ok")
    origin.route("/mu/299", status=299, headers=cc, body=b"odd")
    await sidecar.get("/mu/200")
    assert (await sidecar.get("/mu/200")).cache == "HIT"
    await sidecar.get("/mu/299")
    assert (await sidecar.get("/mu/299")).cache == "MISS"


async def test_set_cookie_responses_are_stored_without_the_cookie(
    make_sidecar: SidecarFactory, origin: ScriptedOrigin
) -> None:
    # §7.3: "the Set-Cookie response header field [COOKIE] does not inhibit caching; a
    # cacheable response with a Set-Cookie header field can be (and often is) used to satisfy
    # subsequent requests to caches." A shared cache never hands one user's cookie to another.
    sidecar = await make_sidecar()
    origin.route("/sc", headers=[("Cache-Control", "max-age=60"), ("Set-Cookie", "sid=alice"),
                                 ("Set-Cookie", "theme=dark")], body=b"page")
    origin.route("/sc-private", headers={"Cache-Control": 'max-age=60, private="set-cookie"',
                                         "Set-Cookie": "sid=bob"}, body=b"p")
    origin.route("/sc-nocache", headers={"Cache-Control": 'max-age=60, no-cache="Set-Cookie"',
                                         "Set-Cookie": "sid=carol"}, body=b"n")
    alice = await sidecar.get("/sc")
    assert alice.headers.getall("Set-Cookie") == ["sid=alice", "theme=dark"]
    other = await sidecar.get("/sc")
    assert (other.cache, other.body, other.headers.get("Set-Cookie")) == ("HIT", b"page", None)
    for path in ("/sc-private", "/sc-nocache"):
        first = await sidecar.get(path)
        assert "Set-Cookie" in first.headers
        hit = await sidecar.get(path)
        assert (hit.cache, hit.headers.get("Set-Cookie")) == ("HIT", None), path
    assert origin.count("/sc") == 1
    assert sidecar.edge.store.variants("/sc")[0].header("set-cookie") is None


def owner(request: web.Request, body: bytes) -> Script:
    who = request.headers.get("Authorization") or request.headers.get("Cookie") or "anon"
    return Script(200, {"Cache-Control": "max-age=600"}, who.encode())


async def test_a_cookie_is_not_a_credential_by_default(
    make_sidecar: SidecarFactory, origin: ScriptedOrigin
) -> None:
    sidecar = await make_sidecar()
    origin.route("/page", handler=owner)
    await sidecar.get("/page")
    with_cookie = await sidecar.get("/page", {"Cookie": "theme=dark; inventory_session=zzz"})
    assert (with_cookie.cache, with_cookie.body) == ("HIT", b"anon")  # an ordinary field
    origin.route("/varied", handler=lambda r, b: Script(
        200, {"Cache-Control": "max-age=600", "Vary": "Cookie"},
        (r.headers.get("Cookie") or "anon").encode()))
    a = await sidecar.get("/varied", {"Cookie": "theme=dark"})
    b = await sidecar.get("/varied", {"Cookie": "theme=light"})
    a2 = await sidecar.get("/varied", {"Cookie": "theme=dark"})
    assert (a.body, b.body, a2.body, a2.cache) == (b"theme=dark", b"theme=light", b"theme=dark",
                                                   "HIT")


async def test_credential_cookies_are_a_setting(
    make_sidecar: SidecarFactory, origin: ScriptedOrigin
) -> None:
    sidecar = await make_sidecar(CREDENTIAL_COOKIES="inventory_session, other_session")
    origin.route("/page", handler=owner)
    await sidecar.get("/page")
    assert (await sidecar.get("/page", {"Cookie": "theme=dark"})).cache == "HIT"
    mine = await sidecar.get("/page", {"Cookie": "theme=dark; inventory_session=zzz"})
    assert (mine.cache, mine.body) == ("MISS", b"theme=dark; inventory_session=zzz")
    again = await sidecar.get("/page", {"Cookie": "inventory_session=zzz"})
    assert again.cache == "MISS"  # §3.5: not stored, not reused for a credentialed request
    assert len(sidecar.edge.store.variants("/page")) == 1


def test_the_verified_session_cookie_is_a_credential_when_auth_is_on() -> None:
    base = {"EDGE_CACHE_ORIGIN": "http://127.0.0.1:9"}
    assert Settings.from_env(base).credential_cookie_names == frozenset()
    on = Settings.from_env({**base, "EDGE_CACHE_AUTH_REQUIRED": "on"})
    assert on.credential_cookie_names == frozenset({"inventory_session"})
    listed = Settings.from_env({**base, "EDGE_CACHE_CREDENTIAL_COOKIES": "a,b"})
    assert listed.credential_cookie_names == frozenset({"a", "b"})


def ranged(request: web.Request, body: bytes) -> Script:
    full = b"0123456789"
    rng = request.headers.get("Range")
    if rng == "bytes=2-5":
        return Script(206, {"Content-Range": "bytes 2-5/10", "Cache-Control": "max-age=60"},
                      full[2:6])
    return Script(200, {"Cache-Control": "max-age=60", "Accept-Ranges": "bytes"}, full)


async def test_range_requests_pass_through_and_206_is_not_stored(
    make_sidecar: SidecarFactory, origin: ScriptedOrigin
) -> None:
    sidecar = await make_sidecar()
    origin.route("/file", handler=ranged)
    part = await sidecar.get("/file", {"Range": "bytes=2-5"})
    assert (part.status, part.body, part.headers["Content-Range"]) == (206, b"2345",
                                                                       "bytes 2-5/10")
    assert origin.requests[-1].headers.get("Range") == "bytes=2-5"
    assert sidecar.edge.store.variants("/file") == []  # a part is never stored
    full = await sidecar.get("/file")
    assert (full.status, full.cache, full.body) == (200, "MISS", b"0123456789")
    assert (await sidecar.get("/file")).cache == "HIT"
    part2 = await sidecar.get("/file", {"Range": "bytes=2-5", "If-Range": '"x"'})
    assert (part2.status, part2.body) == (206, b"2345")  # the stored full body is not served
    assert origin.requests[-1].headers.get("If-Range") == '"x"'
    # a 206 the origin sends for a plain GET is passed on, never stored
    origin.route("/odd", status=206, headers={"Content-Range": "bytes 0-1/5",
                                              "Cache-Control": "max-age=60"}, body=b"01")
    odd = await sidecar.get("/odd")
    assert (odd.status, odd.body) == (206, b"01")
    assert (await sidecar.get("/odd")).cache == "MISS"
