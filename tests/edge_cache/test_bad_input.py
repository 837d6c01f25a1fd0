"""Bad input over raw sockets: malformed requests, huge headers, oversized bodies, pipelining,
and an origin that sends broken responses. Clear 4xx/502, no crash, no corrupt store."""

from __future__ import annotations

import asyncio
import sqlite3

from tests.support.origins import ScriptedOrigin
from tests.support.sidecar_in_process import Sidecar, SidecarFactory

Raw = tuple[int, dict[str, str], bytes]


async def read_response(reader: asyncio.StreamReader, head: bool = False) -> Raw:
    status_line = await asyncio.wait_for(reader.readline(), 10)
    assert status_line, "connection closed without a response"
    status = int(status_line.split()[1])
    headers: dict[str, str] = {}
    while True:
        line = await asyncio.wait_for(reader.readline(), 10)
        if line in (b"\r\n", b""):
            break
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    length = 0 if head or status in (204, 304) else int(headers.get("content-length", "0"))
    body = await asyncio.wait_for(reader.readexactly(length), 10) if length else b""
    return status, headers, body


async def exchange(sidecar: Sidecar, data: bytes, count: int = 1) -> list[Raw]:
    reader, writer = await asyncio.open_connection("127.0.0.1", sidecar.server.port)
    try:
        writer.write(data)
        await writer.drain()
        return [await read_response(reader) for _ in range(count)]
    finally:
        writer.close()


async def closed_after(sidecar: Sidecar, data: bytes) -> tuple[Raw, bool]:
    reader, writer = await asyncio.open_connection("127.0.0.1", sidecar.server.port)
    try:
        writer.write(data)
        await writer.drain()
        response = await read_response(reader)
        rest = await asyncio.wait_for(reader.read(), 10)
        return response, rest == b""
    finally:
        writer.close()


async def test_malformed_request_line(sidecar: Sidecar) -> None:
    (status, _, _), closed = await closed_after(sidecar, b"THIS IS NOT HTTP\r\n\r\n")
    assert status == 400 and closed


async def test_invalid_header_syntax(sidecar: Sidecar) -> None:
    (status, _, _), closed = await closed_after(
        sidecar, b"GET / HTTP/1.1\r\nHost: x\r\nBad Header Without Colon\r\n\r\n"
    )
    assert status == 400 and closed


