"""Following the origin's change feed (docs/contracts.md §2) to evict exactly what changed.

While the origin is ONLINE the follower long-polls
`GET <EDGE_CACHE_CHANGES_PATH>?since=<seq>&limit=<n>&feed=longpoll&timeout=<ms>` with the device
token, evicts every cached entry whose path is listed in a change's `paths` (any query string,
any variant), drops a revoked token's digest at once (`{"entity": "token", "op": "delete",
"id": <sha256>}`, so an offline edge refuses what it knew to be revoked), then persists the
checkpoint (`changefeed.json` in the data dir, written atomically). After a restart or an
outage it resumes from the checkpoint, so changes made while the edge was cut off are evicted
as soon as it reconnects.

* `410 Gone` (the checkpoint is older than the origin's retention): the whole cache is purged,
  since what the feed would have told us is lost, and following restarts from the current seq.
* `404` for the feed path: the origin has no change feed; the follower disables itself.
* Transport errors and 5xx: retry after a short pause (the health prober decides ONLINE/OFFLINE).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from edge_cache.origin_client import OriginClient, OriginError
from edge_cache.parts import HealthLike

log = logging.getLogger("edge_cache.changefeed")

CHECKPOINT_FILE = "changefeed.json"


class ChangeFeedFollower:
    def __init__(
        self,
        *,
        origin: OriginClient,
        path: str,
        health: HealthLike,
        evict: Callable[[str], object],
        purge: Callable[[], object],
        revoke: Callable[[str], Awaitable[bool]] | None = None,
        data_dir: str | os.PathLike[str] | None = None,
        device_token: str = "",
        timeout: float = 25.0,
        limit: int = 500,
        retry_pause: float = 1.0,
        on_evicted: Callable[[int], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.origin = origin
        self.path = path
        self.health = health
        self.evict = evict
        self.purge = purge
        self.revoke = revoke
        self.revoked = 0
        self.file = Path(data_dir) / CHECKPOINT_FILE if data_dir is not None else None
        self.device_token = device_token
        self.timeout = timeout
        self.limit = limit
        self.retry_pause = retry_pause
        self.on_evicted = on_evicted
        self.clock = clock
        self.enabled = True
        self.last_seq: int | None = None
        self.last_ok_at: float | None = None
        self.last_error: str | None = None
        self.changes_seen = 0
        self.evicted = 0
        self.resets = 0
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._load()

    # -- checkpoint -------------------------------------------------------------------------

    def _load(self) -> None:
        if self.file is None or not self.file.exists():
            return
        try:
            data = json.loads(self.file.read_text(encoding="utf-8"))
            if data.get("origin") == self.origin.base and data.get("path") == self.path:
                self.last_seq = int(data["last_seq"])
        except (OSError, ValueError, TypeError, KeyError) as exc:
            log.warning("change-feed checkpoint unreadable; starting from the current seq",
                        extra={"event": "changefeed_checkpoint_unreadable", "error": str(exc)})

    def _save(self) -> None:
        if self.file is None or self.last_seq is None:
            return
        self.file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.file.with_suffix(".tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(
                {"origin": self.origin.base, "path": self.path, "last_seq": self.last_seq}, fh
            )
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.file)

    def status(self) -> dict[str, Any]:
        return {
            "enabled": self.enabled,
            "path": self.path,
            "last_seq": self.last_seq,
            "last_ok_at": self.last_ok_at,
            "changes": self.changes_seen,
            "evicted": self.evicted,
            "resets": self.resets,
            "last_error": self.last_error,
        }

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self.run(), name="edge-cache-changefeed")

    async def stop(self) -> None:
        self._stopping = True
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def run(self) -> None:
        self._stopping = False
        while not self._stopping and self.enabled:
            if not self.health.is_online():
                await self.health.wait_online()
                continue
            try:
                pause = await self.poll()
            except (OriginError, ValueError) as exc:
                self.last_error = str(exc) if isinstance(exc, OriginError) else (
                    f"{type(exc).__name__}: {exc}")
                pause = self.retry_pause
            if pause:
                await asyncio.sleep(pause)

    # -- one poll -----------------------------------------------------------------------------

    async def poll(self) -> float:
        """One request to the feed; returns how long to pause before the next one."""
        if self.last_seq is None:
            target = self.path
            deadline = 10.0
        else:
            target = (f"{self.path}?since={self.last_seq}&limit={self.limit}"
                      f"&feed=longpoll&timeout={int(self.timeout * 1000)}")
            deadline = self.timeout + 10.0
        headers = [("Accept", "application/json")]
        if self.device_token:
            headers.append(("Authorization", f"Bearer {self.device_token}"))
        # a long poll: kept out of the origin latency histogram
        resp = await self.origin.send("GET", target, headers, deadline=deadline, measured=False)
        raw, status = resp.body, resp.status
        if status == 404:
            self.enabled = False
            log.warning("origin has no change feed; following disabled",
                        extra={"event": "changefeed_disabled", "path": self.path})
            return 0.0
        if status == 410:
            await self._reset(raw)
            return 0.0
        if status != 200:
            self.last_error = f"HTTP {status}"
            return self.retry_pause
        data = json.loads(raw)
        results = data.get("results") or []
        if self.last_seq is None:
            self.last_seq = int(data["last_seq"])
            await asyncio.to_thread(self._save)
            self.last_ok_at = self.clock()
            log.info("change feed: following from the current seq",
                     extra={"event": "changefeed_start", "last_seq": self.last_seq})
            return 0.0
        evicted = 0
        for change in results:
            if (self.revoke is not None and change.get("entity") == "token"
                    and change.get("op") == "delete" and isinstance(change.get("id"), str)):
                await self.revoke(change["id"])  # a revoked token or ended session
                self.revoked += 1
            for path in change.get("paths") or []:
                if isinstance(path, str) and path.startswith("/"):
                    evicted += await self._evict(path)
        self.changes_seen += len(results)
        # After a page of changes continue from its last seq (an origin may cap pages below our
        # limit); only an empty answer moves the checkpoint to the origin's `last_seq`.
        if results:
            new_seq = max(int(c["seq"]) for c in results)
        else:
            new_seq = int(data.get("last_seq", self.last_seq))
        if new_seq != self.last_seq:
            self.last_seq = new_seq
            await asyncio.to_thread(self._save)
        self.last_ok_at = self.clock()
        self.last_error = None
        if results:
            log.info("change feed applied", extra={
                "event": "changefeed_applied", "changes": len(results), "evicted": evicted,
                "last_seq": self.last_seq})
        return 0.0

    async def _evict(self, path: str) -> int:
        result = self.evict(path)
        if inspect.isawaitable(result):
            result = await result
        n = int(result) if isinstance(result, int) else 0
        self.evicted += n
        if n and self.on_evicted is not None:
            self.on_evicted(n)
        return n

    async def _reset(self, raw: bytes) -> None:
        result = self.purge()
        if inspect.isawaitable(result):
            result = await result
        self.resets += 1
        current: int | None = None
        with contextlib.suppress(ValueError, TypeError, KeyError):
            current = int(json.loads(raw)["last_seq"])
        self.last_seq = current
        if current is not None:
            await asyncio.to_thread(self._save)
        log.warning("change feed checkpoint expired (410): cache purged",
                    extra={"event": "changefeed_reset", "purged": result, "last_seq": current})

