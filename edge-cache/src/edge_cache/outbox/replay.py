"""Replays queued writes to the origin while it is ONLINE.

* Order per resource: an entry waits for every earlier queued entry on the same path or on a
  prefix-related path (parent/child); POSTs to one `replay: parallel` route do not wait for
  each other (see `OrderGate`).
* Bounded global concurrency. What an answer means is decided by `verdict.judge`:
  - waits, never attempts, never a dead letter: `409` with `Retry-After` (the key is still in
    flight at the origin), `429`, `502`, `503`, `504` — retried after `Retry-After` (capped) or
    a back-off, for as long as it takes; a transport error reports the origin down
    (`OriginHealth.record_failure`) and the entry keeps its place;
  - success (any 2xx/3xx, including a stored response replayed by the origin's idempotency
    layer, `Idempotent-Replayed: true`) invalidates what the write touched, then deletes
    the entry — only after the response, so a crash in between replays it again with the same
    `Idempotency-Key`;
  - `408`/`500`/other 5xx spend an attempt (back-off; after `max_attempts` a dead letter);
  - terminal answers (409 without Retry-After, 412, 422, other 4xx) go to the dead-letter list
    with the origin's status, body and the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import random
import time
from collections.abc import Callable
from urllib.parse import urlsplit

from edge_cache.health import OriginHealth
from edge_cache.invalidation import Invalidation, invalidation
from edge_cache.logs import redact_target
from edge_cache.messages import Headers, header_value, without_headers
from edge_cache.origin_client import OriginClient, OriginError
from edge_cache.outbox.entry import QUEUED, OutboxEntry, rfc3339
from edge_cache.outbox.paths import OrderGate
from edge_cache.outbox.store import Outbox, QueuedRef
from edge_cache.outbox.verdict import (
    COMPLETE,
    RETRY,
    WAIT,
    backoff,
    judge,
    retry_after_seconds,
    wait_delay,
)

log = logging.getLogger("edge_cache.replay")

# Never forwarded on replay: hop-by-hop fields, and fields the origin client sets itself.
_REPLAY_DROPPED = (
    "host", "connection", "keep-alive", "proxy-connection", "transfer-encoding", "te",
    "trailer", "upgrade", "content-length", "expect", "x-edge-device-authorization",
    "x-edge-queued-at",
)

Invalidator = Callable[[Invalidation], object]  # CacheStore.invalidate (sync or async)

RESULTS = ("ok", "already_applied", "wait", "retry", "conflict", "rejected", "exhausted",
           "transport_error")
DEAD_RESULTS = frozenset({"conflict", "rejected", "exhausted"})

__all__ = ["DEAD_RESULTS", "RESULTS", "Replayer", "retry_after_seconds"]


class Replayer:
    """Drains the outbox to the origin whenever the origin is ONLINE."""

    def __init__(
        self,
        outbox: Outbox,
        health: OriginHealth,
        origin: OriginClient,
        *,
        device_token: str | None = None,
        concurrency: int = 8,
        invalidate: Invalidator | None = None,
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
        max_attempts: int = 0,  # attempts on 408/500/other 5xx; 0 = forever (waits never count)
        retry_after_cap: float = 300.0,
        request_timeout: float = 15.0,
        window: int = 1000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.outbox = outbox
        self.health = health
        self.origin = origin
        self.device_token = device_token
        self.concurrency = max(1, concurrency)
        self.invalidate = invalidate
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.max_attempts = max_attempts
        self.retry_after_cap = retry_after_cap
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
        self._origin_netloc = urlsplit(origin.base).netloc
        outbox.add_listener(self._kick.set)
        health.add_listener(self._on_transition)

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> asyncio.Task[None]:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self.run(), name="edge-cache-replayer")
        return self._task

    async def run(self) -> None:
        self._stopping = False
        try:
            while not self._stopping:
                self._kick.clear()
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

    def _on_transition(self, _state: str, _reason: str) -> None:
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
        return backoff(attempts, base=self.backoff_base, cap=self.backoff_cap,
                       jitter=random.random())

    def _note(self, result: str) -> None:
        self.counts[result] += 1
        if self.on_result is not None:
            self.on_result(result)

    async def _replay(self, ref: QueuedRef) -> None:
        entry = await self.outbox.get(ref.id)
        if entry is None or entry.state != QUEUED or self.outbox.queued_ref(ref.id) is None:
            return
        if not self.health.is_online():
            return
        started = time.perf_counter()
        try:
            resp = await self.origin.send(
                entry.method, entry.target, self.replay_headers(entry), entry.body,
                deadline=self.request_timeout,
            )
        except OriginError as exc:
            reason = f"replay {exc}"
            ref.waits += 1  # a wait, not an attempt: the entry keeps its place
            if exc.transport:
                self.health.record_failure(reason)  # replays stop until the prober says ONLINE
                delay = random.uniform(0.05, 0.25)
            else:  # an answer came, unusable: the origin is up; its fate is unknown, so again,
                self.health.suspect(reason)  # backing off while the origin answers like that
                delay = self._backoff(ref.waits)
            ref.next_attempt_at = self.clock() + delay
            ref.last_error = reason
            self._note("transport_error")
            log.info("replay transport error", extra={
                "event": "replay_transport_error", "id": entry.id, "error": reason})
            return
        body, status, answered = resp.body, resp.status, resp.headers
        retry_after = resp.header("retry-after")
        replayed = (resp.header("idempotent-replayed") or "").strip().lower() == "true"
        self.health.record_success()
        ms = round((time.perf_counter() - started) * 1000, 3)
        verdict = judge(status, retry_after=retry_after, replayed=replayed, body=body,
                        attempts=entry.attempts + 1, max_attempts=self.max_attempts)
        base = {"id": entry.id, "method": entry.method, "target": redact_target(entry.target),
                "status": status, "ms": ms, "idempotency_key": entry.idempotency_key}
        if verdict.action == COMPLETE:
            await self._invalidate(entry, status, answered)
            await self.outbox.complete(entry.id)
            self.last_success_at = self.clock()
            self._note(verdict.result)
            log.info("write replayed", extra={
                "event": "replay_ok", "replayed": replayed, "attempt": entry.attempts + 1,
                **base})
            return
        if verdict.action == WAIT:  # not an attempt: the entry waits as long as it takes
            ref.waits += 1
            delay = wait_delay(ref.waits, retry_after_seconds(retry_after, self.clock()),
                               base=self.backoff_base, cap=self.backoff_cap,
                               retry_after_cap=self.retry_after_cap, jitter=random.random())
            error = f"{verdict.reason}; wait {ref.waits}, next try in {delay:.2f}s"
            await self.outbox.defer(entry.id, attempts=entry.attempts,
                                    next_attempt_at=self.clock() + delay, status=status,
                                    error=error, waits=ref.waits)
            self._note(verdict.result)
            log.info("replay waits", extra={
                "event": "replay_wait", "delay_s": round(delay, 3), "waits": ref.waits,
                "reason": verdict.reason, **base})
            return
        attempts = entry.attempts + 1
        if verdict.action == RETRY:
            delay = self._backoff(attempts)
            await self.outbox.defer(entry.id, attempts=attempts,
                                    next_attempt_at=self.clock() + delay, status=status,
                                    error=f"{verdict.reason}; attempt {attempts}, next try in "
                                          f"{delay:.2f}s")
            self._note(verdict.result)
            log.info("replay will be retried", extra={
                "event": "replay_retry", "delay_s": round(delay, 3), "attempt": attempts,
                **base})
            return
        await self.outbox.bury(entry.id, status=status, body=body, error=verdict.reason,
                               attempts=attempts)
        self._note(verdict.result)
        log.warning("replay failed terminally", extra={
            "event": "replay_" + verdict.result, "reason": verdict.reason, "attempt": attempts,
            **base})

    async def _invalidate(self, entry: OutboxEntry, status: int, headers: Headers) -> None:
        """RFC 9111 §4.4 for the replayed write (the rule in `invalidation`): its target, its
        Location / Content-Location on the origin, and every path it marked while queued."""
        if self.invalidate is None:
            return
        what = invalidation(
            entry.method, entry.target, status, headers, origin_host=self._origin_netloc,
            request_host=header_value(entry.headers, "host"), affects=entry.marks,
        )
        try:
            result = self.invalidate(what)
            if inspect.isawaitable(result):
                await result
        except Exception:
            log.exception("cache invalidation failed",
                          extra={"event": "evict_error", "target": redact_target(entry.target)})
