"""Request coalescing: concurrent misses for one key share one origin fetch (nginx
`proxy_cache_lock` semantics): waiters get the leader's result, or None after the timeout (or when
the leader failed), and then go to the origin themselves without caching."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

T = TypeVar("T")


class Coalescer(Generic[T]):
    def __init__(self) -> None:
        self._inflight: dict[Hashable, asyncio.Future[T | None]] = {}

    def inflight(self) -> int:
        return len(self._inflight)

    async def run(
        self, key: Hashable, fetch: Callable[[], Awaitable[T]], wait: float
    ) -> tuple[T | None, bool]:
        """(result, waited): the leader runs `fetch`; others wait up to `wait` seconds."""
        fut = self._inflight.get(key)
        if fut is not None:
            try:
                return await asyncio.wait_for(asyncio.shield(fut), wait), True
            except TimeoutError:
                return None, True
        fut = asyncio.get_running_loop().create_future()
        self._inflight[key] = fut
        result: T | None = None
        try:
            result = await fetch()
            return result, False
        finally:
            del self._inflight[key]
            if not fut.done():
                fut.set_result(result)
