"""Privacy and authorization at the edge (issue 10): who sees which queued write, offline roles,
per-credential outbox shares, credential-fetched responses in plain mode, and logs without
credentials. Real sockets, the real prober and the real outbox."""

from __future__ import annotations

import io
import json
import time

from edge_cache.logs import AccessLog, redact_target

from tests.support.origins import Script, ScriptedOrigin, token_digests
from tests.support.sidecar_in_process import FakeClock, Sidecar, SidecarFactory
from tests.support.waiting import wait_until

PROBES = {"PROBE_INTERVAL": "0.05", "PROBE_TIMEOUT": "2", "ORIGIN_TIMEOUT": "5",
          "REPLAY_BACKOFF_MAX": "0.2"}
ADMIN = {"Authorization": "Bearer the-admin"}
ALICE = {"Authorization": "Bearer alice"}
BOB = {"Authorization": "Bearer bob"}


async def offline_sidecar(make_sidecar: SidecarFactory, origin: ScriptedOrigin,
                          **env: str) -> Sidecar:
    sidecar = await make_sidecar(health=True, outbox=True, ADMIN_TOKEN="the-admin",
                                 **{**PROBES, **env})
    await origin.set_mode("refuse")
    await wait_until(lambda: not sidecar.edge.health.is_online(), 30.0)
    return sidecar


async def listing(sidecar: Sidecar, headers: dict[str, str], query: str = "") -> list[dict]:  # type: ignore[type-arg]
    reply = await sidecar.get("/_edge/outbox" + query, headers)
    assert reply.status == 200
    entries: list[dict] = json.loads(reply.body)["entries"]  # type: ignore[type-arg]
    return entries


async def test_a_caller_sees_only_their_own_queued_writes(
    make_sidecar: SidecarFactory, origin: ScriptedOrigin
) -> None:
    sidecar = await offline_sidecar(make_sidecar, origin)
    ids = {}
    for who, headers, body in (("alice", ALICE, b"alice-secret"), ("bob", BOB, b"bob-secret"),
                               ("anon", {}, b"anon-csrf=123")):
        reply = await sidecar.request("POST", "/api/docs", headers, body)
        assert reply.status == 202
        ids[who] = json.loads(reply.body)["id"]
    assert [e["id"] for e in await listing(sidecar, BOB)] == [ids["bob"]]
    assert [e["id"] for e in await listing(sidecar, ALICE)] == [ids["alice"]]
    assert [e["id"] for e in await listing(sidecar, {})] == [ids["anon"]]
    everything = await listing(sidecar, ADMIN)
    assert [e["id"] for e in everything] == [ids["alice"], ids["bob"], ids["anon"]]
    assert all("body" not in e for e in everything)  # listings never carry bodies
    # one entry: the owner and the admin see the body; anybody else gets a 404
    theirs = await sidecar.get(f"/_edge/outbox/{ids['alice']}", BOB)
    assert theirs.status == 404 and b"alice-secret" not in theirs.body
    mine = json.loads((await sidecar.get(f"/_edge/outbox/{ids['alice']}", ALICE)).body)
    assert mine["body"] == "alice-secret"
    assert ["Authorization", "<redacted>"] in mine["headers"]
    admin = json.loads((await sidecar.get(f"/_edge/outbox/{ids['bob']}", ADMIN)).body)
    assert admin["body"] == "bob-secret"
    anon = await sidecar.get(f"/_edge/outbox/{ids['anon']}")
    assert anon.status == 200 and b"anon-csrf" not in anon.body  # nothing proves who it was
    assert (await sidecar.get(f"/_edge/outbox/{ids['anon']}", BOB)).status == 404


async def test_pending_counts_only_the_callers_own_writes(
    make_sidecar: SidecarFactory, origin: ScriptedOrigin
) -> None:
    origin.route("/api/docs", headers={"Cache-Control": "public, max-age=600"}, body=b"list")
    sidecar = await make_sidecar(health=True, outbox=True, **PROBES)
    await sidecar.get("/api/docs")
    await origin.set_mode("refuse")
    await wait_until(lambda: not sidecar.edge.health.is_online(), 30.0)
    for headers in (ALICE, ALICE, BOB):
        assert (await sidecar.request("POST", "/api/docs", headers, b"{}")).status == 202
    alice = await sidecar.get("/api/docs", ALICE)
    bob = await sidecar.get("/api/docs", BOB)
    anon = await sidecar.get("/api/docs")
    assert anon.cache == "OFFLINE-HIT" and anon.headers["X-Edge-Outbox-Depth"] == "3"
    assert (alice.headers.get("X-Edge-Pending"), bob.headers.get("X-Edge-Pending"),
            anon.headers.get("X-Edge-Pending")) == ("2", "1", None)
    # the owner index is rebuilt from the outbox at start
    await sidecar.stop()
    again = await make_sidecar(health=True, outbox=True, **PROBES)
    await wait_until(lambda: not again.edge.health.is_online(), 30.0)
    assert (await again.get("/api/docs", ALICE)).headers.get("X-Edge-Pending") == "2"


