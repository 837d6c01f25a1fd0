"""Kept request heads (`edge_cache.heads`): the HTTP server answers bytes it has parsed before
without parsing them again, and only when that is the same as parsing them.

Over real sockets: repeated heads on a kept-alive connection are reused; heads that arrive in
pieces, pipelined, with a body, or as the body of another request are parsed as always; the
full path gets a copy of a kept request. `HeadMemo` itself is table-tested without sockets.
"""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator

import pytest
from edge_cache.heads import SEEN_LIMIT, HeadMemo
from edge_cache.logs import AccessLog
from edge_cache.messages import Request
from edge_cache.server import Connection, HttpServer

from tests.support.origins import ScriptedOrigin
from tests.support.sidecar_in_process import FakeClock, Sidecar, SidecarFactory
from tests.support.waiting import wait_until

HEADERS = {"Cache-Control": "max-age=600"}
GET_HOT = b"GET /hot HTTP/1.1\r\nHost: shop\r\nAccept: */*\r\n\r\n"


class RawClient:
    """One kept-alive connection that writes bytes as given and reads whole answers."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def connect(cls, port: int) -> RawClient:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def answer(self, head_only: bool = False) -> tuple[int, dict[str, str], bytes]:
        """One answer; `head_only` for a HEAD request's (Content-Length, no body)."""
        head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), 10)
        while head.startswith(b"HTTP/1.1 100 "):  # an interim answer: the final one follows
            head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), 10)
        lines = head.decode("latin-1").split("\r\n")
        fields = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                fields[name.lower()] = value.strip()
        length = 0 if head_only else int(fields.get("content-length", "0"))
        body = await asyncio.wait_for(self.reader.readexactly(length), 10) if length else b""
        return int(lines[0].split()[1]), fields, body

    async def exchange(self, data: bytes) -> tuple[int, dict[str, str], bytes]:
        await self.send(data)
        return await self.answer(head_only=data.startswith(b"HEAD "))

    async def nothing_more(self, seconds: float = 0.3) -> bool:
        """True if the server sends nothing within `seconds` (a bounded wait for silence)."""
        try:
            extra = await asyncio.wait_for(self.reader.read(1), seconds)
        except TimeoutError:
            return True
        return extra == b""

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


@pytest.fixture
async def client(sidecar: Sidecar) -> AsyncIterator[RawClient]:
    c = await RawClient.connect(sidecar.server.port)
    yield c
    await c.close()


def _connection(sidecar: Sidecar) -> Connection:
    """The server side of the test's one raw connection."""
    (conn,) = [c for c in sidecar.server.connections if c.transport is not None]
    return conn


async def test_repeated_head_is_parsed_once(
    sidecar: Sidecar, origin: ScriptedOrigin, client: RawClient
) -> None:
    origin.route("/hot", headers=HEADERS, body=b"h" * 900)
    heads = sidecar.server.heads
    first = await client.exchange(GET_HOT)
    assert first[1]["x-edge-cache"] == "MISS" and first[2] == b"h" * 900
    assert heads.get(GET_HOT) is None  # parsed once: only noted
    second = await client.exchange(GET_HOT)
    assert second[1]["x-edge-cache"] == "HIT"
    assert heads.get(GET_HOT) is not None  # kept after its second parse
    reused = heads.reused
    hits = sidecar.edge.metrics.fast_hits
    for _ in range(5):
        status, fields, body = await client.exchange(GET_HOT)
        assert (status, fields["x-edge-cache"], body) == (200, "HIT", b"h" * 900)
    assert heads.reused == reused + 5
    assert sidecar.edge.metrics.fast_hits == hits + 5
    assert origin.count("/hot") == 1
    head = b"HEAD /hot HTTP/1.1\r\nHost: shop\r\nAccept: */*\r\n\r\n"
    for _ in range(3):
        status, fields, body = await client.exchange(head)
        assert (status, fields["content-length"], body) == (200, "900", b"")
    assert heads.reused == reused + 6  # the third HEAD


async def test_pipelined_heads_are_answered_in_order_and_not_kept_together(
    sidecar: Sidecar, origin: ScriptedOrigin, client: RawClient
) -> None:
    origin.route("/hot", headers=HEADERS, body=b"one")
    origin.route("/other", headers=HEADERS, body=b"two")
    await client.exchange(GET_HOT)
    await client.exchange(GET_HOT)  # a kept head now
    other = b"GET /other HTTP/1.1\r\nHost: shop\r\nAccept: */*\r\n\r\n"
    both = GET_HOT + other
    for _ in range(3):  # never kept, not even after a second sighting
        await client.send(both)
        assert (await client.answer())[2] == b"one"
        assert (await client.answer())[2] == b"two"
        assert sidecar.server.heads.get(both) is None
    assert await client.nothing_more()


