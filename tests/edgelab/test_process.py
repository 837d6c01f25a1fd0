"""edgelab.process: real child processes with logs and pid files, stopped by pid + start time."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import httpx
import psutil
import pytest
from edgelab.process import (
    PortInUseError,
    ProcessError,
    ProcessRecord,
    is_running,
    kill_processes,
    pick_port,
    port_is_free,
    read_pid_files,
    start_process,
    stop_processes,
    wait_until,
)

from tests.support.ports import busy_port, free_port
from tests.support.processes import wait_gone

SERVER = """
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.end_headers(); self.wfile.write(b"ok")
    def log_message(self, *a): pass
print("serving", flush=True)
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
"""

STUBBORN = """
import signal, time
signal.signal(signal.SIGTERM, signal.SIG_IGN)
print("ignoring SIGTERM", flush=True)
while True:
    time.sleep(0.1)
"""


def _printed(log: Path, line: str) -> bool:
    """True once the child printed `line` (the log's first line is our own start event)."""
    return line in log.read_text().splitlines()


def test_start_wait_ready_and_stop(tmp_path: Path) -> None:
    port = free_port()
    record = start_process("web", [sys.executable, "-c", SERVER, str(port)], env={},
                           log_path=tmp_path / "logs" / "web.log",
                           pid_path=tmp_path / "run" / "web.pid")
    try:
        wait_until(lambda: httpx.get(f"http://127.0.0.1:{port}/").status_code == 200,
                   timeout_s=30, what="web", record=record)
        assert is_running(record)
        assert [r.pid for r in read_pid_files(tmp_path / "run")] == [record.pid]
        assert not port_is_free("127.0.0.1", port)
    finally:
        stopped_by_kill = stop_processes([record], timeout_s=10)
    assert stopped_by_kill == []
    assert wait_gone([record.pid], 10.0) == []
    assert not is_running(record)
    log = (tmp_path / "logs" / "web.log").read_text().splitlines()
    assert json.loads(log[0])["event"] == "edgelab.start"
    assert "serving" in log[1]


def test_sigterm_ignored_then_sigkill(tmp_path: Path) -> None:
    record = start_process("stubborn", [sys.executable, "-c", STUBBORN], env={},
                           log_path=tmp_path / "stubborn.log")
    wait_until(lambda: _printed(tmp_path / "stubborn.log", "ignoring SIGTERM"), timeout_s=30,
               what="stubborn", record=record)
    killed = stop_processes([record], timeout_s=1.0)
    assert killed == ["stubborn"]
    assert wait_gone([record.pid], 10.0) == []


def test_kill_processes_is_a_crash(tmp_path: Path) -> None:
    record = start_process("victim", [sys.executable, "-c", STUBBORN], env={},
                           log_path=tmp_path / "victim.log")
    wait_until(lambda: _printed(tmp_path / "victim.log", "ignoring SIGTERM"), timeout_s=30,
               what="victim", record=record)
    kill_processes([record])
    assert wait_gone([record.pid], 10.0) == []


def test_a_reused_pid_is_never_signalled(tmp_path: Path) -> None:
    """A record whose start time does not match the live process is treated as gone."""
    me = psutil.Process()
    foreign = ProcessRecord(name="old", pid=me.pid, create_time=me.create_time() - 1000.0,
                            argv=[], log="")
    assert not is_running(foreign)
    assert stop_processes([foreign], timeout_s=1.0) == []
    assert me.is_running()


def test_early_exit_is_reported_with_the_log(tmp_path: Path) -> None:
    record = start_process("crasher", [sys.executable, "-c", "print('boom'); raise SystemExit(3)"],
                           env={}, log_path=tmp_path / "crasher.log")
    with pytest.raises(ProcessError, match="exited during start-up") as info:
        wait_until(lambda: False, timeout_s=30, what="crasher", record=record)
    assert "boom" in str(info.value)


def test_missing_program_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ProcessError, match="cannot start nothing"):
        start_process("nothing", [str(tmp_path / "no-such-program")], env={},
                      log_path=tmp_path / "x.log")


def test_pick_port() -> None:
    with busy_port() as busy:
        with pytest.raises(PortInUseError, match=f"port {busy} for the cloud app is in use"):
            pick_port("127.0.0.1", busy, set(), strict=True, what="the cloud app")
        other = pick_port("127.0.0.1", busy, set(), strict=False, what="the cloud app")
        assert other != busy and port_is_free("127.0.0.1", other)
    free = pick_port("127.0.0.1", 0, set(), strict=True, what="x")
    assert port_is_free("127.0.0.1", free)