async def test_a_dead_letters_origin_answer_is_shown_to_the_admin_only(
    make_sidecar: SidecarFactory, origin: ScriptedOrigin
) -> None:
    origin.route("/api/items/7", method="PUT", status=412,
                 headers={"Content-Type": "application/json"}, body=b'{"owner": "carol"}')
    sidecar = await offline_sidecar(make_sidecar, origin)
    queued = await sidecar.request("PUT", "/api/items/7", ALICE, b'{"v": 1}')
    entry_id = json.loads(queued.body)["id"]
    await origin.set_mode("ok")
    await wait_until(lambda: sidecar.edge.outbox.dead_count() == 1, 30.0)
    mine = json.loads((await sidecar.get(f"/_edge/outbox/{entry_id}", ALICE)).body)
    assert mine["state"] == "dead" and mine["last_status"] == 412
    assert "last_body" not in mine and mine["body"] == '{"v": 1}'
    admin = json.loads((await sidecar.get(f"/_edge/outbox/{entry_id}", ADMIN)).body)
    assert admin["last_body"] == '{"owner": "carol"}'
    assert [e["id"] for e in await listing(sidecar, ALICE, "?state=dead")] == [entry_id]
    assert await listing(sidecar, BOB, "?state=dead") == []


async def test_one_credential_cannot_fill_the_outbox_for_everyone(
    make_sidecar: SidecarFactory, origin: ScriptedOrigin
) -> None:
    sidecar = await offline_sidecar(make_sidecar, origin, OUTBOX_MAX_ENTRIES="4",
                                    OUTBOX_SHARE="0.5")
    statuses = [(await sidecar.request("POST", "/api/w", ALICE, b"a")).status for _ in range(3)]
    assert statuses == [202, 202, 507]
    full = await sidecar.request("POST", "/api/w", ALICE, b"a")
    assert json.loads(full.body)["type"].endswith("/outbox-share-full")
    assert (await sidecar.request("POST", "/api/w", BOB, b"b")).status == 202
    assert sidecar.edge.outbox.depth() == 3


async def test_a_viewers_write_offline_is_refused_at_once(
    make_sidecar: SidecarFactory, origin: ScriptedOrigin
) -> None:
    origin.route("/api/auth/token-digests",
                 handler=token_digests({"tok-viewer": "viewer", "tok-clerk": "clerk"}))
    sidecar = await make_sidecar(health=True, outbox=True, AUTH_REQUIRED="on",
                                 DEVICE_TOKEN="dev", **PROBES)
    viewer = {"Authorization": "Bearer tok-viewer"}
    clerk = {"Authorization": "Bearer tok-clerk"}
    assert (await sidecar.get("/api/items", viewer)).status == 200  # the list is synced
    await origin.set_mode("refuse")
    await wait_until(lambda: not sidecar.edge.health.is_online(), 30.0)
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        refused = await sidecar.request(method, "/api/items/1", viewer, b"{}")
        assert refused.status == 403, method
    assert sidecar.edge.outbox.depth() == 0
    assert (await sidecar.request("POST", "/api/items", clerk, b"{}")).status == 202
    assert (await sidecar.request("POST", "/api/items", {}, b"{}")).status == 401


async def test_plain_mode_serves_a_credentialed_response_to_that_credential_only(
    make_sidecar: SidecarFactory, origin: ScriptedOrigin, clock: FakeClock
) -> None:
    for path in ("/report", "/report2"):
        origin.route(path, handler=lambda r, b: Script(
            200, {"Cache-Control": "public, max-age=1"},
            (r.headers.get("Authorization") or "anon").encode()))
    sidecar = await make_sidecar(health=True, outbox=True, **PROBES)
    await sidecar.get("/report", ALICE)
    assert (await sidecar.get("/report", ALICE)).cache == "HIT"
    for headers in ({}, BOB):  # online: never Alice's copy (Bob may get the anonymous one)
        other = await sidecar.get("/report", headers)
        assert other.body in (b"anon", b"Bearer bob"), headers
    await sidecar.get("/report2", ALICE)
    clock.advance(10)
    await origin.set_mode("refuse")
    await wait_until(lambda: not sidecar.edge.health.is_online(), 30.0)
    alice = await sidecar.get("/report2", ALICE)
    assert (alice.cache, alice.body) == ("OFFLINE-HIT", b"Bearer alice")
    for headers in ({}, BOB, {"Authorization": "Bearer alice2"}):
        other = await sidecar.get("/report2", headers)
        assert other.status == 503 and b"alice" not in other.body, headers


def test_query_string_credentials_are_redacted_in_the_request_log() -> None:
    assert redact_target("/a?token=abc&page=2&API_KEY=k&access_token=t&x=token") == (
        "/a?token=REDACTED&page=2&API_KEY=REDACTED&access_token=REDACTED&x=token")
    assert redact_target("/plain") == "/plain"
    stream = io.StringIO()
    log = AccessLog(stream=stream)
    log.record("GET", "/items?api_key=s3cret&password=hunter2&q=1", 200, "HIT", 10,
               time.perf_counter(), "127.0.0.1")
    log.flush()
    line = json.loads(stream.getvalue())
    assert line["target"] == "/items?api_key=REDACTED&password=REDACTED&q=1"
    assert "s3cret" not in stream.getvalue() and "hunter2" not in stream.getvalue()


async def test_a_credentials_own_hits_stay_on_the_fast_path(
    make_sidecar: SidecarFactory, origin: ScriptedOrigin
) -> None:
    origin.route("/mine", headers={"Cache-Control": "public, max-age=600"}, body=b"shared")
    sidecar = await make_sidecar()
    await sidecar.get("/mine", ALICE)
    slow: list[str] = []
    full_path = sidecar.edge.proxy.handle

    async def counting(req):  # type: ignore[no-untyped-def]
        slow.append(req.target)
        return await full_path(req)

    sidecar.edge.proxy.handle = counting  # type: ignore[method-assign]
    hit = await sidecar.get("/mine", ALICE)
    assert (hit.cache, hit.body) == ("HIT", b"shared") and slow == []  # answered task-free
    other = await sidecar.get("/mine", BOB)
    assert other.cache == "MISS" and slow == ["/mine"]
