"""Whether processes the tests started (or had started) still run, and waiting for them to go."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable

import psutil
from edgelab.process import ProcessError, wait_until


def alive(pid: int) -> bool:
    """True while `pid` runs; a zombie (exited, not yet reaped) counts as gone."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def wait_gone(pids: Iterable[int], timeout_s: float = 20.0) -> list[int]:
    """Poll until none of `pids` is alive; returns those still alive at the deadline (an empty
    list when all are gone)."""
    watched = list(pids)
    with contextlib.suppress(ProcessError):
        wait_until(lambda: not any(alive(pid) for pid in watched), timeout_s=timeout_s,
                   what="the processes ending", interval_s=0.05)
    return [pid for pid in watched if alive(pid)]
