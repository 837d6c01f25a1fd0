"""The wiring object: `EdgeCache` builds and owns every component of one sidecar (concrete,
typed parts; the proxy and the admin handler see them through `parts` protocols, so nothing
imports this module back).

* `store`   : `store.CacheStore` (cache tier, SQLite WAL, synchronous=NORMAL, hot tier)
* `origin`  : `origin_client.OriginClient` — the one origin client (pool, deadlines, failure
              kinds); every part below that talks to the origin gets this object, and it is
              renewed (new connections) when the origin comes back after an outage
* `health`  : `health.OriginHealth(origin, probe_path=, interval=, timeout=, window=, fall=, rise=)`
              — `standins.AlwaysOnline` when `health=False` is passed (tests)
* `outbox`  : `outbox.Outbox(data_dir, max_entries=, max_bytes=, policy=, clock=)` and
              `outbox.Replayer(outbox, health, origin, device_token=, invalidate=, ...)`
              (the replayer needs the prober: none with `AlwaysOnline`); `invalidate` is
              `store.invalidate`, applying the one rule of `invalidation` as the proxy does
* `auth`    : `auth.create(edge) -> CredentialVerifier(origin=, ...)` (checks nothing in plain
              mode)
* `admin`   : `admin.create(edge) -> EdgeAdmin` (`/_edge/*`)
* `changefeed`: `changefeed.create(edge)` (origin, health, store) when
              `EDGE_CACHE_CHANGES_PATH` is set
* `warmer`  : `warming.create(edge)` when the policy file has a `warm:` list (fetched while
              ONLINE and kept fresh through the proxy)
* `metrics` : `metrics.Metrics` — the one registry (core and offline metric names)
* `policies`: `policy.Policies` from `EDGE_CACHE_POLICY_FILE`

`handle(request)` serves one request in-process (internal endpoints, `/_edge/*`, proxy);
`fast_response(request, fields)` is the task-free hit path used by the HTTP server.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
from collections.abc import Callable
from typing import Any

from edge_cache.admin import EdgeAdmin
from edge_cache.admin import create as create_admin
from edge_cache.auth import CredentialVerifier
from edge_cache.auth import create as create_auth
from edge_cache.changefeed import ChangeFeedFollower
from edge_cache.changefeed import create as create_changefeed
from edge_cache.health import OriginHealth
from edge_cache.messages import Request, Response
from edge_cache.metrics import CONTENT_TYPE, Metrics
from edge_cache.origin_client import OriginClient
from edge_cache.outbox import Outbox, Replayer, ReplayPlan
from edge_cache.parts import Component, HealthLike
from edge_cache.policy import Policies, load_policies
from edge_cache.proxy import Proxy
from edge_cache.settings import Settings
from edge_cache.standins import AlwaysOnline, OpenAccess
from edge_cache.store import CacheStore
from edge_cache.warming import create as create_warmer

log = logging.getLogger("edge_cache.app")


class EdgeCache:
    def __init__(
        self,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.time,
        health: bool | HealthLike = True,
        outbox: bool = True,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.metrics = Metrics()
        self.policies: Policies = load_policies(settings.policy_file, settings.max_offline_stale)
        self.store = CacheStore(
            settings.cache_db,
            max_bytes=settings.max_bytes,
            max_entries=settings.max_entries,
            hot_entries=settings.hot_entries,
            clock=clock,
            metrics=self.metrics,
        )
        self.origin = OriginClient(
            settings.origin,
            timeout=settings.origin_timeout,
            connections=settings.origin_connections,
            metrics=self.metrics,
        )
        self.health: HealthLike = self._build_health(health)
        self.outbox: Outbox | None = None
        self.replayer: Replayer | None = None
        self._want_outbox = outbox
        self.auth: CredentialVerifier | OpenAccess = create_auth(self)
        self.admin: EdgeAdmin | None = None
        self.changefeed: ChangeFeedFollower | None = None
        self.warmer: Component | None = None
        self.proxy = Proxy(self)
        self.ready = False
        self.started_at = time.time()
        self._tasks: list[asyncio.Task[Any]] = []

    # -- construction -----------------------------------------------------------------------

    def _build_health(self, health: bool | HealthLike) -> HealthLike:
        if not isinstance(health, bool):
            return health
        if not health:
            return AlwaysOnline()
        s = self.settings
        built = OriginHealth(
            self.origin,
            probe_path=s.probe_path,
            interval=s.probe_interval,
            timeout=s.probe_timeout,
            window=s.probe_window,
            fall=s.probe_failures,
            rise=s.probe_successes,
        )
        built.add_listener(self._on_transition)
        return built

    def _on_transition(self, state: str, reason: str) -> None:
        self.metrics.origin_up.set(1 if state == "online" else 0)
        if getattr(self.health, "previous", None) != "unknown":  # the first verdict is no flap
            self.metrics.origin_transitions_total.labels(state).inc()
            if state == "online":
                # back after an outage: the connections kept alive from before are likely dead
                self.origin.renew()

    def _build_outbox(self) -> None:
        s = self.settings

        def lookup(method: str, path: str) -> ReplayPlan:
            route = self.policies.for_request(method, path)
            return ReplayPlan(affects=route.affects, parallel=route.replay == "parallel")

        outbox = self.outbox = Outbox(
            s.data_dir, clock=self.clock, max_entries=s.outbox_max_entries,
            max_bytes=s.outbox_max_bytes, policy=lookup,
            acked_sync=s.outbox_acked_sync, lease_ids=s.outbox_ack_lease,
        )
        outbox.open()  # raises OutboxStartupError: never discard queued writes silently
        outbox.add_listener(self._outbox_changed)
        self._outbox_changed()
        if isinstance(self.health, OriginHealth):  # no replay without a prober (plain tests)
            self.replayer = Replayer(
                outbox,
                self.health,
                self.origin,
                device_token=s.device_token or None,
                concurrency=s.replay_concurrency,
                invalidate=self.store.invalidate,
                backoff_cap=s.replay_backoff_max,
                max_attempts=s.replay_max_attempts,
                request_timeout=max(s.origin_timeout, 1.0),
            )
            self.replayer.on_result = self._replay_result

    def _outbox_changed(self) -> None:
        if self.outbox is not None:
            self.metrics.outbox_depth.set(self.outbox.depth())

    def _replay_result(self, result: str) -> None:
        self.metrics.replay_total.labels(result).inc()
        if result in ("conflict", "rejected", "exhausted"):  # replay.DEAD_RESULTS
            self.metrics.deadletters_total.inc()

    def _build_late(self) -> None:
        self.admin = create_admin(self)
        if self.settings.changes_path:
            self.changefeed = create_changefeed(self)
        self.warmer = create_warmer(self)

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        self.store.open()
        if self._want_outbox:
            self._build_outbox()
            await self.proxy.load_owners()
        self._build_late()
        await self.origin.start()
        for component in (self.health, self.replayer, self.auth, self.changefeed, self.warmer):
            starter = getattr(component, "start", None)
            if starter is not None:
                result = starter()  # may return a Task that runs until stop(): not awaited
                if inspect.iscoroutine(result):
                    await result
        self._tasks.append(asyncio.create_task(self._housekeeping(), name="edge-housekeeping"))
        self.ready = True

    async def _housekeeping(self) -> None:
        while True:
            await asyncio.sleep(2.0)
            try:
                self.store.flush()
                await asyncio.to_thread(self.store.checkpoint)
            except Exception:
                log.exception("cache store flush failed")

    async def stop(self) -> None:
        self.ready = False
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        for component in (self.warmer, self.changefeed, self.replayer, self.auth, self.health):
            stopper = getattr(component, "stop", None)
            if stopper is not None:
                try:
                    result = stopper()
                    if inspect.isawaitable(result):
                        await result
                except Exception:
                    log.exception("stopping %s failed", type(component).__name__)
        pending = list(self.proxy.background)
        if pending:
            await asyncio.wait(pending, timeout=2.0)
        await self.origin.close()
        if self.outbox is not None:
            result = self.outbox.close()
            if inspect.isawaitable(result):
                await result
        self.store.close()

    # -- requests ---------------------------------------------------------------------------

    def status(self) -> dict[str, object]:
        stats = self.store.stats()
        outbox = self.outbox
        oldest = getattr(outbox, "oldest_age", lambda: None)()
        dead = getattr(outbox, "dead_count", lambda: 0)()
        replayer = self.replayer
        return {
            "state": self.health.state,
            "since": self.health.since,
            "outbox_depth": outbox.depth() if outbox is not None else 0,
            "outbox_oldest_age_s": oldest,
            "outbox_oldest": self._oldest_entry(),
            "outbox_waiting": self._waiting(),
            "dead_letters": dead,
            "last_sync": getattr(replayer, "last_success_at", None),
            "cache_entries": stats["entries"],
            "cache_bytes": stats["bytes"],
            "hits": stats["hits"],
            "misses": stats["misses"],
        }

    def _oldest_entry(self) -> dict[str, object] | None:
        """The longest-queued write and why it is still waiting (a stuck queue shows here)."""
        ref = getattr(self.outbox, "oldest", lambda: None)()
        if ref is None:
            return None
        now = self.clock()
        return {
            "id": str(ref.id), "method": ref.method, "path": ref.path,
            "age_s": round(max(0.0, now - ref.queued_at), 3), "attempts": ref.attempts,
            "waits": ref.waits, "last_status": ref.last_status, "last_error": ref.last_error,
            "next_try_in_s": round(max(0.0, ref.next_attempt_at - self._replay_now()), 3),
        }

    def _replay_now(self) -> float:
        return float(getattr(self.replayer, "clock", time.time)())

    def _waiting(self) -> int:
        waiting = getattr(self.outbox, "waiting", None)
        return int(waiting(self._replay_now())) if waiting is not None else 0

    def render_metrics(self) -> bytes:
        outbox = self.outbox
        if outbox is not None:
            self.metrics.outbox_depth.set(outbox.depth())
            if hasattr(outbox, "oldest_age"):
                self.metrics.outbox_oldest_age_seconds.set(outbox.oldest_age() or 0.0)
            self.metrics.outbox_waiting.set(self._waiting())
        self.metrics.origin_up.set(1 if self.health.is_online() else 0)
        return self.metrics.render()

    async def handle(self, request: Request) -> Response:
        path = request.path
        if path.startswith("/_edge/") or path in ("/healthz", "/readyz", "/metrics"):
            resp = await self._handle_own(request, path)
            resp.headers.append(("X-Edge-Cache", "BYPASS"))
            return resp
        return await self.proxy.handle(request)

    async def _handle_own(self, request: Request, path: str) -> Response:
        """The sidecar's own endpoints (never proxied)."""
        if path == "/healthz":
            return Response(200, [("Content-Type", "text/plain")], b"ok\n")
        if path == "/readyz":
            # ready once started and the first probe has decided ONLINE or OFFLINE (bounded by
            # the probe deadline); until then the edge answers as offline
            known = getattr(self.health, "is_known", lambda: True)()
            if self.ready and known:
                return Response(200, [("Content-Type", "text/plain")], b"ready\n")
            return Response(503, [("Content-Type", "text/plain")], b"starting\n")
        if path == "/metrics":
            return Response(200, [("Content-Type", CONTENT_TYPE)], self.render_metrics())
        if path.startswith("/_edge/") and self.admin is not None:
            result = await self.admin.handle(request)
            if result is None:
                return Response(404, [("Content-Type", "text/plain")], b"not found\n")
            return result
        return Response(404, [("Content-Type", "text/plain")], b"not found\n")

    def fast_response(self, request: Request, fields: dict[str, str]) -> tuple[bytes, bytes] | None:
        """(head without the final CRLF, body) for a fresh hit, or None for the full path."""
        found = self.proxy.fast_hit(request, fields)
        if found is None:
            return None
        entry, age = found
        outbox = self.outbox
        depth = outbox.depth() if outbox is not None else 0
        extra = b"Age: %d\r\nX-Edge-Cache: HIT\r\nX-Edge-Outbox-Depth: %d\r\n" % (age, depth)
        if depth:
            pending = self.proxy.pending_for(fields, request.path)  # the caller's own
            if pending:
                extra += b"X-Edge-Pending: %d\r\n" % pending
        self.metrics.by_status["HIT"].inc()
        body = b"" if request.method == "HEAD" else entry.body
        return entry.wire_head() + extra, body
