"""The one polling wait of the async tests: poll a condition with a deadline, never sleep and
hope. (Synchronous code, tests included, uses `edgelab.process.wait_until`.)"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable


async def wait_until(
    pred: Callable[[], bool | Awaitable[bool]],
    deadline: float = 30.0,
    what: str = "condition",
    interval: float = 0.01,
) -> float:
    """Poll `pred` (plain or async) every `interval` s; return the seconds it took; fail after
    `deadline` seconds, naming `what`."""
    start = time.monotonic()
    while True:
        result = pred()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return time.monotonic() - start
        if time.monotonic() - start > deadline:
            raise AssertionError(f"{what} not reached within {deadline:.0f}s")
        await asyncio.sleep(interval)
