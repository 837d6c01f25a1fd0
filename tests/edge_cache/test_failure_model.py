"""The failure model (DESIGN §4): an HTTP answer from the origin, whatever its status, means the
origin is up. Only transport failures (refused, reset, no status line before the deadline) and
the prober decide ONLINE/OFFLINE. All on real loopback sockets with the real prober."""

from __future__ import annotations

import json
from pathlib import Path

from aiohttp import web

from tests.support.origins import Script, ScriptedOrigin
from tests.support.sidecar_in_process import FakeClock, SidecarFactory
from tests.support.waiting import wait_until

PROBES = {"PROBE_INTERVAL": "0.05", "PROBE_TIMEOUT": "2", "ORIGIN_TIMEOUT": "5"}
STALE_OK = {"Cache-Control": "max-age=1, stale-if-error=600"}


def _raw(payload: bytes):  # type: ignore[no-untyped-def]
    """A handler that writes `payload` as the whole (malformed) HTTP answer and closes."""

    def handler(request: web.Request, body: bytes) -> Script:
        transport = request.transport
        assert transport is not None
        transport.write(payload)
        transport.close()
        raise web.HTTPBadRequest()  # never reaches the client: the socket is closed

    return handler


async def test_a_503_on_one_url_leaves_every_other_url_online(
    make_sidecar: SidecarFactory, origin: ScriptedOrigin
) -> None:
    sidecar = await make_sidecar(health=True, outbox=True, **PROBES)
    for status in (503, 502, 504, 500):
        origin.route(f"/broken/{status}", status=status, body=b"app error")
        origin.route(f"/broken/{status}", method="PUT", status=status, body=b"app error")
    for status in (503, 502, 504, 500):
        read = await sidecar.get(f"/broken/{status}")
        assert (read.status, read.body) == (status, b"app error")  # passed through
        write = await sidecar.request("PUT", f"/broken/{status}", body=b"x")
        assert (write.status, write.cache) == (status, "BYPASS")  # not queued
        # writes and uncached reads to other URLs reach the origin at once
        post = await sidecar.request("POST", f"/api/other/{status}", body=b'{"n": 1}')
        assert (post.status, post.body) == (201, b'{"n": 1}')
        assert origin.count(f"/api/other/{status}", "POST") == 1
        fresh = await sidecar.get(f"/uncached/{status}")
        assert (fresh.status, fresh.cache) == (200, "MISS")
    assert sidecar.edge.health.is_online()
    assert sidecar.edge.outbox.depth() == 0  # nothing queued while the origin answers
    assert sidecar.edge.health.transitions == 0


async def test_an_error_answer_serves_stale_for_that_request_only(
    make_sidecar: SidecarFactory, origin: ScriptedOrigin, clock: FakeClock
) -> None:
    sidecar = await make_sidecar(health=True, outbox=True, **PROBES)
    origin.route("/page", headers=STALE_OK, body=b"v1")
    assert (await sidecar.get("/page")).cache == "MISS"
    clock.advance(5)
    origin.route("/page", status=503, body=b"down")
    stale = await sidecar.get("/page")
    assert (stale.status, stale.cache, stale.body) == (200, "STALE", b"v1")
    assert sidecar.edge.health.is_online()
    other = await sidecar.request("POST", "/api/orders", body=b"1")
    assert other.status == 201 and origin.count("/api/orders", "POST") == 1


async def test_malformed_answers_are_a_502_for_that_request_not_an_outage(
    make_sidecar: SidecarFactory, origin: ScriptedOrigin
) -> None:
    sidecar = await make_sidecar(health=True, outbox=True, **PROBES)
    bad = {
        "/bad/length": b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort",
        "/bad/te": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: bogus, chunked, x\r\n\r\n5\r\nhel",
        "/bad/chunks": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n",
        "/bad/status": b"HTTP/1.1 2x0 Bogus\r\nContent-Length: 2\r\n\r\nok",
    }
    for path, payload in bad.items():
        origin.route(path, handler=_raw(payload))
        origin.route(path, method="POST", handler=_raw(payload))
    for path in bad:
        read = await sidecar.get(path)
        assert read.status == 502, (path, read.status)
        write = await sidecar.request("POST", path, body=b"x")
        assert (write.status, write.cache) == (502, "BYPASS"), path
        ok = await sidecar.request("POST", "/api/fine", body=b"y")
        assert ok.status == 201
    assert sidecar.edge.health.is_online()
    assert sidecar.edge.health.transitions == 0
    assert sidecar.edge.outbox.depth() == 0


