"""Replays queued writes to the origin while it is ONLINE.

* Order per resource: an entry waits for every earlier queued entry on the same path or on a
  prefix-related path (parent/child); POSTs to one `replay: parallel` route do not wait for
  each other (see `OrderGate`).
* Bounded global concurrency; back-off with jitter on 5xx, 408, 429 and 409-with-Retry-After;
  a transport error reports the origin down (`OriginHealth.record_failure`) and the entry keeps
  its place without spending an attempt.
* Success (any 2xx/3xx, including a stored response replayed by the origin's idempotency
  layer) evicts the cached paths the write touched, then deletes the entry — only after the
  response, so a crash in between replays it again with the same `Idempotency-Key`.
* Terminal failures (409 without Retry-After, 412, 422, other 4xx, retries exhausted) go to the
  dead-letter list with the origin's status and body.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import random
import time
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import aiohttp

from edge_cache.health import OriginHealth
from edge_cache.messages import Headers, without_headers
from edge_cache.outbox.entry import QUEUED, OutboxEntry, rfc3339
from edge_cache.outbox.paths import OrderGate
from edge_cache.outbox.store import Outbox, QueuedRef

log = logging.getLogger("edge_cache.replay")

# Never forwarded on replay: hop-by-hop fields, and fields aiohttp sets itself.
_REPLAY_DROPPED = (
    "host", "connection", "keep-alive", "proxy-connection", "transfer-encoding", "te",
    "trailer", "upgrade", "content-length", "expect", "x-edge-device-authorization",
    "x-edge-queued-at",
)

Evictor = Callable[[str], object]  # CacheStore.evict_path (sync or async)

RESULTS = ("ok", "retry", "conflict", "rejected", "exhausted", "transport_error")


def retry_after_seconds(value: str | None, now: float) -> float | None:
    """Parse `Retry-After` (delta-seconds or HTTP-date) into seconds from now."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - now)
    except (TypeError, ValueError, IndexError):
        return None