async def test_a_head_followed_by_a_begun_request_is_not_kept(
    sidecar: Sidecar, origin: ScriptedOrigin, client: RawClient
) -> None:
    """A read with a whole GET and the head of a POST whose body is still to come ends with
    the empty line, like a head alone; it is not kept as the GET's."""
    origin.route("/hot", headers=HEADERS, body=b"hot")
    origin.route("/notes", method="POST", status=201, body=b"stored")
    await client.exchange(GET_HOT)
    post_head = b"POST /notes HTTP/1.1\r\nHost: shop\r\nContent-Length: 4\r\n\r\n"
    for _ in range(2):  # twice: a second sighting would keep it
        await client.send(GET_HOT + post_head)
        assert (await client.answer())[2] == b"hot"
        assert not _connection(sidecar).at_boundary  # the POST's body is awaited
        assert sidecar.server.heads.get(GET_HOT + post_head) is None
        status, _, body = await client.exchange(b"ok\r\n")  # ends with CRLF: a boundary again
        assert (status, body) == (201, b"stored")
        assert _connection(sidecar).at_boundary
    assert [r.body for r in origin.requests if r.method == "POST"] == [b"ok\r\n", b"ok\r\n"]


async def test_a_head_in_pieces_is_not_kept_by_its_last_piece(
    sidecar: Sidecar, origin: ScriptedOrigin, client: RawClient
) -> None:
    origin.route("/hot", headers=HEADERS, body=b"hot")
    await client.exchange(GET_HOT)  # noted
    split = GET_HOT.index(b"Accept")
    await client.send(GET_HOT[:split])
    await wait_until(lambda: not _connection(sidecar).at_boundary, 10)
    await client.send(GET_HOT[split:])
    assert (await client.answer())[2] == b"hot"
    assert sidecar.server.heads.get(GET_HOT[split:]) is None
    assert _connection(sidecar).at_boundary  # the message ended: kept heads may answer again
    assert sidecar.server.heads.get(GET_HOT) is None  # the pieces did not count as a sighting
    reused = sidecar.server.heads.reused
    for _ in range(2):  # the second sighting keeps it, the third reuses it
        assert (await client.exchange(GET_HOT))[2] == b"hot"
    assert sidecar.server.heads.reused == reused + 1


async def test_a_kept_head_sent_as_a_body_is_a_body(
    sidecar: Sidecar, origin: ScriptedOrigin, client: RawClient
) -> None:
    """Bytes equal to a kept head, read while a request's body is awaited, are that body: one
    answer (the POST's), no hit smuggled in."""
    origin.route("/hot", headers=HEADERS, body=b"hot")
    origin.route("/notes", method="POST", status=201, body=b"stored")
    await client.exchange(GET_HOT)
    await client.exchange(GET_HOT)
    assert sidecar.server.heads.get(GET_HOT) is not None
    post_head = (
        b"POST /notes HTTP/1.1\r\nHost: shop\r\nContent-Type: text/plain\r\n"
        b"Content-Length: %d\r\n\r\n" % len(GET_HOT)
    )
    await client.send(post_head)
    await wait_until(lambda: not _connection(sidecar).at_boundary, 10)
    reused = sidecar.server.heads.reused
    await client.send(GET_HOT)  # the body, in a read of its own
    status, _, body = await client.answer()
    assert (status, body) == (201, b"stored")
    assert [r.body for r in origin.requests if r.method == "POST"] == [GET_HOT]
    assert sidecar.server.heads.reused == reused
    assert await client.nothing_more()


async def test_heads_that_must_not_be_kept(
    sidecar: Sidecar, origin: ScriptedOrigin, client: RawClient
) -> None:
    origin.route("/hot", headers=HEADERS, body=b"hot")
    await client.exchange(GET_HOT)
    heads = sidecar.server.heads
    not_kept = [
        b"GET /hot HTTP/1.1\r\nHost: shop\r\nConnection: keep-alive\r\n\r\n",
        b"GET /hot HTTP/1.1\r\nHost: shop\r\nExpect: 100-continue\r\n\r\n",
        b"GET /_edge/status HTTP/1.1\r\nHost: shop\r\n\r\n",
        b"GET /hot HTTP/1.1\r\nHost: shop\r\nContent-Length: 2\r\n\r\nab",
    ]
    for data in not_kept:
        status, _, _ = await client.exchange(data)
        assert status == 200, data
        assert heads.get(data) is None, data
    http10 = await RawClient.connect(sidecar.server.port)
    try:
        data = b"GET /hot HTTP/1.0\r\nHost: shop\r\n\r\n"
        status, _, _ = await http10.exchange(data)
        assert status == 200 and heads.get(data) is None
    finally:
        await http10.close()


async def test_a_kept_head_on_the_full_path_gets_a_copy(
    sidecar: Sidecar, origin: ScriptedOrigin, clock: FakeClock, client: RawClient
) -> None:
    origin.route("/hot", headers=HEADERS, body=b"hot")
    await client.exchange(GET_HOT)
    await client.exchange(GET_HOT)
    kept = sidecar.server.heads.get(GET_HOT)
    assert kept is not None
    snapshot = (kept.request.method, kept.request.target, list(kept.request.headers))
    fields = dict(kept.fields)
    clock.advance(601)  # stale: the full path fetches again
    reused = sidecar.server.heads.reused
    status, fields_seen, body = await client.exchange(GET_HOT)
    assert status == 200 and fields_seen["x-edge-cache"] != "HIT" and body == b"hot"
    assert sidecar.server.heads.reused == reused + 1
    assert origin.count("/hot") == 2  # the first GET and the one after the clock moved
    assert (kept.request.method, kept.request.target, list(kept.request.headers)) == snapshot
    assert kept.fields == fields


