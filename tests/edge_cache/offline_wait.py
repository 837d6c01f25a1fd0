"""Polling helper for the offline-half tests: wait for a condition with a generous deadline."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


async def wait_until(pred: Callable[[], bool], deadline: float = 30.0) -> float:
    """Poll `pred` every 10 ms; return the seconds it took; fail after `deadline` seconds."""
    start = time.monotonic()
    while not pred():
        if time.monotonic() - start > deadline:
            raise AssertionError(f"condition not reached within {deadline:.0f}s")
        await asyncio.sleep(0.01)
    return time.monotonic() - start
