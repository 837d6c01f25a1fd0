"""RFC 9111 §4.3.4 (freshening stored responses upon validation) and §3.2 (updating stored
header fields), from the RFC text.

§4.3.4: "If the new response contains one or more strong validators ..., then each of those
strong validators identifies a selected representation for update. ... If none of the initial
set contains at least one of the same strong validators, then the cache MUST NOT use the new
response to update any stored responses." / weak validators: "the most recent of those matching
stored responses is identified for update" / no validator: "there is only one stored response
in the initial set, and that stored response also lacks a validator".

§3.2: the cache "MUST add each header field in the provided response to the stored response,
replacing field values that are already present", except fields excepted from storage,
"Header fields that the cache's stored response depends upon", fields "automatically processed
and removed by the recipient" (e.g. Content-Range) "and the Content-Length header field".
"""

from __future__ import annotations

import pytest
from aiohttp import web
from edge_cache.entry import CachedResponse
from edge_cache.validation import select_for_update, updated_headers

from tests.support.origins import Script, ScriptedOrigin
from tests.support.sidecar_in_process import FakeClock, Sidecar


def stored(name: str, etag: str | None = None, lm: str | None = None, at: float = 0.0):  # type: ignore[no-untyped-def]
    headers = [("X-Name", name)]
    if etag:
        headers.append(("ETag", etag))
    if lm:
        headers.append(("Last-Modified", lm))
    entry = CachedResponse(
        key="/r", path="/r", vary=(), vary_values=(), status=200, headers=headers, body=b"",
        request_time=at, response_time=at, initial_age=0.0, lifetime=0.0,
    )
    entry.refresh_derived()
    return entry


LM = "Tue, 01 Dec 2026 00:00:00 GMT"
A = stored("a", etag='"a"', at=1)
B = stored("b", etag='"b"', at=2)
WA_OLD = stored("wa-old", etag='W/"w"', at=1)
WA_NEW = stored("wa-new", etag='W/"w"', at=5)
LM_ONLY = stored("lm", lm=LM, at=3)
BARE = stored("bare")


@pytest.mark.parametrize(
    ("initial", "etag", "lm", "chosen"),
    [
        ([A, B], '"a"', None, ["a"]),  # a strong validator selects the entries that have it
        ([A, B], '"c"', None, []),  # no stored entry has it: MUST NOT update any
        ([WA_OLD], '"w"', None, []),  # a strong ETag never matches a weak stored one
        ([A], 'W/"a"', None, ["a"]),  # weak comparison for a weak validator
        ([WA_OLD, WA_NEW], 'W/"w"', None, ["wa-new"]),  # the most recent of the matches
        ([LM_ONLY, A], None, LM, ["lm"]),  # Last-Modified is a weak validator
        ([LM_ONLY], None, "Mon, 30 Nov 2026 00:00:00 GMT", []),
        ([BARE], None, None, ["bare"]),  # no validator: only one, without a validator
        ([A], None, None, []),
        ([BARE, stored("bare2")], None, None, []),
    ],
)
def test_which_stored_responses_a_304_updates(
    initial: list[CachedResponse], etag: str | None, lm: str | None, chosen: list[str]
) -> None:
    picked = select_for_update(initial, etag, lm)
    assert [e.header("x-name") for e in picked] == chosen


def test_fields_a_304_does_not_replace() -> None:
    old = [("Content-Encoding", "gzip"), ("Content-Range", "bytes 0-1/2"),
           ("Content-MD5", "old=="), ("ETag", '"e"'), ("Content-Length", "2"),
           ("Cache-Control", "max-age=1"), ("X-Kept", "1")]
    new = [("Content-Encoding", "br"), ("Content-Range", "bytes 0-9/10"), ("Content-MD5", "new=="),
           ("ETag", 'W/"e"'), ("Content-Length", "0"), ("Cache-Control", "max-age=100"),
           ("Connection", "x-hop"), ("X-Hop", "h"), ("Keep-Alive", "timeout=5"),
           ("Proxy-Authenticate", "Basic"), ("Set-Cookie", "sid=1"), ("X-New", "2")]
    merged = dict(updated_headers(old, new))
    assert merged == {
        "Content-Encoding": "gzip", "Content-Range": "bytes 0-1/2", "Content-MD5": "new==",
        "ETag": '"e"', "Content-Length": "2", "Cache-Control": "max-age=100", "X-Kept": "1",
        "X-New": "2",
    }


