"""Child processes of edgelab: start with a log, wait until ready, stop; ports; leftovers.

- Lab parts (`start_process`): detached, with a pid file, found again and stopped from another
  process (`read_pid_files`, `stop_processes`, `kill_processes`).
- Benchmark and test helpers (`ManagedProcess`): a child owned by this process, stopped by it.
- Leftovers of a notebook (`tokened_environment`, `wait_for_exit`, `reap`): every process a
  kernel starts inherits a token, so the check runner finds what teardown did not stop.

A process is identified by its pid *and* its start time (`psutil.Process.create_time()`), so a
pid reused by a foreign process after a crash is never mistaken for one of ours.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx
import psutil

TOKEN_ENV = "EDGELAB_LABCHECK_TOKEN"


class ProcessError(RuntimeError):
    """A lab process could not be started, became unready or could not be stopped."""


class PortInUseError(ProcessError):
    """A port the lab needs is held by a process that is not ours."""


class ProcessFailed(ProcessError):
    """A process exited during start-up or did not become ready in time (with its log tail)."""


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


def _spawn(name: str, argv: Sequence[str], env: Mapping[str, str], log_path: Path,
           cwd: Path | None) -> tuple[subprocess.Popen[bytes], ProcessRecord]:
    """Start `argv` in its own session, stdout+stderr appended to `log_path` after a start
    event line."""
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
    return popen, record


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
    _popen, record = _spawn(name, argv, env, log_path, cwd)
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


def _terminate(procs: list[psutil.Process],
               timeout_s: float) -> tuple[list[psutil.Process], list[psutil.Process]]:
    """SIGTERM each process (its group when it leads one), wait, SIGKILL those left, wait.
    Returns (the ones that needed SIGKILL, the ones still alive after it)."""
    for proc in procs:
        _signal_group(proc, signal.SIGTERM)
    _gone, alive = psutil.wait_procs(procs, timeout=timeout_s)
    for proc in alive:
        _signal_group(proc, signal.SIGKILL)
    _gone, still = psutil.wait_procs(alive, timeout=timeout_s) if alive else ([], [])
    return alive, still


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
    killed, still = _terminate([p for _, p in live], timeout_s)
    if still:
        names = ", ".join(f"{r.name} (pid {p.pid})" for r, p in live if p in still)
        raise ProcessError(f"could not stop: {names}")
    # Children that outlived their leader in the same group (e.g. uvicorn reloaders).
    for _record, proc in live:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
    return [r.name for r, p in live if p in killed]


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


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on `host` that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _listeners(port: int) -> set[int | None] | None:
    """Pids listening on TCP `port` (None for another user's); None when that cannot be seen."""
    try:
        conns = psutil.net_connections(kind="tcp")
    except (psutil.AccessDenied, PermissionError, OSError):
        return None
    return {c.pid for c in conns
            if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port}


def port_owner(port: int) -> str:
    """A human description of who listens on `port` ("pid 123 (nginx)"), or "unknown"."""
    for pid in sorted(_listeners(port) or (), key=lambda p: p is None):  # ours first
        if pid is None:
            return "another user's process"
        try:
            return f"pid {pid} ({psutil.Process(pid).name()})"
        except psutil.Error:
            return f"pid {pid}"
    return "unknown process"


def listens(pid: int, port: int) -> bool:
    """Whether process `pid` (or a child) listens on `port`; True when that cannot be seen."""
    owners = _listeners(port)
    if owners is None or None in owners:
        return True
    if not owners:
        return False
    try:
        family = {pid, *(c.pid for c in psutil.Process(pid).children(recursive=True))}
    except psutil.Error:
        return False
    return bool(owners & family)


def pick_port(host: str, preferred: int, taken: set[int], *, strict: bool, what: str) -> int:
    """`preferred` when it is free; otherwise the next free one (or an error when `strict`)."""
    if preferred == 0:
        while True:
            port = free_port(host)
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
    alive: Callable[[], bool] | None = None,
) -> None:
    """Poll `check` until it is true; fail early when `record`'s process dies (told by
    `alive`, default `is_running(record)`)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if check():
                return
        except Exception:  # any failure of a probe means "not yet"
            pass
        if record is not None and not (alive() if alive else is_running(record)):
            raise ProcessFailed(
                f"{what} exited during start-up; last log lines:\n{log_tail(record.log)}"
            )
        if time.monotonic() >= deadline:
            tail = f"; last log lines:\n{log_tail(record.log)}" if record else ""
            raise ProcessFailed(f"{what} not ready after {timeout_s:.0f} s{tail}")
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


# ------------------------------------------------------------------- children of this process


def taskset_prefix(cpu: int | None) -> list[str]:
    """``taskset -c CPU`` when taskset exists, the CPU exists and more than one CPU is usable."""
    if cpu is None or shutil.which("taskset") is None:
        return []
    try:
        usable = os.sched_getaffinity(0)
    except AttributeError:  # pragma: no cover - non-Linux
        return []
    if len(usable) < 2 or cpu not in usable:
        return []
    return ["taskset", "-c", str(cpu)]


def python_module(module: str, *args: str) -> list[str]:
    """argv running `python -m module args...` with this interpreter."""
    return [sys.executable, "-m", module, *args]


class ManagedProcess:
    """A child process of this one (own session, output in a log file, this environment plus
    `env`, optionally pinned to `cpu`); `stop()` (or leaving a ``with`` block) ends it."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_path: Path,
        env: Mapping[str, str] | None = None,
        cpu: int | None = None,
    ) -> None:
        self.name = name
        self.argv = [*taskset_prefix(cpu), *argv]
        self.log_path = log_path
        self.proc, self.record = _spawn(name, self.argv, {**os.environ, **(env or {})},
                                        log_path, None)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log_tail(self, lines: int = 20) -> str:
        return log_tail(str(self.log_path), lines)

    def wait_http(self, url: str, timeout_s: float = 30.0, ok: tuple[int, ...] = (200,)) -> None:
        """Poll `url` until it answers one of `ok`; ProcessFailed when the process dies first
        or `timeout_s` passes."""
        wait_until(lambda: httpx.get(url, timeout=2.0).status_code in ok, timeout_s=timeout_s,
                   what=f"{self.name} at {url}", record=self.record, alive=self.running)

    def wait_port(self, host: str, port: int, timeout_s: float = 30.0) -> None:
        """Wait until something accepts TCP connections on (host, port)."""
        def accepts() -> bool:
            with socket.create_connection((host, port), timeout=1.0):
                return True

        wait_until(accepts, timeout_s=timeout_s, what=f"{self.name} on {host}:{port}",
                   record=self.record, interval_s=0.05, alive=self.running)

    def running(self) -> bool:
        """Still running (asked of the child itself, so its exit status is kept)."""
        return self.proc.poll() is None

    def stop(self, timeout_s: float = 10.0) -> None:
        """SIGTERM the process group, then SIGKILL after `timeout_s`; the exit status is
        kept in ``proc.returncode``."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            if not self.running():
                return
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout_s if sig == signal.SIGTERM else 5)

    def __enter__(self) -> ManagedProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# ------------------------------------------------------------------- leftovers of a notebook


@dataclass(frozen=True)
class Leftover:
    pid: int
    cmdline: str


@contextlib.contextmanager
def tokened_environment(token: str) -> Iterator[None]:
    """Set the token in ``os.environ`` for the processes (a kernel) started inside the block."""
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
        with contextlib.suppress(psutil.Error):
            described.append(Leftover(proc.pid, " ".join(proc.cmdline())[:200]))
    _terminate(processes, grace_s)
    return described
