"""`EdgeCache`: one sidecar made of the parts `wiring.build(settings)` creates and hands in
(it builds none itself); it starts and stops them and answers the sidecar's own endpoints.

`handle(request)` serves one request in-process (internal endpoints, `/_edge/*`, proxy);
the task-free hit path the HTTP server uses is `proxy.fast_hit(request, fields, end)`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from edge_cache.admin import EdgeAdmin
from edge_cache.auth import CredentialVerifier
from edge_cache.changefeed import ChangeFeedFollower
from edge_cache.logs import AccessLog
from edge_cache.messages import Request, Response
from edge_cache.metrics import CONTENT_TYPE, Metrics
from edge_cache.origin_client import OriginClient
from edge_cache.outbox import Outbox, Replayer
from edge_cache.parts import Component, HealthLike
from edge_cache.policy import Policies
from edge_cache.proxy import Proxy
from edge_cache.settings import Settings
from edge_cache.status import EdgeStatus
from edge_cache.store import CacheStore
from edge_cache.warming import Warmer

log = logging.getLogger("edge_cache.app")


class EdgeCache:
    def __init__(
        self,
        *,
        settings: Settings,
        clock: Callable[[], float],
        metrics: Metrics,
        policies: Policies,
        store: CacheStore,
        origin: OriginClient,
        health: HealthLike,
        outbox: Outbox | None,
        replayer: Replayer | None,
        auth: CredentialVerifier,
        proxy: Proxy,
        changefeed: ChangeFeedFollower | None,
        warmer: Warmer | None,
        report: EdgeStatus,
        admin: EdgeAdmin,
        access_log: AccessLog,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.metrics = metrics
        self.policies = policies
        self.store = store
        self.origin = origin
        self.health = health
        self.outbox = outbox
        self.replayer = replayer
        self.auth = auth
        self.proxy = proxy
        self.changefeed = changefeed
        self.warmer = warmer
        self.report = report
        self.admin = admin
        self.access_log = access_log
        self.ready = False
        self.started_at = time.time()
        self._tasks: list[asyncio.Task[None]] = []

    def _components(self) -> list[Component]:
        """The background parts, in start order (stopped in reverse)."""
        parts: list[Component | None] = [
            self.health, self.replayer, self.auth, self.changefeed, self.warmer]
        return [p for p in parts if p is not None]

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        self.store.open()
        if self.outbox is not None:
            self.outbox.open()  # raises OutboxStartupError: never discard queued writes silently
            self.metrics.outbox_depth.set(self.outbox.depth())
            await self.proxy.load_owners()
        await self.origin.start()
        for component in self._components():
            component.start()  # may return a Task that runs until stop(): not awaited
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
        for component in reversed(self._components()):
            try:
                await component.stop()
            except Exception:
                log.exception("stopping %s failed", type(component).__name__)
        pending = list(self.proxy.background)
        if pending:
            await asyncio.wait(pending, timeout=2.0)
        await self.origin.close()
        if self.outbox is not None:
            await self.outbox.close()
        self.store.close()

    # -- requests ---------------------------------------------------------------------------

    def status(self) -> dict[str, object]:
        return self.report.summary()

    def render_metrics(self) -> bytes:
        outbox = self.outbox
        if outbox is not None:
            self.metrics.outbox_depth.set(outbox.depth())
            self.metrics.outbox_oldest_age_seconds.set(outbox.oldest_age() or 0.0)
            self.metrics.outbox_waiting.set(self.report.waiting())
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
            if self.ready and self.health.is_known():
                return Response(200, [("Content-Type", "text/plain")], b"ready\n")
            return Response(503, [("Content-Type", "text/plain")], b"starting\n")
        if path == "/metrics":
            return Response(200, [("Content-Type", CONTENT_TYPE)], self.render_metrics())
        if path.startswith("/_edge/"):
            result = await self.admin.handle(request)
            if result is None:
                return Response(404, [("Content-Type", "text/plain")], b"not found\n")
            return result
        return Response(404, [("Content-Type", "text/plain")], b"not found\n")
