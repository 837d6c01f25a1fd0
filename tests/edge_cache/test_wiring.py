"""`wiring.build(settings)`: each setting reaches the part it configures, the parts share one
origin client, one store, one registry; and the wired sidecar with the real offline-half
components: writes routed to the outbox, read-your-writes headers, 507, and one metrics registry
with every metric name."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import edge_cache
import pytest
from edge_cache.health import OriginHealth
from edge_cache.outbox import ReplayPlan
from edge_cache.settings import Settings
from edge_cache.standins import AlwaysOnline
from edge_cache.wiring import build

from tests.support.origins import ScriptedOrigin
from tests.support.sidecar_in_process import SidecarFactory
from tests.support.waiting import wait_until

FAST_PROBES = {"PROBE_INTERVAL": "0.05", "PROBE_TIMEOUT": "3", "ORIGIN_TIMEOUT": "3"}

# Every value differs from its default, so a part left at its own default is caught.
DISTINCT = {
    "MAX_BYTES": "1234567", "MAX_ENTRIES": "321", "HOT_ENTRIES": "17",
    "ORIGIN_TIMEOUT": "4.5", "ORIGIN_CONNECTIONS": "7",
    "PROBE_PATH": "/up", "PROBE_INTERVAL": "0.7", "PROBE_TIMEOUT": "0.3", "PROBE_WINDOW": "5",
    "PROBE_FAILURES": "3", "PROBE_SUCCESSES": "4",
    "OUTBOX_MAX_ENTRIES": "99", "OUTBOX_MAX_BYTES": "654321",
    "REPLAY_CONCURRENCY": "3", "REPLAY_MAX_ATTEMPTS": "6", "REPLAY_BACKOFF_MAX": "11",
    "DEVICE_TOKEN": "dev-tok", "ADMIN_TOKEN": "adm-tok", "TOKEN_DIGESTS_PATH": "/digests",
    "TOKEN_SYNC_INTERVAL": "13", "AUTH_COOKIE": "sess", "CREDENTIAL_COOKIES": "sid,auth",
    "AUTH_PUBLIC_PATHS": "/open", "CHANGES_PATH": "/api/changes", "CHANGES_TIMEOUT": "9",
    "ACCESS_LOG": "off",
}


def runtime_imports(package: Path) -> dict[str, set[str]]:
    """module -> the package's modules it imports when it runs (TYPE_CHECKING blocks left out;
    `from a import b` counts `a.b` when that is a module)."""
    root = package.parent
    names = {".".join(f.relative_to(root).with_suffix("").parts).removesuffix(".__init__"): f
             for f in package.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, file in names.items():
        found: set[str] = set()
        pending: list[ast.AST] = [ast.parse(file.read_text())]
        while pending:
            node = pending.pop()
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                    continue
                if isinstance(child, ast.Try):  # an import that may fail is an optional one
                    caught = [ast.unparse(h.type) for h in child.handlers if h.type is not None]
                    assert not any("ImportError" in c for c in caught), f"optional import in {name}"
                if isinstance(child, ast.ImportFrom) and child.module:
                    found.add(child.module)
                    found.update(f"{child.module}.{a.name}" for a in child.names)
                elif isinstance(child, ast.Import):
                    found.update(a.name for a in child.names)
                pending.append(child)
        graph[name] = {m for m in found if m in names and m != name}
    return graph


def test_no_import_circle_and_no_optional_import() -> None:
    graph = runtime_imports(Path(edge_cache.__file__).parent)
    assert "edge_cache.wiring" in graph and "edge_cache.app" in graph["edge_cache.wiring"]
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> None:
        for dep in sorted(graph[name]):
            assert dep not in path, "import circle: " + " -> ".join([*path, dep])
            if dep not in done:
                visit(dep, [*path, dep])
        done.add(name)

    for module in sorted(graph):
        visit(module, [module])
    # nothing but the entry points imports the wiring (no part looks the sidecar up)
    users = {m for m, deps in graph.items() if "edge_cache.wiring" in deps}
    assert users <= {"edge_cache.cli"}, users


def settings_for(tmp_path: Path, **env: str) -> Settings:
    values = {"EDGE_CACHE_ORIGIN": "http://127.0.0.1:9", "EDGE_CACHE_DATA_DIR": str(tmp_path)}
    return Settings.from_env({**values, **{f"EDGE_CACHE_{k}": v for k, v in env.items()}})


def test_build_hands_each_setting_to_its_part(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("warm: [/, /products]\nroutes:\n  - path: /api/orders\n"
                      "    replay: parallel\n    affects: [/api/stock]\n")
    edge = build(settings_for(tmp_path, POLICY_FILE=str(policy), **DISTINCT))
    store, origin = edge.store, edge.origin
    assert (store.max_bytes, store.max_entries, store.hot_entries) == (1234567, 321, 17)
    assert (origin.base, origin.timeout, origin.connections) == ("http://127.0.0.1:9", 4.5, 7)
    health = edge.health
    assert isinstance(health, OriginHealth)
    assert (health.probe_path, health.interval, health.timeout, health.window, health.fall,
            health.rise) == ("/up", 0.7, 0.3, 5, 3, 4)
    outbox = edge.outbox
    assert outbox is not None
    assert (outbox.max_entries, outbox.max_bytes) == (99, 654321)
    assert outbox.data_dir == tmp_path
    # each queued write's replay plan comes from the policy file's route
    assert outbox.policy("POST", "/api/orders") == ReplayPlan(affects=("/api/stock",),
                                                              parallel=True)
    assert outbox.policy("POST", "/other") == ReplayPlan(affects=(), parallel=False)
    replayer = edge.replayer
    assert replayer is not None
    assert (replayer.concurrency, replayer.max_attempts, replayer.backoff_cap,
            replayer.device_token, replayer.request_timeout) == (3, 6, 11.0, "dev-tok", 4.5)
    assert replayer.outbox is outbox and replayer.health is health
    assert replayer.invalidate == store.invalidate  # the one invalidation rule, through the store
    auth = edge.auth
    assert auth.enabled  # a device token turns credential checks on
    assert (auth.admin_token, auth.device_token, auth.digests_path, auth.sync_interval,
            auth.cookie_name, auth.public_paths) == (
        "adm-tok", "dev-tok", "/digests", 13.0, "sess", ("/open",))
    feed = edge.changefeed
    assert feed is not None
    assert (feed.path, feed.timeout, feed.device_token) == ("/api/changes", 9.0, "dev-tok")
    warmer = edge.warmer
    assert warmer is not None
    assert warmer.policy.urls == ("/", "/products") and warmer.device_token == "dev-tok"
    assert edge.admin.admin_token == "adm-tok"
    # the named cookies, and the session cookie that is checked when credentials are verified
    assert edge.admin.credential_cookies == edge.proxy.credential_cookies == {
        "sid", "auth", "sess"}
    assert edge.access_log.enabled is False


def test_build_shares_one_of_each_part(tmp_path: Path) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text("warm: [/]\n")
    edge = build(settings_for(tmp_path, POLICY_FILE=str(policy), CHANGES_PATH="/c"))
    proxy, feed, warmer, replayer = edge.proxy, edge.changefeed, edge.warmer, edge.replayer
    assert feed is not None and warmer is not None and replayer is not None
    health = edge.health
    assert isinstance(health, OriginHealth)
    # one origin client for proxying, probing, replay, the token list and the change feed
    for part in (proxy, health, replayer, edge.auth, feed):
        assert part.origin is edge.origin, type(part).__name__
    for part in (proxy, warmer):
        assert part.store is edge.store and part.health is health and part.outbox is edge.outbox
        assert part.auth is edge.auth
    assert proxy.metrics is edge.metrics and proxy.policies is edge.policies
    assert warmer.fetcher is proxy  # the warmer fetches through the request path
    assert feed.health is health and edge.admin.store is edge.store
    assert edge.report.outbox is edge.outbox and edge.report.replayer is replayer
    assert edge.report.changefeed is feed and edge.report.health is health


@pytest.mark.parametrize(("health", "outbox"), [(False, True), (True, False), (False, False)])
def test_build_without_prober_or_outbox(tmp_path: Path, health: bool, outbox: bool) -> None:
    edge = build(settings_for(tmp_path), health=health, outbox=outbox)
    assert isinstance(edge.health, OriginHealth if health else AlwaysOnline)
    assert (edge.outbox is not None) == outbox
    assert edge.replayer is None if not (health and outbox) else edge.replayer is not None
    assert edge.proxy.outbox is edge.outbox and edge.admin.outbox is edge.outbox
    assert edge.changefeed is None and edge.warmer is None  # neither is configured


def test_build_opens_nothing(tmp_path: Path) -> None:
    """Building does no I/O: the store and the outbox are opened by `start()`."""
    data = tmp_path / "data"
    build(settings_for(data))
    assert not data.exists() or not any(data.iterdir())


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
