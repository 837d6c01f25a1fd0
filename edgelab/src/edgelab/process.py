"""Real processes for the local lab: start with a log and a pid file, check, stop, find ports.

A process is identified by its pid *and* its start time (`psutil.Process.create_time()`), so a
pid reused by a foreign process after a crash is never mistaken for one of ours.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil


class ProcessError(RuntimeError):
    """A lab process could not be started, became unready or could not be stopped."""


class PortInUseError(ProcessError):
    """A port the lab needs is held by a process that is not ours."""


@dataclass(slots=True)
class ProcessRecord:
    """What we need to find (and safely stop) a process again from another process."""

    name: str
    pid: int
    create_time: float
    argv: list[str]
    log: str

    def to_json(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, object]) -> ProcessRecord:
        argv = data.get("argv", [])
        return cls(
            name=str(data["name"]),
            pid=int(str(data["pid"])),
            create_time=float(str(data["create_time"])),
            argv=[str(a) for a in argv] if isinstance(argv, list) else [],
            log=str(data.get("log", "")),
        )


def _process(record: ProcessRecord) -> psutil.Process | None:
    """The live process behind `record`, or None when it is gone or is someone else now."""
    try:
        proc = psutil.Process(record.pid)
        if abs(proc.create_time() - record.create_time) > 0.5:
            return None
        if proc.status() == psutil.STATUS_ZOMBIE:
            with contextlib.suppress(psutil.Error, ChildProcessError):
                proc.wait(timeout=0)  # reap our own child
            return None
        return proc
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return None
    except psutil.TimeoutExpired:
        return None


def is_running(record: ProcessRecord) -> bool:
    """True when the process of `record` (same pid and start time) is alive."""
    return _process(record) is not None


def start_process(
    name: str,
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    log_path: Path,
    pid_path: Path | None = None,
    cwd: Path | None = None,
) -> ProcessRecord:
    """Start `argv` detached (own session) with stdout+stderr appended to `log_path`."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        log.write(
            (json.dumps({"event": "edgelab.start", "part": name, "argv": list(argv),
                         "ts": time.time()}) + "\n").encode()
        )
        log.flush()
        try:
            popen = subprocess.Popen(
                list(argv),
                env=dict(env),
                cwd=str(cwd) if cwd else None,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                close_fds=True,
            )
        except OSError as exc:
            raise ProcessError(f"cannot start {name}: {argv[0]}: {exc.strerror or exc}") from exc
    try:
        create_time = psutil.Process(popen.pid).create_time()
    except psutil.Error:
        create_time = time.time()
    record = ProcessRecord(name=name, pid=popen.pid, create_time=create_time,
                           argv=list(argv), log=str(log_path))
    if pid_path is not None:
        write_pid_file(pid_path, record)
    return record


def write_pid_file(path: Path, record: ProcessRecord) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(record.to_json()))
    tmp.replace(path)


def read_pid_files(run_dir: Path) -> list[ProcessRecord]:
    """All readable pid files in `run_dir` (unreadable or foreign-format ones are skipped)."""
    records: list[ProcessRecord] = []
    if not run_dir.is_dir():
        return records
    for path in sorted(run_dir.glob("*.pid")):
        try:
            records.append(ProcessRecord.from_json(json.loads(path.read_text())))
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return records


def kill_processes(records: Iterable[ProcessRecord], timeout_s: float = 10.0) -> None:
    """SIGKILL every live process of `records` (a crash, for experiments) and wait for it."""
    live = [p for p in (_process(r) for r in records) if p is not None]
    for proc in live:
        _signal_group(proc, signal.SIGKILL)
    _gone, still = psutil.wait_procs(live, timeout=timeout_s)
    if still:
        raise ProcessError(f"could not kill: {', '.join(str(p.pid) for p in still)}")


