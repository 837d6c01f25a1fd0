"""The `edge-cache` sidecar as a managed process for the benchmarks."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import psutil

from edgelab.process import ManagedProcess, free_port

SERVER_CPU = 0


class Sidecar:
    """The `edge-cache` console script as a managed process."""

    def __init__(self, exe: str, workdir: Path, origin_url: str) -> None:
        self.exe = exe
        self.workdir = workdir
        self.port = free_port()
        self.origin_url = origin_url
        self.proc: ManagedProcess | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        return {
            "EDGE_CACHE_ORIGIN": self.origin_url,
            "EDGE_CACHE_DATA_DIR": str(self.workdir / "data"),
            "EDGE_CACHE_HOST": "127.0.0.1",
            "EDGE_CACHE_PORT": str(self.port),
            "EDGE_CACHE_ACCESS_LOG": "off",
            "EDGE_CACHE_LOG_LEVEL": "warning",
        }

    def spawn(self) -> ManagedProcess:
        self.proc = ManagedProcess(
            "edge-cache",
            [self.exe],
            self.workdir / "edge-cache.log",
            env=self.env(),
            cpu=SERVER_CPU,
        )
        return self.proc

    def start(self, timeout_s: float = 30.0) -> None:
        self.spawn().wait_http(f"{self.url}/healthz", timeout_s)

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.stop()
            self.proc = None

    def status(self) -> dict[str, Any] | None:
        try:
            response = httpx.get(f"{self.url}/_edge/status", timeout=5)
        except httpx.HTTPError:
            return None
        if response.status_code != 200:
            return None
        data = response.json()
        return data if isinstance(data, dict) else None

    def rss_mb(self) -> float | None:
        if self.proc is None:
            return None
        try:
            return float(psutil.Process(self.proc.pid).memory_info().rss) / 2**20
        except psutil.Error:
            return None


def sidecar_command() -> tuple[str | None, str]:
    """The `edge-cache` executable if it runs (`--help` exits 0), else a reason."""
    beside = Path(sys.executable).parent / "edge-cache"
    exe = str(beside) if beside.is_file() else shutil.which("edge-cache")
    if exe is None:
        return None, "the edge-cache console script is not installed (pip install -e edge-cache)"
    try:
        done = subprocess.run([exe, "--help"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return None, f"edge-cache --help failed: {exc}"
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or [""]
        return None, f"edge-cache --help exited {done.returncode}: {tail[0]}"
    return exe, ""