async def test_invalid_target(sidecar: Sidecar) -> None:
    (status, _, _), _closed = await closed_after(sidecar, b"GET * HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status == 400


async def test_huge_headers_get_431(make_sidecar: SidecarFactory) -> None:
    sidecar = await make_sidecar(MAX_HEADER_BYTES="4096")
    big = b"X-Big: " + b"a" * 8000 + b"\r\n"
    (status, _, _), closed = await closed_after(
        sidecar, b"GET / HTTP/1.1\r\nHost: x\r\n" + big + b"\r\n"
    )
    assert status == 431 and closed
    many = b"".join(b"X-H%d: v\r\n" % i for i in range(1000))
    request = b"GET / HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n"
    (status, _, _), _ = await closed_after(sidecar, request)
    assert status == 431


async def test_body_over_limit_gets_413(
    make_sidecar: SidecarFactory, origin: ScriptedOrigin
) -> None:
    sidecar = await make_sidecar(MAX_BODY_BYTES="1000")
    (status, _, _), closed = await closed_after(
        sidecar, b"POST /w HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n"
    )
    assert status == 413 and closed
    chunk = b"%x\r\n%s\r\n" % (800, b"c" * 800)
    (status, _, _), closed = await closed_after(
        sidecar,
        b"POST /w HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk * 3
        + b"0\r\n\r\n",
    )
    assert status == 413 and closed
    assert origin.count("/w") == 0


async def test_chunked_body_within_limit_is_forwarded(
    sidecar: Sidecar, origin: ScriptedOrigin
) -> None:
    body = b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"
    [(status, headers, payload)] = await exchange(
        sidecar,
        b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + body,
    )
    assert status == 201
    assert payload == b"hello world"
    assert headers["x-edge-cache"] == "BYPASS"


async def test_invalid_content_length(sidecar: Sidecar) -> None:
    (status, _, _), closed = await closed_after(
        sidecar, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n"
    )
    assert status == 400 and closed


async def test_pipelined_requests_answer_in_order(
    sidecar: Sidecar, origin: ScriptedOrigin
) -> None:
    origin.route("/slow", headers={"Cache-Control": "max-age=60"}, body=b"slow", delay=0.2)
    origin.route("/fast", headers={"Cache-Control": "max-age=60"}, body=b"fast")
    await sidecar.get("/fast")  # a hit: answered without a task
    data = (
        b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n"
        b"GET /fast HTTP/1.1\r\nHost: x\r\n\r\n"
        b"GET /other HTTP/1.1\r\nHost: x\r\n\r\n"
        b"GET /fast HTTP/1.1\r\nHost: x\r\n\r\n"
    )
    replies = await exchange(sidecar, data, count=4)
    assert [r[2] for r in replies] == [b"slow", b"fast", b"path /other", b"fast"]
    assert [r[1]["x-edge-cache"] for r in replies] == ["MISS", "HIT", "MISS", "HIT"]


async def test_keep_alive_and_http10_close(sidecar: Sidecar) -> None:
    replies = await exchange(
        sidecar,
        b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /a HTTP/1.1\r\nHost: x\r\n\r\n",
        count=2,
    )
    assert [r[0] for r in replies] == [200, 200]
    (status, headers, _), closed = await closed_after(sidecar, b"GET /a HTTP/1.0\r\n\r\n")
    assert status == 200 and closed
    assert headers.get("connection") == "close"
    (status, headers, _), closed = await closed_after(
        sidecar, b"GET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    assert status == 200 and closed


async def test_expect_100_continue(sidecar: Sidecar) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", sidecar.server.port)
    try:
        writer.write(
            b"POST /e HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n"
        )
        await writer.drain()
        interim = await asyncio.wait_for(reader.readline(), 10)
        assert interim.startswith(b"HTTP/1.1 100")
        await reader.readline()
        writer.write(b"abc")
        status, _, body = await read_response(reader)
        assert (status, body) == (201, b"abc")
    finally:
        writer.close()


async def test_absolute_form_target(sidecar: Sidecar, origin: ScriptedOrigin) -> None:
    [(status, _, body)] = await exchange(
        sidecar, b"GET http://edge.example/abs?q=1 HTTP/1.1\r\nHost: edge.example\r\n\r\n"
    )
    assert (status, body) == (200, b"path /abs?q=1")


async def test_broken_origin_gives_502_and_keeps_the_store(
    sidecar: Sidecar, origin: ScriptedOrigin
) -> None:
    origin.route("/ok", headers={"Cache-Control": "max-age=60"}, body=b"ok")
    await sidecar.get("/ok")
    await origin.set_mode("broken")
    bad = await sidecar.get("/broken")
    assert bad.status == 502
    assert bad.headers["Content-Type"] == "application/problem+json"
    assert bad.cache == "MISS"
    write = await sidecar.request("POST", "/broken", body=b"x")
    assert write.status == 502
    assert (await sidecar.get("/ok")).cache == "HIT"
    await origin.set_mode("ok")
    assert (await sidecar.get("/broken")).status == 200
    sidecar.edge.store.flush()
    check = sqlite3.connect(sidecar.edge.settings.cache_db)
    assert check.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    check.close()


async def test_odd_client_cache_control_is_harmless(
    sidecar: Sidecar, origin: ScriptedOrigin
) -> None:
    await sidecar.get("/a")
    for value in ("max-age=abc", "max-stale=-1", '"', ",,,", "min-fresh=99999999999999999999"):
        reply = await sidecar.get("/a", {"Cache-Control": value})
        assert reply.status == 200, value


async def test_server_survives_garbage_then_serves(sidecar: Sidecar) -> None:
    for junk in (b"\x00\x01\x02\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n", b"GET /\x7f HTTP/1.1\r\n\r\n"):
        reader, writer = await asyncio.open_connection("127.0.0.1", sidecar.server.port)
        writer.write(junk)
        await writer.drain()
        await asyncio.wait_for(reader.read(), 10)
        writer.close()
    assert (await sidecar.get("/still")).status == 200
    # Blank lines before a request are tolerated (RFC 9112 §2.2).
    [(status, _, _)] = await exchange(sidecar, b"\r\n\r\nGET /still HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status == 200


async def test_client_disconnect_mid_request(sidecar: Sidecar, origin: ScriptedOrigin) -> None:
    origin.route("/slowish", headers={"Cache-Control": "max-age=60"}, delay=0.2)
    _reader, writer = await asyncio.open_connection("127.0.0.1", sidecar.server.port)
    writer.write(b"GET /slowish HTTP/1.1\r\nHost: x\r\n\r\n")
    await writer.drain()
    writer.close()
    # The fetch goes on without the client and fills the cache.
    for _ in range(500):
        if sidecar.edge.store.stats()["entries"]:
            break
        await asyncio.sleep(0.02)
    assert (await sidecar.get("/slowish")).cache == "HIT"


async def test_silent_connections_are_closed(sidecar: Sidecar) -> None:
    sidecar.server.idle_timeout = 0.3
    reader, writer = await asyncio.open_connection("127.0.0.1", sidecar.server.port)
    try:
        writer.write(b"GET /a HTTP/1.1\r\nHost: x\r\n")  # a request that never finishes
        await writer.drain()
        assert await asyncio.wait_for(reader.read(), 15) == b""
    finally:
        writer.close()
    assert (await sidecar.get("/a")).status == 200


async def test_http10_keep_alive_is_confirmed(sidecar: Sidecar) -> None:
    await sidecar.get("/k")
    request = b"GET /k HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
    replies = await exchange(sidecar, request * 2, count=2)
    assert [r[1].get("connection") for r in replies] == ["keep-alive", "keep-alive"]
    assert [r[1]["x-edge-cache"] for r in replies] == ["HIT", "HIT"]
