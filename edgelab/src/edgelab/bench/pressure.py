"""How much other work wanted the CPUs during a measurement: the kernel's CPU pressure.

`/proc/pressure/cpu` (PSI, Linux ≥ 4.20) counts the time in which at least one runnable task
waited for a CPU ("some", microseconds since boot). In the cache-hit runs the server has CPU 0
and wrk CPU 1 to itself, each one thread, so when nothing else runs hardly anything waits;
another program's test run or build makes tasks wait, and then a p99 says more about that
program than about the server being measured.
"""

from __future__ import annotations

from pathlib import Path

PSI_CPU = Path("/proc/pressure/cpu")


def cpu_some_us(path: Path = PSI_CPU) -> int | None:
    """The `some total=` counter of the CPU pressure file, or None where there is none."""
    try:
        text = path.read_text()
    except OSError:
        return None
    for line in text.splitlines():
        if line.startswith("some "):
            for part in line.split()[1:]:
                name, _, value = part.partition("=")
                if name == "total" and value.isdigit():
                    return int(value)
    return None


def share(before_us: int | None, after_us: int | None, seconds: float) -> float | None:
    """The share (0–1) of `seconds` in which some task waited for a CPU, from two counters."""
    if before_us is None or after_us is None or seconds <= 0:
        return None
    return max(0.0, (after_us - before_us) / (seconds * 1e6))
