"""A small real tmpfs for disk-full tests: `mount -t tmpfs -o size=…` on a temporary directory
(needs root, as the test machines and CI run), and a filler file that takes the free space."""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

FILLER = "filler.bin"


@contextlib.contextmanager
def small_tmpfs(path: Path, size: str = "4m") -> Iterator[Path]:
    """Mount a tmpfs of `size` on `path` (created) for the duration of the block."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root (the test machines and CI run as root)")
    path.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path)],
                   check=True, capture_output=True)
    try:
        yield path
    finally:
        done = subprocess.run(["umount", str(path)], capture_output=True)
        if done.returncode != 0:  # a process still holds a file: detach now, free when closed
            subprocess.run(["umount", "-l", str(path)], capture_output=True)


def fill(path: Path, keep: int = 0) -> int:
    """Write a filler file in `path` until the file system is full (then give `keep` bytes
    back); returns the filler's size."""
    filler = path / FILLER
    written = 0
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        for size in (1 << 20, 65536, 4096, 512, 1):
            chunk = b"\0" * size
            while True:
                try:
                    n = os.write(fd, chunk)
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    break
                written += n
                if n < size:
                    break
    finally:
        os.close(fd)
    if keep:
        written = max(0, written - keep)
        os.truncate(filler, written)
    return written


def free(path: Path) -> None:
    """Remove the filler file: the space is back."""
    (path / FILLER).unlink(missing_ok=True)