async def test_credentialed_kept_head_keeps_its_fields(
    make_sidecar: SidecarFactory, origin: ScriptedOrigin
) -> None:
    """The fast path names a credential for a Vary match in a copy of the fields, never in
    the kept ones (a later request with the same bytes would see it)."""
    sidecar = await make_sidecar()
    origin.route("/shared", headers={"Cache-Control": "public, max-age=600"}, body=b"shared")
    c = await RawClient.connect(sidecar.server.port)
    try:
        data = b"GET /shared HTTP/1.1\r\nHost: shop\r\nAuthorization: Bearer t1\r\n\r\n"
        for _ in range(3):
            assert (await c.exchange(data))[2] == b"shared"
        kept = sidecar.server.heads.get(data)
        assert kept is not None
        assert set(kept.fields) == {"host", "authorization"}
    finally:
        await c.close()


async def test_kept_heads_are_in_the_request_log(sidecar: Sidecar, origin: ScriptedOrigin) -> None:
    origin.route("/hot", headers=HEADERS, body=b"hot")
    stream = io.StringIO()
    log = AccessLog(stream=stream)
    server = HttpServer(sidecar.edge, log)
    await server.start("127.0.0.1", 0)
    c = await RawClient.connect(server.port)
    try:
        for _ in range(4):
            assert (await c.exchange(GET_HOT))[0] == 200
        assert server.heads.reused == 2  # the first two were parsed (noted, then kept)
    finally:
        await c.close()
        await server.shutdown(grace=1.0)
    log.flush()
    lines = [json.loads(x) for x in stream.getvalue().splitlines()]
    assert [line["cache"] for line in lines] == ["MISS", "HIT", "HIT", "HIT"]


# -- HeadMemo without sockets ------------------------------------------------------------------


def _request(target: str = "/a") -> Request:
    return Request("GET", target, [("Host", "x")], b"")


def test_memo_keeps_copies_and_only_whole_small_heads() -> None:
    memo = HeadMemo(capacity=2, max_head_bytes=64)
    raw = b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n"
    request, fields = _request(), {"host": "x"}
    memo.remember(raw, request, fields)
    assert memo.get(raw) is None  # a first sighting is only noted
    memo.remember(raw, request, fields)
    kept = memo.get(raw)
    assert kept is not None and kept.request is not request and kept.fields is not fields
    request.headers.append(("X-Late", "1"))
    fields["x-late"] = "1"
    assert kept.request.headers == [("Host", "x")] and kept.fields == {"host": "x"}
    copy = kept.fresh_request()
    copy.headers.append(("X-Mine", "1"))
    assert kept.request.headers == [("Host", "x")]
    assert not memo.fits(b"GET /a HTTP/1.1\r\nHost: x\r\n")  # not a whole head
    assert not memo.fits(b"GET /" + b"a" * 64 + b" HTTP/1.1\r\n\r\n")  # too large
    assert not memo.fits(b"")
    for _ in range(2):
        memo.remember(b"GET /b HTTP/1.1\r\n\r\n", Request("GET", "/b", [], b"body"), {})
    assert memo.get(b"GET /b HTTP/1.1\r\n\r\n") is None  # a body is never kept


def test_memo_forgets_the_oldest_beyond_capacity() -> None:
    memo = HeadMemo(capacity=2)
    raws = [b"GET /%d HTTP/1.1\r\n\r\n" % i for i in range(3)]
    for i, raw in enumerate(raws):
        for _ in range(2):
            memo.remember(raw, _request(f"/{i}"), {})
    assert len(memo) == 2
    assert memo.get(raws[0]) is None
    assert [memo.get(r).request.target for r in raws[1:]] == ["/1", "/2"]  # type: ignore[union-attr]
    off = HeadMemo(capacity=0)
    for _ in range(2):
        off.remember(raws[0], _request(), {})
    assert off.get(raws[0]) is None
    with pytest.raises(ValueError):
        HeadMemo(capacity=-1)


def test_heads_that_never_repeat_are_not_kept_and_push_nothing_out() -> None:
    memo = HeadMemo(capacity=4)
    hot = b"GET /hot HTTP/1.1\r\n\r\n"
    for _ in range(2):
        memo.remember(hot, _request("/hot"), {})
    for i in range(3 * SEEN_LIMIT):  # a header that changes on every request
        raw = b"GET /hot HTTP/1.1\r\nX-Req: %d\r\n\r\n" % i
        memo.remember(raw, _request("/hot"), {})
        assert memo.get(raw) is None
    assert len(memo) == 1 and memo.get(hot) is not None
    assert len(memo._seen) <= SEEN_LIMIT  # the first sightings stay bounded
