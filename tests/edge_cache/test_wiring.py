"""The wiring object with the real offline-half components: writes routed to the outbox,
read-your-writes headers, 507, and one metrics registry with every metric name."""

from __future__ import annotations

import json
from pathlib import Path

from tests.support.origins import ScriptedOrigin
from tests.support.sidecar_in_process import SidecarFactory
from tests.support.waiting import wait_until

FAST_PROBES = {"PROBE_INTERVAL": "0.05", "PROBE_TIMEOUT": "3", "ORIGIN_TIMEOUT": "3"}


async def test_offline_write_is_queued_and_replayed_once(
    make_sidecar: SidecarFactory, origin: ScriptedOrigin
) -> None:
    sidecar = await make_sidecar(health=True, outbox=True, **FAST_PROBES)
    origin.route("/api/items", headers={"Cache-Control": "public, max-age=0, stale-if-error=600"})
    await sidecar.get("/api/items")
    await origin.set_mode("refuse")
    await sidecar.get("/api/items")
    await wait_until(lambda: not sidecar.edge.health.is_online(), 20.0)
    queued = await sidecar.request("POST", "/api/items", {"Idempotency-Key": "k-1"}, b'{"a":1}')
    assert (queued.status, queued.cache) == (202, "QUEUED")
    body = json.loads(queued.body)
    assert body["queued"] is True and body["idempotency_key"] == "k-1"
    assert queued.headers["Location"] == f"/_edge/outbox/{body['id']}"
    read = await sidecar.get("/api/items")
    assert read.cache == "OFFLINE-HIT"
    assert read.headers["X-Edge-Outbox-Depth"] == "1"
    assert read.headers["X-Edge-Pending"] == "1"
    await origin.set_mode("ok")
    await wait_until(lambda: origin.count("/api/items", "POST") >= 1, 20.0)
    await wait_until(lambda: sidecar.edge.outbox.depth() == 0, 20.0)
    posts = [r for r in origin.requests if r.method == "POST"]
    assert [p.headers.get("Idempotency-Key") for p in posts] == ["k-1"]
    assert posts[0].body == b'{"a":1}'


async def test_origin_failing_mid_request_queues_with_a_key(
    make_sidecar: SidecarFactory, origin: ScriptedOrigin
) -> None:
    settings = {**FAST_PROBES, "ORIGIN_TIMEOUT": "1", "PROBE_TIMEOUT": "10"}
    sidecar = await make_sidecar(health=True, outbox=True, **settings)
    await origin.set_mode("blackhole")
    reply = await sidecar.request("POST", "/api/documents", body=b"{}")
    assert (reply.status, reply.cache) == (202, "QUEUED")
    key = json.loads(reply.body)["idempotency_key"]
    # The attempt that timed out carried the same key the replay will carry.
    posts = [r for r in origin.requests if r.method == "POST"]
    assert [p.headers.get("Idempotency-Key") for p in posts] == [key]


async def test_full_outbox_answers_507(
    make_sidecar: SidecarFactory, origin: ScriptedOrigin
) -> None:
    sidecar = await make_sidecar(health=True, outbox=True, OUTBOX_MAX_ENTRIES="1", **FAST_PROBES)
    await origin.set_mode("refuse")
    first = await sidecar.request("POST", "/w", body=b"1")
    assert first.status == 202
    second = await sidecar.request("POST", "/w", body=b"2")
    assert second.status == 507
    assert second.headers["Content-Type"] == "application/problem+json"


async def test_a_500_does_not_take_the_edge_offline(
    make_sidecar: SidecarFactory, origin: ScriptedOrigin
) -> None:
    sidecar = await make_sidecar(health=True, outbox=True, **FAST_PROBES)
    origin.route("/bug", status=500)
    assert (await sidecar.get("/bug")).status == 500
    assert sidecar.edge.health.is_online()


async def test_one_registry_with_every_metric(make_sidecar: SidecarFactory) -> None:
    sidecar = await make_sidecar(health=True, outbox=True, **FAST_PROBES)
    await sidecar.get("/x")
    text = (await sidecar.get("/metrics")).body.decode()
    for name in (
        "edge_requests_total",
        "edge_origin_request_seconds",
        "edge_coalesced_total",
        "edge_cache_bytes",
        "edge_cache_entries",
        "edge_evictions_total",
        "edge_origin_up",
        "edge_origin_transitions_total",
        "edge_outbox_depth",
        "edge_outbox_oldest_age_seconds",
        "edge_replay_total",
        "edge_deadletters_total",
    ):
        assert name in text, name
    status = json.loads((await sidecar.get("/_edge/status")).body)
    for field in ("state", "since", "outbox_depth", "cache_entries", "cache_bytes", "hits"):
        assert field in status
    assert (await sidecar.get("/healthz")).status == 200
    assert (await sidecar.get("/readyz")).status == 200


async def test_route_without_queue_fails_fast_offline(
    make_sidecar: SidecarFactory, origin: ScriptedOrigin, tmp_path: Path
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("routes:\n  - path: /api/reports\n    queue: false\n")
    sidecar = await make_sidecar(
        health=True, outbox=True, POLICY_FILE=str(policy), **FAST_PROBES
    )
    await origin.set_mode("refuse")
    refused = await sidecar.request("POST", "/api/reports", body=b"{}")
    assert refused.status in (502, 503)
    await wait_until(lambda: not sidecar.edge.health.is_online(), 20.0)
    offline = await sidecar.request("POST", "/api/reports", body=b"{}")
    assert (offline.status, offline.cache) == (503, "BYPASS")
    assert sidecar.edge.outbox.depth() == 0


async def test_online_write_queues_behind_pending_writes_for_its_path(
    make_sidecar: SidecarFactory, origin: ScriptedOrigin
) -> None:
    sidecar = await make_sidecar(health=True, outbox=True, **FAST_PROBES)
    await origin.set_mode("refuse")
    first = await sidecar.request("POST", "/api/orders", body=b"1")
    assert first.status == 202
    await origin.set_mode("ok")
    await wait_until(lambda: sidecar.edge.health.is_online(), 20.0)
    if sidecar.edge.outbox.pending_for("/api/orders"):  # still draining: must not overtake
        second = await sidecar.request("POST", "/api/orders", body=b"2")
        assert second.status in (201, 202)
    else:
        second = await sidecar.request("POST", "/api/orders", body=b"2")
        assert second.status == 201
    await wait_until(lambda: sidecar.edge.outbox.depth() == 0, 20.0)
    bodies = [r.body for r in origin.requests if r.method == "POST"]
    assert bodies == [b"1", b"2"]
