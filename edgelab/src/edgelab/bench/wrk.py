"""Running wrk and reading its report."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from edgelab.process import taskset_prefix

_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


class WrkError(RuntimeError):
    """wrk is missing, failed, or printed something we cannot read."""


@dataclass(frozen=True)
class WrkResult:
    requests: int
    duration_s: float
    requests_per_s: float
    p50_ms: float | None
    p90_ms: float | None
    p99_ms: float | None
    non_2xx_3xx: int
    socket_errors: int


def _duration_ms(text: str) -> float:
    match = re.fullmatch(r"([0-9.]+)(us|ms|s|m|h)", text.strip())
    if not match:
        raise WrkError(f"unreadable wrk duration {text!r}")
    return float(match.group(1)) * _UNITS_MS[match.group(2)]


def parse_wrk_output(text: str) -> WrkResult:
    """Parse ``wrk --latency`` output."""
    percentiles: dict[str, float] = {}
    for pct, value in re.findall(r"^\s+(50|75|90|99)%\s+(\S+)\s*$", text, flags=re.M):
        percentiles[pct] = _duration_ms(value)
    total = re.search(r"^\s*(\d+) requests in ([0-9.]+)(us|ms|s|m|h)", text, flags=re.M)
    rps = re.search(r"^Requests/sec:\s+([0-9.]+)", text, flags=re.M)
    if not total or not rps:
        raise WrkError(f"no request count in wrk output:\n{text[-800:]}")
    non_ok = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text
    )
    return WrkResult(
        requests=int(total.group(1)),
        duration_s=float(total.group(2)) * _UNITS_MS[total.group(3)] / 1000.0,
        requests_per_s=float(rps.group(1)),
        p50_ms=percentiles.get("50"),
        p90_ms=percentiles.get("90"),
        p99_ms=percentiles.get("99"),
        non_2xx_3xx=int(non_ok.group(1)) if non_ok else 0,
        socket_errors=sum(int(g) for g in errors.groups()) if errors else 0,
    )


def wrk_path() -> str | None:
    return shutil.which("wrk")


def run_wrk(
    url: str,
    *,
    connections: int,
    duration_s: float,
    threads: int = 2,
    cpu: int | None = None,
    script: Path | None = None,
    script_args: list[str] | None = None,
    timeout_s: float | None = None,
) -> WrkResult:
    """Run wrk against `url` and parse its report."""
    exe = wrk_path()
    if exe is None:
        raise WrkError("wrk is not installed (Debian package 'wrk')")
    threads = max(1, min(threads, connections))
    argv = [
        *taskset_prefix(cpu),
        exe,
        "--latency",
        "-t",
        str(threads),
        "-c",
        str(connections),
        "-d",
        f"{max(1, round(duration_s))}s",
        "--timeout",
        "5s",
    ]
    if script is not None:
        argv += ["-s", str(script)]
    argv.append(url)
    if script_args:
        argv += ["--", *script_args]
    try:
        done = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=timeout_s or duration_s + 30,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise WrkError(f"wrk did not finish: {exc}") from exc
    if done.returncode != 0:
        raise WrkError(f"wrk exited {done.returncode}: {done.stderr.strip()[-500:]}")
    return parse_wrk_output(done.stdout)
