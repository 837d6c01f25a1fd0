"""The sidecar's status report: `/_edge/status` (with details) and the outbox gauges.

Built by `wiring.build` from the parts it reads; nothing here does I/O beyond reading them.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from edge_cache.changefeed import ChangeFeedFollower
from edge_cache.outbox import Outbox, Replayer
from edge_cache.parts import AuthLike, HealthLike
from edge_cache.store import CacheStore


class EdgeStatus:
    def __init__(
        self,
        *,
        clock: Callable[[], float],
        store: CacheStore,
        health: HealthLike,
        outbox: Outbox | None,
        replayer: Replayer | None,
        changefeed: ChangeFeedFollower | None,
        auth: AuthLike,
    ) -> None:
        self.clock = clock
        self.store = store
        self.health = health
        self.outbox = outbox
        self.replayer = replayer
        self.changefeed = changefeed
        self.auth = auth

    def summary(self) -> dict[str, object]:
        stats = self.store.stats()
        outbox = self.outbox
        replayer = self.replayer
        return {
            "state": self.health.state,
            "since": self.health.since,
            "outbox_depth": outbox.depth() if outbox is not None else 0,
            "outbox_oldest_age_s": outbox.oldest_age() if outbox is not None else None,
            "outbox_oldest": self.oldest_entry(),
            "outbox_waiting": self.waiting(),
            "dead_letters": outbox.dead_count() if outbox is not None else 0,
            "last_sync": replayer.last_success_at if replayer is not None else None,
            "cache_entries": stats["entries"],
            "cache_bytes": stats["bytes"],
            "hits": stats["hits"],
            "misses": stats["misses"],
        }

    def details(self) -> dict[str, object]:
        """`summary()` plus the prober's, the replayer's, the change feed's and auth's own."""
        out = self.summary()
        out["origin"] = self.health.status()
        replayer = self.replayer
        feed = self.changefeed
        syncs = [replayer.last_success_at if replayer is not None else None,
                 feed.last_ok_at if feed is not None else None]
        known = [s for s in syncs if s is not None]
        out["last_sync"] = max(known) if known else None
        if replayer is not None:
            out["replay"] = {"inflight": replayer.inflight(), **replayer.counts}
        if self.outbox is not None:
            out["outbox_bytes"] = self.outbox.bytes_used()
        if feed is not None:
            out["changefeed"] = feed.status()
        out["auth"] = self.auth.status()
        return out

    def oldest_entry(self) -> dict[str, object] | None:
        """The longest-queued write and why it is still waiting (a stuck queue shows here)."""
        ref = self.outbox.oldest() if self.outbox is not None else None
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
        return self.replayer.clock() if self.replayer is not None else time.time()

    def waiting(self) -> int:
        """Queued writes waiting out a back-off (by the replayer's clock)."""
        return self.outbox.waiting(self._replay_now()) if self.outbox is not None else 0
