"""Origin health: an active prober with hysteresis plus passive per-request failure reports.

The state starts UNKNOWN (DESIGN.md §4): until the first probe succeeds the edge answers as
if OFFLINE (stored responses as OFFLINE-HIT, writes queued), so a restart while the link is down
never dials a dead origin from a client request. The prober's first probe runs at once at
start; one success makes the state ONLINE, one failure (or a passive failure report) OFFLINE.

Two layers (DESIGN.md §4, research note (b)2):

* passive: the request path calls `record_failure()` on any transport error or deadline; the
  state flips to OFFLINE at once, so the next client request is served locally;
* active: `run()` probes `GET <probe_path>` on a new connection (`OriginClient.probe`) every
  `interval` seconds with a `timeout`. While ONLINE, a refused/reset connection flips to
  OFFLINE at once; other failures (timeouts, 5xx) flip it after `fall` failures within the
  last `window` probes. While OFFLINE, `rise` consecutive successful probes bring it back
  ONLINE (hysteresis). Once OFFLINE only the prober dials the origin.

Listeners registered with `add_listener` are called (synchronously, from the event loop) on every
transition; the replayer and the change-feed follower wait with `wait_online()`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable

from edge_cache.origin_client import OriginClient, OriginError
from edge_cache.settings import Settings

log = logging.getLogger("edge_cache.health")

ONLINE = "online"
OFFLINE = "offline"
UNKNOWN = "unknown"

Listener = Callable[[str, str], None]  # (new_state, reason)


class OriginHealth:
    """UNKNOWN/ONLINE/OFFLINE state of the single origin (UNKNOWN is answered as OFFLINE)."""

    can_go_offline = True  # (the stand-in `standins.AlwaysOnline` never does)

    def __init__(
        self,
        origin: OriginClient,
        *,
        probe_path: str = "/healthz",
        interval: float = 1.0,
        timeout: float = 0.5,
        window: int = 3,
        fall: int = 2,
        rise: int = 2,
        initial_online: bool | None = None,
    ) -> None:
        if not 1 <= fall <= window:
            raise ValueError("probe fall threshold must be between 1 and the window size")
        if rise < 1:
            raise ValueError("probe rise threshold must be at least 1")
        self.origin = origin
        self.probe_path = probe_path if probe_path.startswith("/") else "/" + probe_path
        self.interval = interval
        self.timeout = timeout
        self.window = window
        self.fall = fall
        self.rise = rise
        # None: UNKNOWN until the first probe; True/False pin a known start (unit tests)
        self.state = UNKNOWN if initial_online is None else (ONLINE if initial_online else OFFLINE)
        self.since = time.time()
        self.last_reason = "start"
        self.last_suspect = ""  # the last transport failure a client request reported
        self.previous = self.state  # the state before the latest change (listeners read it)
        self.transitions = 0  # ONLINE<->OFFLINE changes; the first verdict is not counted
        self.probes = 0
        self.probe_failures = 0
        self._recent: deque[bool] = deque(maxlen=window)  # True = probe succeeded
        self._successes_in_row = 0
        self._listeners: list[Listener] = []
        self._online_event = asyncio.Event()
        self._offline_event = asyncio.Event()
        self._set_events()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._wake = asyncio.Event()

    @classmethod
    def from_settings(cls, settings: Settings, origin: OriginClient) -> OriginHealth:
        return cls(
            origin,
            probe_path=settings.probe_path,
            interval=settings.probe_interval,
            timeout=settings.probe_timeout,
            window=settings.probe_window,
            fall=settings.probe_failures,
            rise=settings.probe_successes,
        )

    # -- state ------------------------------------------------------------------------------

    def is_online(self) -> bool:
        return self.state == ONLINE

    def is_known(self) -> bool:
        """False until the first probe (or failure report) has decided ONLINE or OFFLINE."""
        return self.state != UNKNOWN

    def add_listener(self, listener: Listener) -> None:
        """Call `listener(new_state, reason)` on every transition."""
        self._listeners.append(listener)

    async def wait_online(self) -> None:
        await self._online_event.wait()

    async def wait_offline(self) -> None:
        await self._offline_event.wait()

    def record_failure(self, reason: str) -> None:
        """A client request (or replay) hit a transport error or deadline: OFFLINE at once."""
        if self.state != OFFLINE:
            self._transition(OFFLINE, reason)
        self._successes_in_row = 0

    def record_success(self) -> None:
        """A request reached the origin. Does not by itself bring the state back ONLINE:
        while OFFLINE only the prober decides (hysteresis)."""
        if self.state == ONLINE:
            self._recent.append(True)

    def suspect(self, reason: str) -> None:
        """A client request hit a transport failure: probe now; the prober decides the state."""
        self.last_suspect = reason
        self._wake.set()

    def status(self) -> dict[str, object]:
        return {
            "state": self.state,
            "since": self.since,
            "reason": self.last_reason,
            "transitions": self.transitions,
            "probes": self.probes,
            "probe_failures": self.probe_failures,
        }

    def _set_events(self) -> None:
        # UNKNOWN counts as not online: nobody waiting for ONLINE may dial the origin yet
        if self.state == ONLINE:
            self._offline_event.clear()
            self._online_event.set()
        else:
            self._online_event.clear()
            self._offline_event.set()

    def _transition(self, new_state: str, reason: str) -> None:
        if new_state == self.state:
            return
        old = self.state
        self.previous = old
        self.state = new_state
        self.since = time.time()
        self.last_reason = reason
        if old != UNKNOWN:
            self.transitions += 1
        self._recent.clear()
        self._successes_in_row = 0
        self._set_events()
        self._wake.set()  # probe again soon after a transition
        log.warning(
            "origin %s",
            new_state,
            extra={"event": "origin_" + new_state, "from": old, "reason": reason,
                   "origin": self.origin.base},
        )
        for listener in list(self._listeners):
            try:
                listener(new_state, reason)
            except Exception:  # a broken listener must not break health tracking
                log.exception("health listener failed", extra={"event": "listener_error"})

    # -- prober -----------------------------------------------------------------------------

    def _probe_result(self, ok: bool, reason: str, definitive: bool) -> None:
        self.probes += 1
        if not ok:
            self.probe_failures += 1
        if self.state == UNKNOWN:  # the first verdict decides at once
            if ok:
                self._transition(ONLINE, "probe: first probe succeeded")
            else:
                self._transition(OFFLINE, "probe: " + reason)
            return
        if self.state == ONLINE:
            self._recent.append(ok)
            if not ok:
                failures = sum(1 for r in self._recent if not r)
                if definitive or failures >= self.fall:
                    self._transition(OFFLINE, "probe: " + reason)
        else:
            if ok:
                self._successes_in_row += 1
                if self._successes_in_row >= self.rise:
                    self._transition(ONLINE, f"probe: {self.rise} consecutive successes")
            else:
                self._successes_in_row = 0

    async def probe_once(self) -> tuple[bool, str, bool]:
        """One probe: (ok, reason, definitive). Refused/reset connections are definitive."""
        try:
            resp = await self.origin.probe(self.probe_path, deadline=self.timeout)
        except OriginError as exc:
            return False, f"{exc.kind}: {exc.detail}", exc.definitive
        if resp.status >= 500:  # the probe path names the origin's own health
            return False, f"status {resp.status}", False
        return True, f"status {resp.status}", False

    async def run(self) -> None:
        """Probe until `stop()`; each probe uses a new connection."""
        self._stopping = False
        while not self._stopping:
            started = time.monotonic()
            try:
                ok, reason, definitive = await self.probe_once()
            except Exception as exc:  # never let one odd failure stop the prober
                log.exception("probe failed unexpectedly", extra={"event": "probe_error"})
                ok, reason, definitive = False, f"probe error: {exc}", False
            if self._stopping:
                break
            self._probe_result(ok, reason, definitive)
            delay = max(0.0, self.interval - (time.monotonic() - started))
            if not ok and self.state == ONLINE:
                delay = 0.0  # a suspect origin is confirmed (or cleared) at once
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=delay)

    def start(self) -> asyncio.Task[None]:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self.run(), name="edge-cache-prober")
        return self._task

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
