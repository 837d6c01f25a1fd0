"""A stand-in with the interface of `health.OriginHealth`: an origin that is always considered
online (tests that need no prober; `wiring.build(settings, health=False)`)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


class AlwaysOnline:
    """Origin health without probing: always ONLINE (plain caching-proxy mode)."""

    state = "online"
    can_go_offline = False

    def __init__(self) -> None:
        self.since = time.time()

    def is_online(self) -> bool:
        return True

    def is_known(self) -> bool:
        return True

    def record_failure(self, reason: str) -> None:
        pass

    def record_success(self) -> None:
        pass

    def suspect(self, reason: str) -> None:
        pass

    async def wait_online(self) -> None:
        return None  # always online

    async def wait_offline(self) -> None:
        await asyncio.Event().wait()  # never

    def add_listener(self, listener: Callable[[str, str], None]) -> None:
        pass

    def status(self) -> dict[str, object]:
        return {"state": self.state, "since": self.since}

    def start(self) -> None:
        pass

    async def run(self) -> None:
        pass

    async def stop(self) -> None:
        pass
