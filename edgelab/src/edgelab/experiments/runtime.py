"""Running the experiments' asyncio parts from plain (also Jupyter) code, and sampling edges.

Jupyter kernels already run an event loop in the main thread, so `asyncio.run()` would fail
there; `run_async()` runs the coroutine on a fresh loop in a worker thread instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Coroutine, Iterator, Mapping
from typing import Any, Self, TypeVar

import httpx
import pandas as pd

from edgelab.process import ProcessFailed, wait_until

T = TypeVar("T")

STATUS_COLUMNS = ["t_mono", "edge", "state", "outbox_depth", "dead_letters", "hits", "misses",
                  "error"]


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run `coro` to completion on its own event loop in a worker thread.

    Ctrl-C (KeyboardInterrupt, also a Jupyter "interrupt") cancels the coroutine, so its
    `finally` blocks run (e.g. links are restored) before the interrupt is re-raised.
    """
    loop = asyncio.new_event_loop()
    box: dict[str, Any] = {}
    started = threading.Event()
    done = threading.Event()

    async def main() -> T:
        box["task"] = asyncio.current_task()
        started.set()
        return await coro

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            box["result"] = loop.run_until_complete(main())
        except BaseException as exc:
            box["error"] = exc
        finally:
            started.set()
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
            loop.close()
            done.set()

    thread = threading.Thread(target=run, name="edgelab-async", daemon=True)
    try:
        thread.start()
        while not done.wait(0.2):
            pass
    except KeyboardInterrupt:
        # (an interrupted Thread.join() may return early afterwards, so wait on an Event)
        if thread.ident is None:  # interrupted before the thread started
            coro.close()
            loop.close()
            raise
        started.wait(5)
        task = box.get("task")
        if task is not None and not loop.is_closed():
            loop.call_soon_threadsafe(task.cancel)
        done.wait(60)
        raise
    if "error" in box:
        raise box["error"]
    result: T = box["result"]
    return result


def edge_status(client: httpx.Client, url: str) -> dict[str, Any]:
    """`GET <edge>/_edge/status` as a dict (raises httpx errors)."""
    r = client.get(url.rstrip("/") + "/_edge/status")
    r.raise_for_status()
    data = r.json()
    return data if isinstance(data, dict) else {}


def wait_queued(url: str, *, at_least: int, timeout_s: float, interval_s: float = 0.1) -> int:
    """Poll the edge's `/_edge/status` until its outbox holds `at_least` writes, for at most
    `timeout_s`. Returns the depth seen last (less than `at_least` when the deadline passed).

    An experiment that kills an edge to show what survives must first know something is
    queued: killing an empty outbox proves nothing either way."""
    depth = 0

    def enough(client: httpx.Client) -> bool:
        nonlocal depth
        depth = int(edge_status(client, url).get("outbox_depth") or 0)
        return depth >= at_least

    with httpx.Client(timeout=2.0) as client, contextlib.suppress(ProcessFailed):
        wait_until(lambda: enough(client), timeout_s=timeout_s, interval_s=interval_s,
                   what=f"{at_least} queued writes at {url}")
    return depth


class PeriodicSampler:
    """A daemon thread that calls `sample_once()` every `interval_s` (measured from the start
    of one sample to the next) until `stop()`; use it as a context manager around the
    experiment. Subclasses say what a sample is and may open and close what they sample with
    in `opened()`, which runs on the sampling thread."""

    thread_name = "edgelab-sampler"

    def __init__(self, interval_s: float, join_timeout_s: float = 10.0) -> None:
        if interval_s <= 0:
            raise ValueError(f"interval_s must be > 0, got {interval_s}")
        self.interval_s = interval_s
        self.join_timeout_s = join_timeout_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def sample_once(self) -> None:
        raise NotImplementedError

    @contextlib.contextmanager
    def opened(self) -> Iterator[None]:
        yield

    def _run(self) -> None:
        with self.opened():
            while not self._stop.is_set():
                started = time.monotonic()
                self.sample_once()
                self._stop.wait(max(0.0, self.interval_s - (time.monotonic() - started)))

    def __enter__(self) -> Self:
        self._thread = threading.Thread(target=self._run, name=self.thread_name, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread.is_alive():
            self._thread.join(timeout=self.join_timeout_s)


class StatusSampler(PeriodicSampler):
    """Polls every edge's `/_edge/status` every `interval_s` in a thread (outbox depth etc.)."""

    thread_name = "edgelab-status"

    def __init__(self, edges: Mapping[str, str], interval_s: float = 0.5) -> None:
        super().__init__(interval_s)
        self.edges = dict(edges)
        self.rows: list[dict[str, Any]] = []
        self._client: httpx.Client | None = None

    @contextlib.contextmanager
    def opened(self) -> Iterator[None]:
        with httpx.Client(timeout=min(2.0, max(self.interval_s * 2, 0.5))) as client:
            self._client = client
            yield

    def sample_once(self) -> None:
        assert self._client is not None, "sample_once runs inside opened()"
        for edge, url in self.edges.items():
            row: dict[str, Any] = {"t_mono": time.monotonic(), "edge": edge}
            try:
                s = edge_status(self._client, url)
                row.update(
                    state=s.get("state"),
                    outbox_depth=s.get("outbox_depth"),
                    dead_letters=_count(s.get("dead_letters")),
                    hits=s.get("hits"),
                    misses=s.get("misses"),
                )
            except (httpx.HTTPError, ValueError) as exc:
                row["error"] = f"{type(exc).__name__}: {exc}"[:200]
            self.rows.append(row)

    def frame(self, t0_mono: float) -> pd.DataFrame:
        """Samples with `t` in seconds relative to `t0_mono` (a `time.monotonic()` value)."""
        frame = pd.DataFrame(list(self.rows), columns=STATUS_COLUMNS)
        frame.insert(0, "t", frame["t_mono"].astype(float) - t0_mono)
        return frame.drop(columns=["t_mono"])


def _count(value: Any) -> int | None:
    if value is None:
        return None
    if isinstance(value, list):
        return len(value)
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
