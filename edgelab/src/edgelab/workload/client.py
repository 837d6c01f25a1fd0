"""An async HTTP workload client that records every request's outcome, cache status and latency.

    rows = await run_workload(ops, {"shop-1": "http://127.0.0.1:8080"}, token=..., duration_s=30)

Each of the `concurrency` workers is one client. With ``think_time_s`` a worker is a clerk:
after every answer it pauses for a seeded exponential think time of that mean, so it sends
about ``1 / (think_time_s + latency)`` requests per second, online or offline alike (an
outage then queues what a shop really sells in that time, not what a tight loop can send).
``rate_per_s`` instead paces the whole run (open loop, all workers together).

or, to cut a link while it runs::

    runner = WorkloadRunner(ops, urls, token=..., duration_s=60)
    runner.start()
    await asyncio.sleep(10); link.down(); outage_at = runner.elapsed() ...
    table = await runner.wait()          # or runner.stop(); await runner.wait()

One row per request (pandas DataFrame, columns `COLUMNS`): ``t`` (s since start),
``edge``, ``kind``, ``method``, ``route``, ``path``, ``status`` (nullable int),
``cache_status`` (``X-Edge-Cache``), ``outbox_depth`` (``X-Edge-Outbox-Depth``),
``latency_ms``, ``outcome`` (``ok``, ``queued`` for 202, ``error`` for 4xx/5xx,
``timeout``, ``conn_error``), ``doc_id`` and ``idempotency_key`` (writes), ``error``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import httpx
import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from edgelab.workload.mixes import Operation

COLUMNS = [
    "t",
    "edge",
    "kind",
    "method",
    "route",
    "path",
    "status",
    "cache_status",
    "outbox_depth",
    "latency_ms",
    "outcome",
    "doc_id",
    "idempotency_key",
    "error",
]
OUTCOMES = ("ok", "queued", "error", "timeout", "conn_error")
PROGRESS_AFTER_S = 3.0


def outcome_of(status: int) -> str:
    """Map an HTTP status to an outcome."""
    if status == 202:
        return "queued"
    if status >= 400:
        return "error"
    return "ok"


def _int_header(headers: httpx.Headers, name: str) -> int | None:
    value = headers.get(name)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None


class WorkloadRunner:
    """Runs operations against edges with a concurrency limit until a bound or `stop()`."""

    def __init__(
        self,
        operations: Iterable[Operation],
        base_urls: Mapping[str, str],
        *,
        token: str | Mapping[str, str] | None = None,
        concurrency: int = 8,
        duration_s: float | None = None,
        max_requests: int | None = None,
        timeout_s: float = 5.0,
        rate_per_s: float | None = None,
        progress: bool | None = None,
        description: str = "workload",
        headers: Mapping[str, str] | None = None,
        think_time_s: float | None = None,
        seed: int = 0,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency}")
        if duration_s is not None and duration_s <= 0:
            raise ValueError(f"duration_s must be > 0, got {duration_s}")
        if max_requests is not None and max_requests < 0:
            raise ValueError(f"max_requests must be >= 0, got {max_requests}")
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be > 0, got {timeout_s}")
        if rate_per_s is not None and rate_per_s <= 0:
            raise ValueError(f"rate_per_s must be > 0, got {rate_per_s}")
        if think_time_s is not None and think_time_s < 0:
            raise ValueError(f"think_time_s must be >= 0, got {think_time_s}")
        self.think_time_s = think_time_s
        self._think = np.random.default_rng(seed)
        self._ops: Iterator[Operation] = iter(operations)
        self.base_urls = {edge: url.rstrip("/") for edge, url in base_urls.items()}
        self.token = token
        self.concurrency = concurrency
        self.duration_s = duration_s
        self.max_requests = max_requests
        self.timeout_s = timeout_s
        self.rate_per_s = rate_per_s
        self.description = description
        self.headers = dict(headers or {})
        if progress is None:
            progress = (duration_s or 0) >= PROGRESS_AFTER_S or (max_requests or 0) >= 1000
        self.progress = progress
        self.rows: list[dict[str, Any]] = []
        self.t0 = time.monotonic()
        self.started_at = time.time()
        self._stop = asyncio.Event()
        self._issued = 0
        self._task: asyncio.Task[pd.DataFrame] | None = None
        self._bar: Any = None

    # -- control -------------------------------------------------------------------------
    def elapsed(self) -> float:
        """Seconds since the run started (the time base of column ``t``)."""
        return time.monotonic() - self.t0

    def start(self) -> asyncio.Task[pd.DataFrame]:
        """Start in the background (inside a running event loop); returns the task."""
        if self._task is None:
            self._task = asyncio.ensure_future(self.run())
        return self._task

    def stop(self) -> None:
        """Ask the workers to finish their current request and stop."""
        self._stop.set()

    async def wait(self) -> pd.DataFrame:
        """Wait for the background run (started by `start()`) and return its table."""
        if self._task is None:
            raise RuntimeError("WorkloadRunner.wait() before start()")
        return await self._task

    def table(self) -> pd.DataFrame:
        """The rows recorded so far."""
        return to_frame(self.rows, self.started_at)

    # -- running -------------------------------------------------------------------------
    def _next(self) -> Operation | None:
        if self._stop.is_set():
            return None
        if self.max_requests is not None and self._issued >= self.max_requests:
            return None
        if self.duration_s is not None and self.elapsed() >= self.duration_s:
            return None
        op = next(self._ops, None)
        if op is None:
            return None
        if op.edge not in self.base_urls:
            known = sorted(self.base_urls)
            raise ValueError(f"operation for unknown edge {op.edge!r}; known edges: {known}")
        self._issued += 1
        return op

    def _auth(self, edge: str) -> dict[str, str]:
        token = self.token.get(edge) if isinstance(self.token, Mapping) else self.token
        return {"Authorization": f"Bearer {token}"} if token else {}

    async def run(self) -> pd.DataFrame:
        """Run to completion in the current task and return the table."""
        self.t0 = time.monotonic()
        self.started_at = time.time()
        total: float | None = self.max_requests
        unit = "req"
        if total is None and self.duration_s is not None:
            total, unit = self.duration_s, "s"
        self._bar = tqdm(
            total=total, unit=unit, desc=self.description, disable=not self.progress, leave=False
        )
        limits = httpx.Limits(
            max_connections=self.concurrency, max_keepalive_connections=self.concurrency
        )
        try:
            async with httpx.AsyncClient(limits=limits, timeout=self.timeout_s) as client:
                workers = [
                    asyncio.ensure_future(self._worker(client)) for _ in range(self.concurrency)
                ]
                try:
                    await asyncio.gather(*workers)
                finally:
                    for worker in workers:
                        worker.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await asyncio.gather(*workers, return_exceptions=True)
        finally:
            self._bar.close()
        return self.table()

    async def _pace(self) -> None:
        if self.rate_per_s is None:
            return
        slot = self.t0 + (self._issued - 1) / self.rate_per_s
        delay = slot - time.monotonic()
        if delay > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), delay)

    async def _worker(self, client: httpx.AsyncClient) -> None:
        while True:
            op = self._next()
            if op is None:
                return
            await self._pace()
            if self._stop.is_set():
                return
            if op.expected_from is not None:
                op = await self._fill_expected(client, op)
            self.rows.append(await self._request(client, op))
            self._tick()
            await self._think_a_moment()

    async def _think_a_moment(self) -> None:
        """A clerk's pause between two requests (seeded exponential, mean `think_time_s`)."""
        if not self.think_time_s:
            return
        delay = float(self._think.exponential(self.think_time_s))
        if self.duration_s is not None:
            delay = min(delay, max(0.0, self.duration_s - self.elapsed()))
        if delay > 0:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), delay)

    def _tick(self) -> None:
        if self._bar is None or self._bar.disable:
            return
        if self.max_requests is not None:
            self._bar.update(1)
        elif self.duration_s is not None:
            done = min(self.elapsed(), self.duration_s)
            self._bar.update(done - self._bar.n)
        else:
            self._bar.update(1)

    async def _fill_expected(self, client: httpx.AsyncClient, op: Operation) -> Operation:
        """A stocktake: read the balance, then count it (± the seeded delta)."""
        assert op.expected_from is not None and op.body is not None
        read = Operation("stock", "GET", "/api/warehouses/{warehouse_id}/stock/{id}",
                         op.expected_from, op.edge)
        row = await self._request(client, read)
        self.rows.append(row)
        expected = int(row.pop("_qty", 0) or 0)
        body = dict(op.body)
        line = dict(body["lines"][0])
        line["expected_qty"] = expected
        line["counted_qty"] = max(0, expected + op.count_delta)
        body["lines"] = [line]
        return Operation(
            kind=op.kind,
            method=op.method,
            route=op.route,
            path=op.path,
            edge=op.edge,
            body=body,
            idempotency_key=op.idempotency_key,
        )

    async def _request(self, client: httpx.AsyncClient, op: Operation) -> dict[str, Any]:
        headers = {**self.headers, **self._auth(op.edge)}
        if op.idempotency_key:
            headers["Idempotency-Key"] = op.idempotency_key
        url = self.base_urls[op.edge] + op.path
        row: dict[str, Any] = {
            "t": self.elapsed(),
            "edge": op.edge,
            "kind": op.kind,
            "method": op.method,
            "route": op.route,
            "path": op.path,
            "status": None,
            "cache_status": None,
            "outbox_depth": None,
            "latency_ms": None,
            "outcome": None,
            "doc_id": op.doc_id,
            "idempotency_key": op.idempotency_key,
            "error": None,
        }
        start = time.perf_counter()
        try:
            response = await client.request(op.method, url, json=op.body, headers=headers)
        except httpx.TimeoutException as exc:
            row["outcome"], row["error"] = "timeout", type(exc).__name__
        except httpx.TransportError as exc:
            row["outcome"], row["error"] = "conn_error", f"{type(exc).__name__}: {exc}"[:200]
        else:
            row["status"] = response.status_code
            row["outcome"] = outcome_of(response.status_code)
            row["cache_status"] = response.headers.get("X-Edge-Cache")
            row["outbox_depth"] = _int_header(response.headers, "X-Edge-Outbox-Depth")
            if response.status_code >= 400:
                row["error"] = response.text[:200]
            if op.kind == "stock" and response.status_code == 200:
                with contextlib.suppress(ValueError, TypeError, AttributeError):
                    data = response.json()
                    row["_qty"] = int(data.get("qty", 0))
        row["latency_ms"] = (time.perf_counter() - start) * 1000.0
        return row


def to_frame(rows: list[dict[str, Any]], started_at: float | None = None) -> pd.DataFrame:
    """Rows → a DataFrame with the standard columns and dtypes."""
    clean = [{k: row.get(k) for k in COLUMNS} for row in rows]
    frame = pd.DataFrame(clean, columns=COLUMNS)
    frame["status"] = frame["status"].astype("Int64")
    frame["outbox_depth"] = frame["outbox_depth"].astype("Int64")
    frame["t"] = frame["t"].astype(float)
    frame["latency_ms"] = frame["latency_ms"].astype(float)
    frame = frame.sort_values("t", kind="stable").reset_index(drop=True)
    if started_at is not None:
        frame.attrs["started_at"] = started_at
    return frame


async def run_workload(
    operations: Iterable[Operation],
    base_urls: Mapping[str, str],
    **options: Any,
) -> pd.DataFrame:
    """Run a workload to completion (see `WorkloadRunner` for the options)."""
    return await WorkloadRunner(operations, base_urls, **options).run()
