"""HTTP load helpers for the benchmarks: keep-alive sequences, cache fills, write bursts."""

from __future__ import annotations

import asyncio
import http.client
import time
import uuid
from dataclasses import dataclass

import httpx
import numpy as np


@dataclass
class Sample:
    latency_ms: float
    status: int | None
    cache: str | None


def percentile(values: list[float], q: float) -> float | None:
    return float(np.percentile(values, q)) if values else None


class KeepAliveClient:
    """Sequential requests over one keep-alive connection (reconnects after errors)."""

    def __init__(self, base_url: str, timeout_s: float = 10.0) -> None:
        parsed = httpx.URL(base_url)
        self.host = parsed.host
        self.port = parsed.port or 80
        self.timeout_s = timeout_s
        self.conn: http.client.HTTPConnection | None = None

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
        cache_header: str = "X-Edge-Cache",
    ) -> Sample:
        start = time.perf_counter()
        try:
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout_s)
            self.conn.request(method, path, body=body, headers=headers or {})
            response = self.conn.getresponse()
            response.read()
            elapsed = (time.perf_counter() - start) * 1000
            sample = Sample(elapsed, response.status, response.getheader(cache_header))
            if response.getheader("Connection", "").lower() == "close":
                self.close()
            return sample
        except (OSError, http.client.HTTPException):
            self.close()
            return Sample((time.perf_counter() - start) * 1000, None, None)

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


FILL_PREFIX = "fill-"


async def fill_keys(base_url: str, count: int, concurrency: int) -> int:
    """GET `count` distinct keys (a miss each, so each is stored); returns how many were 200."""
    import aiohttp

    ok = 0
    next_key = 0

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal ok, next_key
        while next_key < count:
            key = next_key
            next_key += 1
            try:
                async with session.get(f"{base_url}/items/{FILL_PREFIX}{key}") as response:
                    await response.read()
                    ok += response.status == 200
            except (aiohttp.ClientError, TimeoutError):
                continue

    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    return ok


async def fill_all(urls: dict[str, str], count: int) -> dict[str, tuple[int, float]]:
    """Fill every cache in `urls` at the same time; name → (keys answered 200, seconds)."""

    async def one(url: str) -> tuple[int, float]:
        started = time.monotonic()
        ok = await fill_keys(url, count, concurrency=64)
        return ok, max(time.monotonic() - started, 1e-9)

    results = await asyncio.gather(*(one(url) for url in urls.values()))
    return dict(zip(urls, results, strict=True))


async def post_many(base_url: str, offset: int, count: int, concurrency: int) -> int:
    """POST `count` distinct writes concurrently; returns how many were answered 202."""
    accepted = 0
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(offset, offset + count):
        queue.put_nowait(i)

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal accepted
        while not queue.empty():
            i = queue.get_nowait()
            headers = {"Idempotency-Key": str(uuid.uuid4())}
            try:
                response = await client.post(
                    f"{base_url}/items/w{i}", json={"n": i}, headers=headers
                )
            except httpx.HTTPError:
                continue
            if response.status_code == 202:
                accepted += 1

    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(timeout=10, limits=limits) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    return accepted
