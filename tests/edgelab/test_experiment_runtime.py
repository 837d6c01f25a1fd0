"""edgelab.experiments.runtime: coroutines on their own loop thread (also under Jupyter), and
Ctrl-C cancelling them so that their clean-up (restoring links) runs before the interrupt."""

from __future__ import annotations

import _thread
import asyncio
import threading

import pytest
from edgelab.experiments.runtime import run_async


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
