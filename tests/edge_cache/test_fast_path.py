"""The task-free hit path of the HTTP server (`Proxy.fast_hit`) over real sockets: it
answers like the full path does for the same stored entry, counts in /metrics, and writes the
entry's own status to the request log."""

from __future__ import annotations

import asyncio
import io
import json

from edge_cache.logs import AccessLog
from edge_cache.server import HttpServer

from tests.support.origins import ScriptedOrigin
from tests.support.sidecar_in_process import FakeClock, Reply, Sidecar

HEADERS = {"Cache-Control": "max-age=600", "X-Kind": "doc"}
# fields that differ between two answers of the same entry by design
VOLATILE = {"date", "age"}


async def raw_exchange(port: int, data: bytes) -> tuple[int, dict[str, str], bytes]:
    """One request on a fresh connection, read to EOF (the request asks to close)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        raw = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    fields = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        assert name.lower() not in fields, f"{name} sent twice"
        fields[name.lower()] = value.strip()
    return int(lines[0].split()[1]), fields, body


async def test_fast_hit_answers_like_the_full_path(
    sidecar: Sidecar, origin: ScriptedOrigin
) -> None:
    origin.route("/doc", headers=HEADERS, body=b"d" * 1500)
    assert (await sidecar.get("/doc")).cache == "MISS"
    port = sidecar.server.port
    metrics = sidecar.edge.metrics
    before = metrics.fast_hits
    fast = await raw_exchange(port, b"GET /doc HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert metrics.fast_hits == before + 1  # answered by the fast path
    # a request directive sends the same request down the full path (decision core)
    full = await raw_exchange(
        port,
        b"GET /doc HTTP/1.1\r\nHost: x\r\nCache-Control: max-age=600\r\n"
        b"Connection: close\r\n\r\n",
    )
    assert metrics.fast_hits == before + 1
    assert fast[0] == full[0] == 200
    assert fast[2] == full[2] == b"d" * 1500
    assert {k: v for k, v in fast[1].items() if k not in VOLATILE} == {
        k: v for k, v in full[1].items() if k not in VOLATILE
    }
    assert fast[1]["x-edge-cache"] == "HIT" and fast[1]["connection"] == "close"
    assert fast[1]["content-length"] == "1500" and "age" in fast[1] and "date" in fast[1]
    head = await raw_exchange(port, b"HEAD /doc HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert metrics.fast_hits == before + 2
    assert head[0] == 200 and head[2] == b""
    assert head[1]["content-length"] == "1500"


async def test_fast_hits_are_counted_in_metrics(sidecar: Sidecar, origin: ScriptedOrigin) -> None:
    origin.route("/m", headers=HEADERS, body=b"m")
    await sidecar.get("/m")  # MISS
    expected = 0.0
    for hits in (3, 2):  # counted between two reads of /metrics, twice
        for _ in range(hits):
            assert (await sidecar.get("/m")).cache == "HIT"
        expected += hits
        assert sidecar.edge.metrics.fast_hits == hits  # all by the fast path
        assert _hits(await sidecar.get("/metrics")) == expected
        assert sidecar.edge.metrics.fast_hits == 0  # folded into the counter by the read


def _hits(reply: Reply) -> float:
    """requests_total{cache_status="HIT"} in a /metrics answer."""
    prefix = 'edge_requests_total{cache_status="HIT"}'
    line = next(x for x in reply.body.decode().splitlines() if x.startswith(prefix))
    return float(line.split()[-1])


async def test_fast_hit_log_line_has_the_stored_status(
    sidecar: Sidecar, origin: ScriptedOrigin
) -> None:
    origin.route("/gone", status=404, headers={"Cache-Control": "max-age=600"}, body=b"nope")
    target = "/gone?token=s3cret"
    assert (await sidecar.get(target)).status == 404  # stored (explicit freshness)
    stream = io.StringIO()
    log = AccessLog(stream=stream)
    server = HttpServer(sidecar.edge, log)
    await server.start("127.0.0.1", 0)
    try:
        before = sidecar.edge.metrics.fast_hits
        status, fields, body = await raw_exchange(
            server.port, f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode()
        )
        assert (status, body, fields["x-edge-cache"]) == (404, b"nope", "HIT")
        assert sidecar.edge.metrics.fast_hits == before + 1
    finally:
        await server.shutdown(grace=1.0)
    log.flush()
    lines = [json.loads(x) for x in stream.getvalue().splitlines()]
    assert len(lines) == 1
    line = lines[0]
    assert (line["status"], line["cache"], line["bytes"]) == (404, "HIT", 4)
    assert line["target"] == "/gone?token=REDACTED"
    assert line["ms"] >= 0


async def test_fast_hit_head_follows_age_and_the_connection(
    sidecar: Sidecar, origin: ScriptedOrigin, clock: FakeClock
) -> None:
    """The head the fast path keeps for an entry is sent again only for the same Age, outbox
    depth and end of head (keep-alive or close)."""
    origin.route("/h", headers=HEADERS, body=b"h")
    await sidecar.get("/h")  # MISS at the fake clock's time
    port = sidecar.server.port
    close = b"GET /h HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    assert (await raw_exchange(port, close))[1]["age"] == "0"
    keep = (await sidecar.get("/h")).headers  # same Age, kept alive
    assert keep["Age"] == "0" and keep.get("Connection", "keep-alive") != "close"
    again = (await raw_exchange(port, close))[1]
    assert (again["age"], again["connection"]) == ("0", "close")
    clock.advance(7)
    assert (await raw_exchange(port, close))[1]["age"] == "7"
    assert (await sidecar.get("/h")).age == 7
    clock.advance(600)  # stale now: the full path answers, not a kept head
    assert (await sidecar.get("/h")).cache != "HIT"
