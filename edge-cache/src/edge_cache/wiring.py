"""`build(settings) -> EdgeCache`: the one place that creates the concrete parts of a sidecar
and hands each its collaborators (no part builds its own, none looks another up).

* `metrics` : `metrics.Metrics` — the one registry (core and offline metric names)
* `policies`: `policy.Policies` from `EDGE_CACHE_POLICY_FILE`
* `store`   : `store.CacheStore` (cache tier, SQLite WAL, synchronous=NORMAL, hot tier)
* `origin`  : `origin_client.OriginClient` — the one origin client (pool, deadlines, failure
              kinds) for proxying, probing, replay, the token list and the change feed; renewed
              (new connections) when the origin comes back after an outage
* `health`  : `health.OriginHealth` (the prober) — `standins.AlwaysOnline` with `health=False`
* `outbox`  : `outbox.Outbox` (opened by `EdgeCache.start`; none with `outbox=False`) and
              `outbox.Replayer` (needs the prober), which invalidates through
              `store.invalidate`, the one rule of `invalidation`, as the proxy does
* `auth`    : `auth.CredentialVerifier` (checks nothing in plain mode)
* `proxy`   : `proxy.Proxy`, the request path
* `changefeed`: `changefeed.ChangeFeedFollower` when `EDGE_CACHE_CHANGES_PATH` is set
* `warmer`  : `warming.Warmer` when the policy file has a `warm:` list (fetches through the proxy)
* `report`, `admin`: `status.EdgeStatus` and `admin.EdgeAdmin` (`/_edge/*`)
* `access_log`: `logs.AccessLog` (`EDGE_CACHE_ACCESS_LOG`), for the HTTP server
"""

from __future__ import annotations

import time
from collections.abc import Callable

from edge_cache.admin import EdgeAdmin
from edge_cache.app import EdgeCache
from edge_cache.auth import CredentialVerifier
from edge_cache.changefeed import ChangeFeedFollower
from edge_cache.health import OriginHealth
from edge_cache.logs import AccessLog
from edge_cache.metrics import Metrics
from edge_cache.origin_client import OriginClient
from edge_cache.outbox import Outbox, Replayer, ReplayPlan
from edge_cache.outbox.replay import DEAD_RESULTS
from edge_cache.parts import HealthLike
from edge_cache.policy import Policies, load_policies
from edge_cache.proxy import Proxy
from edge_cache.settings import Settings
from edge_cache.standins import AlwaysOnline
from edge_cache.status import EdgeStatus
from edge_cache.store import CacheStore
from edge_cache.warming import Warmer


def build(
    settings: Settings,
    *,
    clock: Callable[[], float] = time.time,
    health: bool | HealthLike = True,
    outbox: bool = True,
) -> EdgeCache:
    """The sidecar for `settings`. `health=False`: no prober (always online), or a given
    stand-in; `outbox=False`: no outbox (writes are only forwarded). Tests pass `clock`."""
    s = settings
    metrics = Metrics()
    policies = load_policies(s.policy_file, s.max_offline_stale)
    store = CacheStore(
        s.cache_db, max_bytes=s.max_bytes, max_entries=s.max_entries,
        hot_entries=s.hot_entries, clock=clock, metrics=metrics,
    )
    origin = OriginClient(
        s.origin, timeout=s.origin_timeout, connections=s.origin_connections, metrics=metrics,
    )
    chosen, prober = choose_health(health, s, origin, metrics)
    queue = build_outbox(s, policies, metrics, clock) if outbox else None
    replayer = (
        build_replayer(s, queue, prober, origin, store, metrics)
        if queue is not None and prober is not None else None  # no replay without a prober
    )
    auth = CredentialVerifier(
        enabled=s.auth_enabled, origin=origin, digests_path=s.token_digests_path,
        device_token=s.device_token, admin_token=s.admin_token, data_dir=s.data_dir,
        sync_interval=s.token_sync_interval, cookie_name=s.auth_cookie,
        public_paths=s.auth_public_paths, is_online=chosen.is_online,
    )
    proxy = Proxy(
        settings=s, clock=clock, metrics=metrics, store=store, origin=origin, health=chosen,
        outbox=queue, auth=auth, policies=policies,
    )
    changefeed = ChangeFeedFollower(
        origin=origin, path=s.changes_path, health=chosen, evict=store.invalidate_path,
        purge=store.purge, revoke=auth.revoke, data_dir=s.data_dir,
        device_token=s.device_token, timeout=s.changes_timeout,
        on_evicted=metrics.changefeed_evictions_total.inc,
    ) if s.changes_path else None
    warmer = Warmer(
        policies.warm, fetcher=proxy, store=store, health=chosen, outbox=queue, auth=auth,
        device_token=s.device_token,
    ) if policies.warm is not None else None
    report = EdgeStatus(
        clock=clock, store=store, health=chosen, outbox=queue, replayer=replayer,
        changefeed=changefeed, auth=auth,
    )
    admin = EdgeAdmin(
        admin_token=s.admin_token, auth=auth, outbox=queue, store=store, report=report,
        credential_cookies=proxy.credential_cookies,
    )
    return EdgeCache(
        settings=s, clock=clock, metrics=metrics, policies=policies, store=store,
        origin=origin, health=chosen, outbox=queue, replayer=replayer, auth=auth, proxy=proxy,
        changefeed=changefeed, warmer=warmer, report=report, admin=admin,
        access_log=AccessLog(enabled=s.access_log),
    )