async def test_a_refused_request_serves_stale_and_asks_the_prober_to_look_now(
    make_sidecar: SidecarFactory, origin: ScriptedOrigin, clock: FakeClock
) -> None:
    # The prober would not look again for a minute on its own.
    sidecar = await make_sidecar(
        health=True, outbox=True, PROBE_INTERVAL="60", PROBE_TIMEOUT="2", ORIGIN_TIMEOUT="5"
    )
    origin.route("/page", headers={"Cache-Control": "max-age=1"}, body=b"v1")
    await sidecar.get("/page")
    clock.advance(5)
    probes = sidecar.edge.health.probes
    await origin.set_mode("refuse")
    stale = await sidecar.get("/page")  # transport failure: the offline licence, this request
    assert (stale.status, stale.cache, stale.body) == (200, "STALE", b"v1")
    assert sidecar.edge.health.last_suspect.startswith("connect")
    await wait_until(lambda: not sidecar.edge.health.is_online(), 30.0)
    assert sidecar.edge.health.probes > probes  # the prober decided, not the request
    queued = await sidecar.request("POST", "/api/orders", body=b"1")
    assert (queued.status, queued.cache) == (202, "QUEUED")


async def test_a_waiting_write_is_answered_from_the_outbox_once_offline(
    make_sidecar: SidecarFactory, origin: ScriptedOrigin
) -> None:
    # The origin deadline (60 s) is far longer than the client waits (aiohttp default 300 s is
    # not used: the session below has none); the write must be released when OFFLINE is
    # declared by the prober (probe deadline 0.3 s, 2 failures).
    sidecar = await make_sidecar(
        health=True, outbox=True, PROBE_INTERVAL="0.05", PROBE_TIMEOUT="0.3",
        ORIGIN_TIMEOUT="60",
    )
    await origin.set_mode("blackhole")
    reply = await sidecar.request("POST", "/api/documents", body=b"{}")
    assert (reply.status, reply.cache) == (202, "QUEUED")
    assert not sidecar.edge.health.is_online()
    key = json.loads(reply.body)["idempotency_key"]
    sent = [r for r in origin.requests if r.method == "POST"]
    # fate unknown (sent, no answer): queued with the key that attempt carried
    assert [s.headers.get("Idempotency-Key") for s in sent] == [key]
    await origin.set_mode("ok")
    await wait_until(lambda: sidecar.edge.outbox.depth() == 0, 30.0)
    keys = [r.headers.get("Idempotency-Key") for r in origin.requests if r.method == "POST"]
    assert keys == [key, key]  # the replay carries the same key: the origin can dedupe


async def test_gateway_answers_mean_offline_only_where_the_route_says_so(
    make_sidecar: SidecarFactory, origin: ScriptedOrigin, clock: FakeClock, tmp_path: Path
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "routes:\n  - path: /behind-ingress\n    gateway_errors_mean_offline: true\n"
    )
    sidecar = await make_sidecar(health=True, outbox=True, POLICY_FILE=str(policy), **PROBES)
    origin.route("/behind-ingress/page", headers={"Cache-Control": "max-age=1"}, body=b"v1")
    origin.route("/plain/page", headers={"Cache-Control": "max-age=1"}, body=b"p1")
    await sidecar.get("/behind-ingress/page")
    await sidecar.get("/plain/page")
    clock.advance(5)
    for path in ("/behind-ingress/page", "/plain/page"):
        origin.route(path, status=502, body=b"bad gateway")
        origin.route(path, method="POST", status=503, body=b"unavailable")
    # opted in: stale with the offline licence (no stale-if-error needed), the write queued
    stale = await sidecar.get("/behind-ingress/page")
    assert (stale.status, stale.cache, stale.body) == (200, "STALE", b"v1")
    queued = await sidecar.request("POST", "/behind-ingress/page", body=b"w")
    assert (queued.status, queued.cache) == (202, "QUEUED")
    key = json.loads(queued.body)["idempotency_key"]
    sent = [r for r in origin.requests if r.method == "POST"]
    assert sent[0].headers.get("Idempotency-Key") == key
    # default route: the answer is passed through and nothing is queued
    plain = await sidecar.get("/plain/page")
    assert (plain.status, plain.body) == (502, b"bad gateway")
    write = await sidecar.request("POST", "/plain/page", body=b"w")
    assert (write.status, write.cache) == (503, "BYPASS")
    assert sidecar.edge.health.last_suspect == "origin gateway answered 503"
    assert sidecar.edge.outbox.depth() == 1