class Replayer:
    """Drains the outbox to the origin whenever the origin is ONLINE."""

    def __init__(
        self,
        outbox: Outbox,
        health: OriginHealth,
        origin: str,
        *,
        device_token: str | None = None,
        concurrency: int = 8,
        evict: Evictor | None = None,
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
        max_attempts: int = 0,  # 0 = retry transient failures forever
        request_timeout: float = 15.0,
        window: int = 1000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.outbox = outbox
        self.health = health
        self.origin = origin.rstrip("/")
        self.device_token = device_token
        self.concurrency = max(1, concurrency)
        self.evict = evict
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.max_attempts = max_attempts
        self.request_timeout = request_timeout
        self.window = window
        self.clock = clock
        self.counts: dict[str, int] = dict.fromkeys(RESULTS, 0)
        self.last_success_at: float | None = None
        self.on_result: Callable[[str], None] | None = None  # metrics hook
        self._inflight: dict[int, asyncio.Task[None]] = {}
        self._kick = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None
        origin_parts = urlsplit(self.origin)
        self._origin_netloc = origin_parts.netloc
        self._fresh_connections = False
        outbox.add_listener(self._kick.set)
        health.add_listener(self._on_transition)

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> asyncio.Task[None]:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self.run(), name="edge-cache-replayer")
        return self._task

    def _new_session(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(limit=self.concurrency)
        return aiohttp.ClientSession(connector=connector, auto_decompress=False)

    async def run(self) -> None:
        self._stopping = False
        self._session = self._new_session()
        try:
            while not self._stopping:
                self._kick.clear()
                if self._fresh_connections and not self._inflight and self.health.is_online():
                    # kept-alive connections from before an outage are likely dead: start over
                    self._fresh_connections = False
                    old, self._session = self._session, self._new_session()
                    await old.close()
                try:
                    soonest = self._dispatch() if self.health.is_online() else None
                except Exception:  # keep draining whatever happens to one pass
                    log.exception("replay scheduling failed",
                                  extra={"event": "replay_internal_error"})
                    soonest = self.clock() + 1.0
                timeout = None if soonest is None else max(0.01, soonest - self.clock())
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._kick.wait(), timeout=timeout)
        finally:
            await self._drain_inflight(grace=5.0)
            session, self._session = self._session, None
            if session is not None:
                await session.close()

    async def stop(self) -> None:
        """Stop dispatching; let in-flight replays finish (bounded), then return."""
        self._stopping = True
        self._kick.set()
        task, self._task = self._task, None
        if task is not None:
            try:
                await asyncio.wait_for(asyncio.shield(task), timeout=10.0)
            except TimeoutError:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _drain_inflight(self, grace: float) -> None:
        tasks = list(self._inflight.values())
        if not tasks:
            return
        _done, pending = await asyncio.wait(tasks, timeout=grace)
        for t in pending:
            t.cancel()
        for t in pending:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t

    def _on_transition(self, state: str, _reason: str) -> None:
        if state != "online":
            self._fresh_connections = True
        self._kick.set()

    def inflight(self) -> int:
        return len(self._inflight)

    # -- scheduling -------------------------------------------------------------------------

    def _dispatch(self) -> float | None:
        """Start replays for ready entries; return when the next backed-off entry is due."""
        now = self.clock()
        free = self.concurrency - len(self._inflight)
        gate = OrderGate()
        soonest: float | None = None
        for visited, ref in enumerate(self.outbox.iter_queued()):
            if visited >= self.window or free <= 0:
                break
            blocked = gate.blocked(ref.path, ref.parallel)
            gate.add(ref.path, ref.parallel)
            if blocked or ref.id in self._inflight:
                continue
            if ref.next_attempt_at > now:
                soonest = ref.next_attempt_at if soonest is None else min(
                    soonest, ref.next_attempt_at)
                continue
            self._inflight[ref.id] = asyncio.create_task(
                self._replay_guarded(ref), name=f"replay-{ref.id}"
            )
            free -= 1
        return soonest

    async def _replay_guarded(self, ref: QueuedRef) -> None:
        try:
            await self._replay(ref)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("replay failed unexpectedly",
                          extra={"event": "replay_internal_error", "id": ref.id})
            ref.next_attempt_at = self.clock() + self.backoff_cap
        finally:
            self._inflight.pop(ref.id, None)
            self._kick.set()

    # -- one replay -------------------------------------------------------------------------

    def replay_headers(self, entry: OutboxEntry) -> Headers:
        headers = without_headers(entry.headers, *_REPLAY_DROPPED)
        if self.device_token:
            headers.append(("X-Edge-Device-Authorization", "Bearer " + self.device_token))
        headers.append(("X-Edge-Queued-At", rfc3339(entry.queued_at)))
        headers.append(("Via", "1.1 edge-cache"))
        return headers

    def _backoff(self, attempts: int) -> float:
        ceiling = min(self.backoff_cap, self.backoff_base * (2 ** max(0, attempts - 1)))
        return random.uniform(ceiling / 2, ceiling)

    def _note(self, result: str) -> None:
        self.counts[result] += 1
        if self.on_result is not None:
            self.on_result(result)

    async def _replay(self, ref: QueuedRef) -> None:
        entry = await self.outbox.get(ref.id)
        if entry is None or entry.state != QUEUED or self.outbox.queued_ref(ref.id) is None:
            return
        session = self._session
        if session is None or not self.health.is_online():
            return
        started = time.perf_counter()
        try:
            async with session.request(
                entry.method,
                self.origin + entry.target,
                headers=self.replay_headers(entry),
                data=entry.body if entry.body else None,
                timeout=aiohttp.ClientTimeout(total=self.request_timeout),
                allow_redirects=False,
            ) as resp:
                body = await resp.read()
                status = resp.status
                retry_after = resp.headers.get("Retry-After")
                location = resp.headers.get("Location")
                content_location = resp.headers.get("Content-Location")
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            reason = f"replay {type(exc).__name__}: {exc}"
            self.health.record_failure(reason)
            ref.next_attempt_at = self.clock() + random.uniform(0.05, 0.25)
            self._note("transport_error")
            log.info("replay transport error", extra={
                "event": "replay_transport_error", "id": entry.id, "error": reason})
            return
        self.health.record_success()
        ms = round((time.perf_counter() - started) * 1000, 3)
        attempts = entry.attempts + 1
        base = {"id": entry.id, "method": entry.method, "target": entry.target,
                "status": status, "attempt": attempts, "ms": ms,
                "idempotency_key": entry.idempotency_key}
        if status < 400:
            await self._invalidate(entry, location, content_location)
            await self.outbox.complete(entry.id)
            self.last_success_at = self.clock()
            self._note("ok")
            log.info("write replayed", extra={"event": "replay_ok", **base})
            return
        retry_delay = retry_after_seconds(retry_after, self.clock())
        retryable = status >= 500 or status in (408, 429) or (
            status == 409 and retry_after is not None)
        if retryable and (self.max_attempts <= 0 or attempts < self.max_attempts):
            delay = self._backoff(attempts)
            if retry_delay is not None:
                delay = max(delay, min(retry_delay, self.backoff_cap * 4))
            await self.outbox.defer(entry.id, attempts=attempts,
                                    next_attempt_at=self.clock() + delay,
                                    status=status, error=f"HTTP {status}, retry in {delay:.2f}s")
            self._note("retry")
            log.info("replay will be retried", extra={
                "event": "replay_retry", "delay_s": round(delay, 3), **base})
            return
        if retryable:
            result, error = "exhausted", f"HTTP {status} after {attempts} attempts"
        elif status in (409, 412):
            result, error = "conflict", f"conflict: HTTP {status}"
        else:
            result, error = "rejected", f"rejected: HTTP {status}"
        await self.outbox.bury(entry.id, status=status, body=body, error=error,
                               attempts=attempts)
        self._note(result)
        log.warning("replay failed terminally", extra={
            "event": "replay_" + result, **base})

    async def _invalidate(
        self, entry: OutboxEntry, location: str | None, content_location: str | None
    ) -> None:
        if self.evict is None:
            return
        paths = list(entry.marks)
        for ref in (location, content_location):
            if not ref:
                continue
            parts = urlsplit(ref)
            if parts.netloc and parts.netloc != self._origin_netloc:
                continue  # RFC 9111 §4.4: only same-origin URIs
            if parts.path and parts.path not in paths:
                paths.append(parts.path)
        for path in paths:
            try:
                result = self.evict(path)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                log.exception("cache eviction failed",
                              extra={"event": "evict_error", "path": path})
