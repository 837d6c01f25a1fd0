"""HTTP load helpers for the benchmarks: keep-alive sequences, cache fills, write bursts."""

from __future__ import annotations

import asyncio
import http.client
import sys
import time
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import numpy as np
from tqdm.auto import tqdm


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


def post_one(client: KeepAliveClient, path: str, n: int) -> Sample:
    """One write as a till sends it (JSON body, its own `Idempotency-Key`), on `client`."""
    body = f'{{"n": {n}, "id": "{uuid.uuid4()}"}}'.encode()
    headers = {"Content-Type": "application/json", "Idempotency-Key": str(uuid.uuid4())}
    return client.request("POST", path, body, headers)


FILL_PREFIX = "fill-"


def _bar(total: int, desc: str, show: bool) -> Any:
    return tqdm(total=total, desc=desc, unit="req", disable=not show, leave=False, file=sys.stderr)


async def fill_keys(
    base_url: str, count: int, concurrency: int, bar: Any = None
) -> int:
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
            finally:
                if bar is not None:
                    bar.update(1)

    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    return ok


async def fill_all(
    urls: dict[str, str], count: int, show_progress: bool = False
) -> dict[str, tuple[int, float]]:
    """Fill every cache in `urls` at the same time; name → (keys answered 200, seconds)."""

    async def one(name: str, url: str) -> tuple[int, float]:
        started = time.monotonic()
        with _bar(count, f"fill {name}", show_progress) as bar:
            ok = await fill_keys(url, count, concurrency=64, bar=bar)
        return ok, max(time.monotonic() - started, 1e-9)

    results = await asyncio.gather(*(one(name, url) for name, url in urls.items()))
    return dict(zip(urls, results, strict=True))


async def post_many(
    base_url: str, offset: int, count: int, concurrency: int, show_progress: bool = False
) -> int:
    """POST `count` distinct writes (``/items/w<n>``) concurrently; returns how many got 202."""
    import aiohttp

    accepted = 0
    next_index = offset
    end = offset + count

    async def worker(session: aiohttp.ClientSession, bar: Any) -> None:
        nonlocal accepted, next_index
        while next_index < end:
            i = next_index
            next_index += 1
            headers = {"Idempotency-Key": str(uuid.uuid4())}
            try:
                async with session.post(
                    f"{base_url}/items/w{i}", json={"n": i}, headers=headers
                ) as response:
                    await response.read()
                    accepted += response.status == 202
            except (aiohttp.ClientError, TimeoutError):
                continue
            finally:
                bar.update(1)

    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=30)
    with _bar(count, "enqueue", show_progress) as bar:
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            await asyncio.gather(*(worker(session, bar) for _ in range(concurrency)))
    return accepted
