"""Login throttling: after repeated failed logins of one user from one client address, further
attempts are refused for a while (pure state machine; the HTTP side is `api/login_guard.py`).

Rule: `max_failures` failures within `window` → blocked for `lockout`; each failure while the
count is still over the limit (after the block ended) blocks again. A success clears the key.
State lives in memory (per process), bounded to `max_keys` entries (oldest dropped first).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field


@dataclass
class _Entry:
    failures: list[float] = field(default_factory=list)
    blocked_until: float = 0.0


class LoginThrottle:
    def __init__(self, max_failures: int, window_s: float, lockout_s: float,
                 max_keys: int = 10_000) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self.lockout_s = lockout_s
        self.max_keys = max_keys
        self._entries: OrderedDict[tuple[str, str], _Entry] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def key(username: str, client: str) -> tuple[str, str]:
        return (username.strip().casefold(), client)

    def retry_after(self, key: tuple[str, str], now: float) -> float | None:
        """Seconds until `key` may try again, or None when it may try now."""
        if self.max_failures <= 0:
            return None
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry.blocked_until <= now:
                return None
            return entry.blocked_until - now

    def failed(self, key: tuple[str, str], now: float) -> None:
        """Count a failed attempt (blocks the key once it has too many in the window)."""
        if self.max_failures <= 0:
            return
        with self._lock:
            entry = self._entries.pop(key, None) or _Entry()
            entry.failures = [t for t in entry.failures if t > now - self.window_s]
            entry.failures.append(now)
            if len(entry.failures) >= self.max_failures:
                entry.blocked_until = now + self.lockout_s
            self._entries[key] = entry  # most recent last
            while len(self._entries) > self.max_keys:
                self._entries.popitem(last=False)

    def succeeded(self, key: tuple[str, str]) -> None:
        with self._lock:
            self._entries.pop(key, None)
