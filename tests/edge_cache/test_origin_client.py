"""The one origin client (edge_cache.origin_client), on real loopback sockets.

What a failure means: refused, reset or timed out before a status line is a transport failure
(the origin may be down); any HTTP answer, whatever its status, means the origin is up, and an
answer that is malformed or breaks off is `broken`. And the wiring hands one client to every
part: the proxy and the replayer share its pool (seen as one TCP connection at the origin).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from edge_cache.origin_client import OriginClient, OriginError

from tests.support.origins import Script, ScriptedOrigin
from tests.support.sidecar_in_process import SidecarFactory
from tests.support.waiting import wait_until

SECRET = "s3cret-value"


@pytest.fixture
async def client(origin: ScriptedOrigin) -> AsyncIterator[OriginClient]:
    async with OriginClient(origin.url, timeout=5.0) as c:
        yield c


async def failure(client: OriginClient, method: str, target: str,
                  deadline: float | None = None) -> OriginError:
    with pytest.raises(OriginError) as caught:
        await client.send(method, target, [], b"x" if method == "POST" else b"",
                          deadline=deadline)
    error = caught.value
    assert SECRET not in str(error)  # a query string's credential never reaches a log line
    return error


def drop_before_status_line(request: web.Request, _body: bytes) -> Script:
    if request.transport is not None:
        request.transport.abort()
    return Script()  # never reaches the client


def cut_after_status_line(request: web.Request, _body: bytes) -> Script:
    if request.transport is not None:
        request.transport.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten b")
        request.transport.close()
    return Script()  # never reaches the client


async def test_any_http_status_is_an_answer(origin: ScriptedOrigin, client: OriginClient) -> None:
    for status in (200, 404, 500, 502, 503, 504):
        origin.route(f"/s{status}", status=status, body=b"from the origin")
        resp = await client.send("GET", f"/s{status}", [])
        assert (resp.status, resp.body) == (status, b"from the origin")


async def test_refused_is_a_definitive_transport_failure(
    origin: ScriptedOrigin, client: OriginClient
) -> None:
    await origin.set_mode("refuse")
    error = await failure(client, "GET", f"/x?token={SECRET}")
    assert (error.kind, error.transport, error.definitive) == ("connect", True, True)
    probed = await failure_probe(client)
    assert probed.kind == "connect"


async def failure_probe(client: OriginClient) -> OriginError:
    with pytest.raises(OriginError) as caught:
        await client.probe("/healthz", deadline=0.5)
    return caught.value


async def test_no_status_line_in_time_is_a_timeout(
    origin: ScriptedOrigin, client: OriginClient
) -> None:
    await origin.set_mode("blackhole")
    error = await failure(client, "GET", f"/x?token={SECRET}", deadline=0.3)
    assert (error.kind, error.transport, error.definitive) == ("timeout", True, False)
    assert "token=REDACTED" in error.detail
    assert (await failure_probe(client)).kind == "timeout"


@pytest.mark.parametrize("method", ["GET", "POST"])  # GET is retried once, POST never
async def test_dropped_before_the_status_line_is_a_reset(
    origin: ScriptedOrigin, client: OriginClient, method: str
) -> None:
    origin.route("/drop", method=method, handler=drop_before_status_line)
    error = await failure(client, method, f"/drop?token={SECRET}")
    assert (error.kind, error.transport, error.definitive) == ("reset", True, True)
    assert origin.count("/drop", method) == (2 if method == "GET" else 1)


async def test_a_malformed_or_cut_answer_is_broken_not_an_outage(
    origin: ScriptedOrigin, client: OriginClient
) -> None:
    origin.route("/cut", handler=cut_after_status_line)
    cut = await failure(client, "GET", f"/cut?token={SECRET}")
    assert (cut.kind, cut.transport) == ("broken", False)
    await origin.set_mode("broken")  # "HTTP/1.1 2x0 Bogus"
    malformed = await failure(client, "GET", f"/m?token={SECRET}")
    assert (malformed.kind, malformed.transport) == ("broken", False)


async def test_the_proxy_and_the_replayer_share_one_client(
    make_sidecar: SidecarFactory, origin: ScriptedOrigin
) -> None:
    # A pool of one connection: requests that share the client take turns on it, so the origin
    # sees a read sent during a replay arrive after the replay's answer, on the same client
    # port. A second client would send both at once, over two connections.
    events: list[tuple[str, object]] = []

    async def recorded(request: web.Request, body: bytes) -> Script:
        peer = request.transport.get_extra_info("peername") if request.transport else None
        events.append((f"{request.method} {request.path}", peer))
        if request.method == "POST":
            await asyncio.sleep(0.5)  # the replay is in flight for a while
            events.append(("POST answered", peer))
            return Script(201, {"Content-Type": "application/json"}, body)
        return Script(200, {"Cache-Control": "no-store"}, b"page")

    for path in ("/page", "/again"):
        origin.route(path, handler=recorded)
    origin.route("/api/orders", method="POST", handler=recorded)
    sidecar = await make_sidecar(
        health=True, outbox=True, ORIGIN_CONNECTIONS="1", PROBE_INTERVAL="0.2",
        PROBE_TIMEOUT="2",
    )
    edge = sidecar.edge
    assert edge.replayer is not None
    parts = (edge.proxy.origin, edge.replayer.origin, getattr(edge.health, "origin", None),
             getattr(edge.auth, "origin", None))
    assert all(part is edge.origin for part in parts)

    assert (await sidecar.get("/page")).status == 200
    await origin.set_mode("refuse")
    await wait_until(lambda: not edge.health.is_online(), 30.0)
    queued = await sidecar.request("POST", "/api/orders", body=b'{"n": 1}')
    assert (queued.status, queued.cache) == (202, "QUEUED")
    await origin.set_mode("ok")
    await wait_until(lambda: any(name == "POST /api/orders" for name, _ in events), 30.0)
    assert (await sidecar.get("/again")).status == 200  # sent while the replay is in flight
    await wait_until(lambda: edge.outbox is not None and edge.outbox.depth() == 0, 30.0)
    names = [name for name, _ in events]
    assert names == ["GET /page", "POST /api/orders", "POST answered", "GET /again"]
    peers = [peer for _, peer in events]
    assert peers[1] == peers[2] == peers[3]  # replay and read: one connection, one pool
    # back from the outage the client started over with new connections (renew)
    assert edge.origin.renewals >= 1 and peers[0] != peers[3]


async def test_renew_lets_requests_in_flight_finish_and_later_ones_use_new_connections(
    origin: ScriptedOrigin,
) -> None:
    peers: list[object] = []

    def recorded(request: web.Request, _body: bytes) -> Script:
        if request.transport is not None:
            peers.append(request.transport.get_extra_info("peername"))
        return Script(200, {}, b"slow" if request.path == "/slow" else b"quick", delay=(
            0.5 if request.path == "/slow" else 0.0))

    origin.route("/slow", handler=recorded)
    origin.route("/quick", handler=recorded)
    client = OriginClient(origin.url, timeout=30.0, connections=1)
    try:
        in_flight = asyncio.ensure_future(client.send("GET", "/slow", []))
        await wait_until(lambda: len(peers) == 1)
        client.renew()  # while /slow is still being answered on the old pool
        quick = await client.send("GET", "/quick", [])
        slow = await in_flight
        assert (slow.status, slow.body, quick.body) == (200, b"slow", b"quick")
        assert peers[0] != peers[1]  # the later request came over a new connection
    finally:
        await client.close()
    error = await failure(client, "GET", "/quick")  # closed: no pool is opened again
    assert error.kind == "connect"
