"""The disk's own flush latency: the floor under any figure that includes an fsync.

On a shared machine the same code measures 2 ms one minute and 30 ms the next, because the
disk is busy with someone else's writes. A bare `fdatasync` of a small in-place write on the
same file system, measured in the same run (interleaved with the measurement it explains),
says how much of an enqueue latency is the disk's and how much the program's.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from types import TracebackType


class FlushProbe:
    """`pwrite` 32 bytes in place, then `fdatasync` (what one durable commit costs at least)."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / "flush-probe.bin"
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        os.pwrite(self._fd, b"\0" * 32, 0)
        os.fsync(self._fd)  # the size and the block are on the device: later flushes are data only
        self._n = 0

    def once_ms(self) -> float:
        self._n += 1
        payload = self._n.to_bytes(8, "little") * 4
        started = time.perf_counter()
        os.pwrite(self._fd, payload, 0)
        os.fdatasync(self._fd)
        return (time.perf_counter() - started) * 1000

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
            self.path.unlink(missing_ok=True)

    def __enter__(self) -> FlushProbe:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def load_line() -> str:
    """`/proc/loadavg` as it reads (1, 5, 15-minute load, runnable/total, last pid)."""
    try:
        return Path("/proc/loadavg").read_text().strip()
    except OSError:  # pragma: no cover - non-Linux
        return "?"
