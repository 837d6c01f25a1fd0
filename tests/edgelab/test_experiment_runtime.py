"""edgelab.experiments.runtime: coroutines on their own loop thread (also under Jupyter), and
Ctrl-C cancelling them so that their clean-up (restoring links) runs before the interrupt."""

from __future__ import annotations

import _thread
import asyncio
import contextlib
import json
import threading
from collections.abc import Iterator
from typing import ClassVar

import pytest
from edgelab.experiments.runtime import PeriodicSampler, run_async, wait_queued
from edgelab.process import wait_until

from tests.support.origins.threaded import QuietHandler, serve_in_thread


def test_result_and_errors_cross_the_thread() -> None:
    async def answer() -> int:
        await asyncio.sleep(0.01)
        return 42

    async def broken() -> None:
        raise ValueError("bad knob")

    assert run_async(answer()) == 42
    with pytest.raises(ValueError, match="bad knob"):
        run_async(broken())


def test_works_inside_a_running_event_loop() -> None:
    """Like a notebook cell: the caller's thread already runs a loop."""

    async def inner() -> str:
        return "ok"

    async def cell() -> str:
        return run_async(inner())

    assert asyncio.run(cell()) == "ok"


def test_interrupt_cancels_and_runs_cleanup() -> None:
    events: list[str] = []
    link_down = threading.Event()

    async def outage() -> None:
        events.append("down")
        link_down.set()
        try:
            await asyncio.sleep(60)
        finally:
            await asyncio.to_thread(events.append, "up")

    def interrupt() -> None:
        link_down.wait(30)
        _thread.interrupt_main()

    threading.Thread(target=interrupt, daemon=True).start()
    with pytest.raises(KeyboardInterrupt):
        run_async(outage())
    assert events == ["down", "up"]


class _Counting(PeriodicSampler):
    def __init__(self) -> None:
        super().__init__(interval_s=0.01)
        self.samples = 0
        self.events: list[str] = []

    @contextlib.contextmanager
    def opened(self) -> Iterator[None]:
        self.events.append("open")
        yield
        self.events.append("close")

    def sample_once(self) -> None:
        self.samples += 1


def test_periodic_sampler_samples_until_stopped_inside_what_it_opened() -> None:
    with _Counting() as sampler:
        wait_until(lambda: sampler.samples >= 3, timeout_s=30, what="three samples")
    taken = sampler.samples
    assert sampler.events == ["open", "close"]  # stop() joined the thread: it closed
    assert sampler.samples == taken
    with pytest.raises(ValueError, match="interval_s"):
        PeriodicSampler(interval_s=0)


class _Status(QuietHandler):
    depths: ClassVar[list[int]] = [0, 0, 2]

    def do_GET(self) -> None:
        depth = self.depths.pop(0) if len(self.depths) > 1 else self.depths[0]
        self.reply(200, json.dumps({"state": "offline", "outbox_depth": depth}).encode())


def test_wait_queued_returns_once_the_outbox_holds_enough() -> None:
    with serve_in_thread(_Status) as url:
        assert wait_queued(url, at_least=1, timeout_s=30, interval_s=0.01) == 2
        # never that deep: the deadline ends the wait with the depth seen last
        assert wait_queued(url, at_least=5, timeout_s=0.2, interval_s=0.01) == 2
    # nothing listens any more: the depth stays unknown (0) until the deadline
    assert wait_queued(url, at_least=1, timeout_s=0.2, interval_s=0.01) == 0