async def test_304_keeps_the_fields_that_describe_the_stored_bytes(
    sidecar: Sidecar, origin: ScriptedOrigin, clock: FakeClock
) -> None:
    body = b"\x1f\x8b-pretend-gzip"
    origin.route("/enc", etag='"e1"', body=body, headers={
        "Cache-Control": "max-age=1", "Content-Encoding": "gzip", "Content-MD5": "old==",
        "X-Version": "1"})
    assert (await sidecar.get("/enc")).cache == "MISS"
    clock.advance(5)
    origin.route("/enc", etag='"e1"', body=b"unused", headers={
        "Cache-Control": "max-age=100", "Content-Encoding": "br", "Content-MD5": "new==",
        "Content-Range": "bytes 0-1/2", "X-Version": "2"})
    again = await sidecar.get("/enc")
    assert (again.cache, again.body) == ("REVALIDATED", body)
    assert origin.requests[-1].headers.get("If-None-Match") == '"e1"'
    for reply in (again, await sidecar.get("/enc")):
        assert reply.headers["Content-Encoding"] == "gzip"
        assert reply.headers["Content-MD5"] == "new=="  # §3.2: updated, as cache-tests expect
        assert "Content-Range" not in reply.headers
        assert reply.headers["X-Version"] == "2"  # other fields are updated
        assert reply.headers["ETag"] == '"e1"'
    assert (await sidecar.get("/enc")).cache == "HIT"  # the 304's max-age=100 applies


async def test_a_304_with_another_strong_etag_is_not_applied(
    sidecar: Sidecar, origin: ScriptedOrigin, clock: FakeClock
) -> None:
    origin.route("/tag", etag='"v1"', body=b"one",
                 headers={"Cache-Control": "max-age=1", "X-Version": "1"})
    await sidecar.get("/tag")
    clock.advance(5)

    def odd_origin(request: web.Request, body: bytes) -> Script:
        # answers every conditional with a 304 naming another representation
        if "If-None-Match" in request.headers:
            return Script(304, {"ETag": '"v2"', "Cache-Control": "max-age=100",
                                "X-Version": "from-304"})
        return Script(200, {"ETag": '"v2"', "Cache-Control": "max-age=100", "X-Version": "2"},
                      b"two")

    origin.route("/tag", handler=odd_origin)
    reply = await sidecar.get("/tag")
    # the 304 matched no stored response: asked again without validators, full answer
    assert (reply.status, reply.body, reply.headers["X-Version"]) == (200, b"two", "2")
    sent = [r.headers.get("If-None-Match") for r in origin.requests if r.target == "/tag"]
    assert sent == [None, '"v1"', None]
    hit = await sidecar.get("/tag")
    assert (hit.cache, hit.body, hit.headers["X-Version"], hit.headers["ETag"]) == (
        "HIT", b"two", "2", '"v2"')
    assert len(sidecar.edge.store.variants("/tag")) == 1


async def test_set_cookie_on_a_304_goes_to_the_requester_only(
    sidecar: Sidecar, origin: ScriptedOrigin, clock: FakeClock
) -> None:
    origin.route("/sc304", etag='"s"', body=b"page", headers={"Cache-Control": "max-age=1"})
    await sidecar.get("/sc304")
    clock.advance(5)
    origin.route("/sc304", etag='"s"', body=b"page",
                 headers={"Cache-Control": "max-age=100", "Set-Cookie": "sid=alice"})
    mine = await sidecar.get("/sc304")
    assert (mine.cache, mine.headers.get("Set-Cookie")) == ("REVALIDATED", "sid=alice")
    other = await sidecar.get("/sc304")
    assert (other.cache, other.headers.get("Set-Cookie")) == ("HIT", None)
