"""Starting, waiting for and stopping the real processes a benchmark (or a test) needs."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import httpx


class ProcessFailed(RuntimeError):
    """A process exited or did not become ready in time; the message includes its log tail."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on `host` that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


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


class ManagedProcess:
    """A child process with its output in a log file; `stop()` terminates it (then kills)."""

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
        log_path.parent.mkdir(parents=True, exist_ok=True)
        full_env = dict(os.environ)
        if env:
            full_env.update(env)
        self._log = open(log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            self.argv,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env=full_env,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def check_alive(self) -> None:
        code = self.proc.poll()
        if code is not None:
            raise ProcessFailed(f"{self.name} exited with code {code}:\n{self.log_tail()}")

    def wait_http(self, url: str, timeout_s: float = 30.0, ok: tuple[int, ...] = (200,)) -> None:
        """Poll `url` until it answers one of `ok`, the process dies, or `timeout_s` passes."""
        deadline = time.monotonic() + timeout_s
        last = ""
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                response = httpx.get(url, timeout=2.0)
                if response.status_code in ok:
                    return
                last = f"HTTP {response.status_code}"
            except httpx.HTTPError as exc:
                last = repr(exc)
            time.sleep(0.1)
        raise ProcessFailed(
            f"{self.name} not ready at {url} after {timeout_s:.0f} s ({last}):\n{self.log_tail()}"
        )

    def wait_port(self, host: str, port: int, timeout_s: float = 30.0) -> None:
        """Wait until something accepts TCP connections on (host, port)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.check_alive()
            with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=1.0):
                return
            time.sleep(0.05)
        raise ProcessFailed(f"{self.name} not listening on {host}:{port}:\n{self.log_tail()}")

    def stop(self, timeout_s: float = 10.0) -> None:
        """SIGTERM the process group, then SIGKILL after `timeout_s`."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self._log.close()

    def __enter__(self) -> ManagedProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def python_module(module: str, *args: str) -> list[str]:
    """argv running `python -m module args...` with this interpreter."""
    return [sys.executable, "-m", module, *args]
