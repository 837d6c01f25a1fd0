"""Warming: the route policy's `warm:` list, fetched when the origin is ONLINE and kept fresh.

```yaml
warm:
  urls: [/, /products]       # request targets (path + query) fetched through the cache
  follow: ["/products/*"]    # optional: links (href="...") in a listed URL's HTML answer whose
                             #   target matches one of these globs are warmed too (one level)
  max_urls: 500              # cap on listed + followed targets
  interval: 60               # seconds: every warmed target is revalidated this often
  concurrency: 2             # origin requests at a time
```

A bare list (`warm: [/, /products]`) is the same as `warm: {urls: [...]}`.

Each target is requested through the normal request path (`Proxy.handle`), so what is stored,
and for whom it may be reused, follows the same RFC 9111 rules as a client's request. When the
edge verifies credentials, the requests carry its device token (`Authorization: Bearer`): a
response is then kept for the edge's verified users only when the origin marked it shareable
(`public`), as for any credentialed request. In plain mode (no credential checks, where a copy
fetched with a credential serves only that credential) they go without one.

When to fetch is a pure decision (`due`): a target is due when it was never fetched, when its
stored entry is gone or was invalidated (a write through this edge, a route's `affects`, the
change feed), when its last fetch is older than `interval`, or at once after the origin comes
back ONLINE. While the origin is OFFLINE nothing is fetched. After a reconnection the full walk
waits (up to `REPLAY_GRACE_S`) until the outbox has replayed the writes queued offline, so the
copies show the synced state and the warmer does not compete with the replay.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import html
import logging
import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from edge_cache.messages import Request, Response
from edge_cache.warm_policy import WarmPolicy

if TYPE_CHECKING:  # these only name types
    from edge_cache.outbox import Outbox
    from edge_cache.parts import AuthLike, HealthLike
    from edge_cache.store import CacheStore

log = logging.getLogger("edge_cache.warming")

HREF_RE = re.compile(rb"""href\s*=\s*["']([^"'<>\s]+)["']""", re.IGNORECASE)
TICK_S = 1.0
REPLAY_GRACE_S = 60.0


class Fetcher(Protocol):
    async def handle(self, request: Request) -> Response: ...


# -- pure decisions -----------------------------------------------------------------------------


def links_in(body: bytes, patterns: Sequence[str]) -> list[str]:
    """Same-origin link targets (`href="/..."`) in an HTML body that match one of `patterns`
    (globs on path + query), in document order, without duplicates or fragments."""
    if not patterns:
        return []
    found: dict[str, None] = {}
    for match in HREF_RE.finditer(body):
        target = html.unescape(match.group(1).decode("utf-8", "replace")).split("#", 1)[0]
        if not target.startswith("/") or target.startswith("//") or "\\" in target:
            continue
        if any(fnmatch.fnmatchcase(target, p) for p in patterns):
            found.setdefault(target)
    return list(found)


@dataclass(slots=True)
class WarmState:
    """What the warmer knows of one target."""

    seed: bool  # listed in the policy (its links may be followed)
    fetched_at: float | None = None  # monotonic time of the last completed fetch
    status: int | None = None
    stored: bool = False  # the last fetch left a usable entry (so losing it means invalidated)


def due(
    states: dict[str, WarmState],
    now: float,
    interval: float,
    usable: Callable[[str], bool],
    *,
    everything: bool = False,
) -> list[str]:
    """Targets to fetch now, listed ones first. `usable(target)`: a valid stored entry exists."""
    out: list[str] = []
    for target, state in states.items():
        if (
            everything
            or state.fetched_at is None
            or now - state.fetched_at >= interval
            or (state.stored and not usable(target))
        ):
            out.append(target)
    out.sort(key=lambda t: not states[t].seed)
    return out


def add_followed(
    states: dict[str, WarmState], links: Iterable[str], max_urls: int
) -> list[str]:
    """Add followed links up to the cap; returns the targets that were new."""
    added = []
    for target in links:
        if len(states) >= max_urls:
            break
        if target not in states:
            states[target] = WarmState(seed=False)
            added.append(target)
    return added


# -- the loop -----------------------------------------------------------------------------------


@dataclass(slots=True)
class WalkResult:
    fetched: int = 0
    failed: int = 0
    statuses: dict[int, int] = field(default_factory=dict)


class Warmer:
    def __init__(
        self,
        policy: WarmPolicy,
        *,
        fetcher: Fetcher,
        store: CacheStore,
        health: HealthLike,
        outbox: Outbox | None,
        auth: AuthLike,
        device_token: str = "",
    ) -> None:
        self.policy = policy
        self.fetcher = fetcher
        self.store = store
        self.health = health
        self.outbox = outbox
        self.auth = auth
        self.device_token = device_token
        self.states: dict[str, WarmState] = {u: WarmState(seed=True) for u in policy.urls}
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._everything = True  # the first walk after (re)connecting fetches every target
        self._online_since = time.monotonic()
        self.walks = 0
        self.last_walk: WalkResult | None = None
        health.add_listener(self._on_transition)

    def _on_transition(self, state: str, reason: str) -> None:
        if state == "online":
            self._everything = True
            self._online_since = time.monotonic()
            self._wake.set()

    def _headers(self) -> list[tuple[str, str]]:
        headers = [("Accept", "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8"),
                   ("User-Agent", "edge-cache-warmer")]
        token = self.device_token
        if token and self.auth.enabled:
            headers.append(("Authorization", f"Bearer {token}"))
        return headers

    def _usable(self, target: str) -> bool:
        return any(not e.invalid for e in self.store.variants(target))

    def _replay_first(self) -> bool:
        """Whether the full walk after a reconnection should wait for the outbox to drain."""
        outbox = self.outbox
        if not self._everything or outbox is None or not outbox.depth():
            return False
        return time.monotonic() - self._online_since < REPLAY_GRACE_S

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self.run(), name="edge-cache-warmer")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def run(self) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), TICK_S)
            self._wake.clear()
            if not self.health.is_online() or self._replay_first():
                continue
            everything, self._everything = self._everything, False
            targets = due(self.states, time.monotonic(), self.policy.interval, self._usable,
                          everything=everything)
            if targets:
                try:
                    await self.walk(targets)
                except Exception:
                    log.exception("warm walk failed")

    async def walk(self, targets: Sequence[str]) -> WalkResult:
        """Fetch `targets` through the cache (bounded concurrency); follow links of seeds."""
        result = WalkResult()
        started = time.monotonic()
        queue = list(targets)
        gate = asyncio.Semaphore(self.policy.concurrency)

        async def one(target: str) -> None:
            async with gate:
                if not self.health.is_online():
                    return
                state = self.states[target]
                try:
                    resp = await self.fetcher.handle(Request("GET", target, self._headers()))
                except Exception as exc:
                    result.failed += 1
                    log.info("warm fetch failed", extra={
                        "event": "warm_failed", "target": target.split("?", 1)[0],
                        "error": type(exc).__name__})
                    return
                state.fetched_at = time.monotonic()
                state.status = resp.status
                state.stored = self._usable(target)
                result.fetched += 1
                result.statuses[resp.status] = result.statuses.get(resp.status, 0) + 1
                content_type = (resp.header("content-type") or "").lower()
                if state.seed and resp.status == 200 and "html" in content_type:
                    queue.extend(add_followed(
                        self.states, links_in(resp.body, self.policy.follow),
                        self.policy.max_urls))

        while queue:
            batch, queue[:] = list(queue), []
            await asyncio.gather(*(one(t) for t in batch))
        self.walks += 1
        self.last_walk = result
        log.info("warm walk", extra={
            "event": "warm_walk", "fetched": result.fetched, "failed": result.failed,
            "statuses": {str(k): v for k, v in sorted(result.statuses.items())},
            "targets": len(self.states), "ms": round((time.monotonic() - started) * 1000)})
        return result

