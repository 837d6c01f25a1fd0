"""Find and stop processes a notebook left behind.

The runner puts a unique token into the environment of each notebook's kernel. Every process
the notebook starts (cloud app, edge caches, link emulators) inherits it, so after the kernel
is gone the runner can tell whether teardown really stopped everything, and stop what is left.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import psutil

TOKEN_ENV = "EDGELAB_LABCHECK_TOKEN"


@dataclass(frozen=True)
class Leftover:
    pid: int
    cmdline: str


@contextmanager
def tokened_environment(token: str) -> Iterator[None]:
    """Set the token in ``os.environ`` for the kernel started inside the block."""
    previous = os.environ.get(TOKEN_ENV)
    os.environ[TOKEN_ENV] = token
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(TOKEN_ENV, None)
        else:
            os.environ[TOKEN_ENV] = previous


def processes_with_token(token: str) -> list[psutil.Process]:
    """Live processes of this user whose environment carries ``token``."""
    found: list[psutil.Process] = []
    me = os.getpid()
    for proc in psutil.process_iter(["pid"]):
        if proc.pid == me:
            continue
        try:
            if proc.status() == psutil.STATUS_ZOMBIE:
                continue
            if proc.environ().get(TOKEN_ENV) == token:
                found.append(proc)
        except (psutil.Error, OSError):
            continue
    return found


def wait_for_exit(token: str, grace_s: float) -> list[psutil.Process]:
    """Wait up to ``grace_s`` for token processes to exit by themselves; return those left."""
    deadline = time.monotonic() + grace_s
    left = processes_with_token(token)
    while left and time.monotonic() < deadline:
        time.sleep(0.25)
        left = processes_with_token(token)
    return left


def reap(processes: list[psutil.Process], grace_s: float = 10.0) -> list[Leftover]:
    """SIGTERM, then SIGKILL after ``grace_s``; returns what was found (for the report)."""
    described: list[Leftover] = []
    for proc in processes:
        try:
            described.append(Leftover(proc.pid, " ".join(proc.cmdline())[:200]))
            proc.terminate()
        except psutil.Error:
            continue
    _, alive = psutil.wait_procs(processes, timeout=grace_s)
    for proc in alive:
        try:
            proc.kill()
        except psutil.Error:
            continue
    psutil.wait_procs(alive, timeout=grace_s)
    return described