def stop_processes(records: Iterable[ProcessRecord], timeout_s: float = 10.0) -> list[str]:
    """SIGTERM every live process of `records` (and its process group), wait, then SIGKILL.

    Returns the names of processes that had to be killed. Only processes whose pid *and* start
    time match a record are signalled.
    """
    live: list[tuple[ProcessRecord, psutil.Process]] = []
    for record in records:
        proc = _process(record)
        if proc is not None:
            live.append((record, proc))
    for _record, proc in live:
        _signal_group(proc, signal.SIGTERM)
    _gone, alive = psutil.wait_procs([p for _, p in live], timeout=timeout_s)
    killed: list[str] = []
    for record, proc in live:
        if proc in alive:
            killed.append(record.name)
            _signal_group(proc, signal.SIGKILL)
    if alive:
        _gone, still = psutil.wait_procs(alive, timeout=timeout_s)
        if still:
            names = ", ".join(f"{r.name} (pid {p.pid})" for r, p in live if p in still)
            raise ProcessError(f"could not stop: {names}")
    # Children that outlived their leader in the same group (e.g. uvicorn reloaders).
    for _record, proc in live:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
    return killed


def _signal_group(proc: psutil.Process, sig: signal.Signals) -> None:
    """Signal the process group when `proc` leads it (we start every part in its own session)."""
    try:
        if os.getpgid(proc.pid) == proc.pid:
            os.killpg(proc.pid, sig)
        else:
            proc.send_signal(sig)
    except (ProcessLookupError, psutil.NoSuchProcess):
        pass
    except PermissionError as exc:
        raise ProcessError(f"not allowed to signal pid {proc.pid}: {exc}") from exc


# ---------------------------------------------------------------------------------------- ports


def port_is_free(host: str, port: int) -> bool:
    """True when `host:port` can be bound right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def any_free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_owner(port: int) -> str:
    """A human description of who listens on `port` ("pid 123 (nginx)"), or "unknown"."""
    try:
        for conn in psutil.net_connections(kind="tcp"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
                if conn.pid is None:
                    return "another user's process"
                try:
                    return f"pid {conn.pid} ({psutil.Process(conn.pid).name()})"
                except psutil.Error:
                    return f"pid {conn.pid}"
    except (psutil.AccessDenied, PermissionError, OSError):
        pass
    return "unknown process"


def pick_port(host: str, preferred: int, taken: set[int], *, strict: bool, what: str) -> int:
    """`preferred` when it is free; otherwise the next free one (or an error when `strict`)."""
    if preferred == 0:
        while True:
            port = any_free_port(host)
            if port not in taken:
                return port
    if preferred not in taken and port_is_free(host, preferred):
        return preferred
    if strict:
        raise PortInUseError(
            f"port {preferred} for {what} is in use by {port_owner(preferred)}; "
            "stop that process or choose another port"
        )
    for port in range(preferred + 1, min(preferred + 200, 65535)):
        if port not in taken and port_is_free(host, port):
            return port
    return pick_port(host, 0, taken, strict=False, what=what)


def wait_until(
    check: Callable[[], bool],
    *,
    timeout_s: float,
    what: str,
    record: ProcessRecord | None = None,
    interval_s: float = 0.1,
) -> None:
    """Poll `check` until it is true; fail early when `record`'s process dies."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if check():
                return
        except Exception:  # any failure of a probe means "not yet"
            pass
        if record is not None and not is_running(record):
            raise ProcessError(
                f"{what} exited during start-up; last log lines:\n{log_tail(record.log)}"
            )
        if time.monotonic() >= deadline:
            tail = f"; last log lines:\n{log_tail(record.log)}" if record else ""
            raise ProcessError(f"{what} not ready after {timeout_s:.0f} s{tail}")
        time.sleep(interval_s)


def log_tail(path: str, lines: int = 15) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 8192))
            data = fh.read().decode("utf-8", "replace")
    except OSError:
        return "(no log)"
    return "\n".join(data.splitlines()[-lines:])
