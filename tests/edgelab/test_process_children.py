"""edgelab.process for children of this process (benchmarks, tests) and a notebook's leftovers:
readiness that fails fast when the child dies, stop that escalates to SIGKILL, `listens` that
tells our listener from a foreign one, and the token the check runner reaps by."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import psutil
import pytest
from edgelab.process import (
    TOKEN_ENV,
    ManagedProcess,
    ProcessError,
    ProcessFailed,
    listens,
    python_module,
    reap,
    tokened_environment,
    wait_for_exit,
    wait_until,
)

from tests.support.ports import busy_port, free_port

# ignores SIGTERM once it printed "stubborn" (a line of its own: the log's first line, our
# start event, holds this text too)
STUBBORN = ("import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
            "print('stubborn', flush=True); time.sleep(600)")


def _printed(log: Path) -> bool:
    return "stubborn" in log.read_text().splitlines()


def test_ready_child_listens_and_stops(tmp_path: Path) -> None:
    port = free_port()
    with ManagedProcess("web", python_module("http.server", "--bind", "127.0.0.1", str(port)),
                        tmp_path / "web.log") as web:
        web.wait_http(f"http://127.0.0.1:{port}/", timeout_s=30)
        web.wait_port("127.0.0.1", port, timeout_s=5)
        assert listens(web.pid, port)
        assert not listens(web.pid, free_port())  # nobody listens there
    assert web.proc.returncode is not None


def test_a_child_that_dies_fails_readiness_at_once_with_its_log(tmp_path: Path) -> None:
    crash = ManagedProcess("crash", [sys.executable, "-c", "print('boom: bad config'); exit(3)"],
                           tmp_path / "crash.log")
    try:
        with pytest.raises(ProcessFailed, match="exited during start-up") as err:
            crash.wait_http(f"http://127.0.0.1:{free_port()}/", timeout_s=60)
        assert "boom: bad config" in str(err.value)
        assert isinstance(err.value, ProcessError)  # callers of the lab catch ProcessError
    finally:
        crash.stop()


def test_stop_escalates_to_sigkill(tmp_path: Path) -> None:
    log = tmp_path / "stubborn.log"
    stubborn = ManagedProcess("stubborn", [sys.executable, "-c", STUBBORN], log)
    wait_until(lambda: _printed(log), timeout_s=30, what="stubborn", record=stubborn.record,
               alive=stubborn.running)
    stubborn.stop(timeout_s=0.5)
    assert stubborn.proc.returncode == -9


def test_listens_is_false_for_a_port_another_process_holds(tmp_path: Path) -> None:
    with busy_port() as port, ManagedProcess(
            "idle", python_module("http.server", "--help"), tmp_path / "idle.log") as idle:
        assert not listens(idle.pid, port)  # this test process holds it, not the child


def test_leftovers_carry_the_token_and_are_reaped(tmp_path: Path) -> None:
    token = "t-" + tmp_path.name
    with tokened_environment(token):
        left = ManagedProcess("left", [sys.executable, "-c", STUBBORN], tmp_path / "left.log")
    assert os.environ.get(TOKEN_ENV) != token  # only for the block
    try:
        wait_until(lambda: _printed(tmp_path / "left.log"), timeout_s=30, what="left",
                   record=left.record, alive=left.running)
        found = wait_for_exit(token, grace_s=0.5)  # it does not exit by itself
        assert [p.pid for p in found] == [left.pid]
        described = reap(found, grace_s=0.5)
        assert [d.pid for d in described] == [left.pid] and "-c" in described[0].cmdline
        assert wait_for_exit(token, grace_s=0.1) == []  # SIGTERM was ignored: killed
        assert not psutil.pid_exists(left.pid)  # reaped (it was this test's own child)
    finally:
        left.stop()