def choose_health(
    health: bool | HealthLike, settings: Settings, origin: OriginClient, metrics: Metrics
) -> tuple[HealthLike, OriginHealth | None]:
    """(what the parts ask about the origin, the prober that the replayer follows, if any)."""
    if isinstance(health, bool):
        if not health:
            return AlwaysOnline(), None
        prober = build_health(settings, origin, metrics)
        return prober, prober
    return health, health if isinstance(health, OriginHealth) else None


def build_health(settings: Settings, origin: OriginClient, metrics: Metrics) -> OriginHealth:
    """The prober; its transitions set `edge_origin_up` and renew the origin's connections."""
    s = settings
    prober = OriginHealth(
        origin, probe_path=s.probe_path, interval=s.probe_interval, timeout=s.probe_timeout,
        window=s.probe_window, fall=s.probe_failures, rise=s.probe_successes,
    )

    def on_transition(state: str, reason: str) -> None:
        metrics.origin_up.set(1 if state == "online" else 0)
        if prober.previous != "unknown":  # the first verdict is no flap
            metrics.origin_transitions_total.labels(state).inc()
            if state == "online":
                # back after an outage: the connections kept alive from before are likely dead
                origin.renew()

    prober.add_listener(on_transition)
    return prober


def build_outbox(
    settings: Settings, policies: Policies, metrics: Metrics, clock: Callable[[], float]
) -> Outbox:
    """The durable outbox (not opened yet); each entry's replay plan comes from its route."""
    s = settings

    def lookup(method: str, path: str) -> ReplayPlan:
        route = policies.for_request(method, path)
        return ReplayPlan(affects=route.affects, parallel=route.replay == "parallel")

    outbox = Outbox(
        s.data_dir, clock=clock, max_entries=s.outbox_max_entries,
        max_bytes=s.outbox_max_bytes, policy=lookup,
        acked_sync=s.outbox_acked_sync, lease_ids=s.outbox_ack_lease,
    )
    outbox.add_listener(lambda: metrics.outbox_depth.set(outbox.depth()))
    outbox.on_enqueue_latency = metrics.outbox_enqueue_seconds.observe
    metrics.outbox_dead_letters.set_function(lambda: float(outbox.dead_count()))
    return outbox


def build_replayer(
    settings: Settings, outbox: Outbox, health: OriginHealth, origin: OriginClient,
    store: CacheStore, metrics: Metrics,
) -> Replayer:
    s = settings

    def count(result: str) -> None:
        metrics.replay_total.labels(result).inc()
        if result in DEAD_RESULTS:
            metrics.deadletters_total.inc()

    replayer = Replayer(
        outbox, health, origin, device_token=s.device_token or None,
        concurrency=s.replay_concurrency, invalidate=store.invalidate,
        backoff_cap=s.replay_backoff_max, max_attempts=s.replay_max_attempts,
        request_timeout=max(s.origin_timeout, 1.0),
    )
    replayer.on_result = count
    return replayer
