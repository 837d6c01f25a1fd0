"""The outbox's high-water mark of acknowledged ids, kept outside SQLite's `-wal` file.

A committed outbox entry may live only in `outbox.sqlite3-wal` until a checkpoint copies it into
the main file. If that file goes missing (a copy or backup of the data dir without it, a careless
clean-up after a crash), SQLite opens the main file alone and the entries are gone without an
error. This file lets start-up notice.

`outbox.acked` holds two fixed 32-byte slots, written alternately in place with `pwrite` (no
size or metadata change, so it cannot run out of space). Each slot: magic, generation, `acked`
(highest id committed and acknowledged), `pending` (highest id of the batch being committed),
CRC32. A torn write spoils at most the slot being written; the other one stays valid.

The writer thread records `(acked, pending)` just before SQLite commits a batch that adds
entries. The record is in the kernel's page cache at once, so it survives a crash of the
process (`kill -9`) whatever happens next; it is flushed to the device (`fdatasync`) in the
background, at most every 0.2 s, so a batch's answer does not wait for a second flush (the
commit's own fsync is the one on the write path). After a power loss the record may lag the
outbox by the batches of the last 0.2 s: never ahead of it, so never a false alarm. After a
crash:

* highest id in the outbox < `acked`: acknowledged entries are missing → refuse to start;
* `acked` ≤ highest id < `pending`: the last batch was being committed; it was acknowledged
  only if its commit is in the `-wal`, so this is fine while the `-wal` file exists, and a
  possible loss when it does not → refuse to start.
"""

from __future__ import annotations

import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

ACKED_FILE = "outbox.acked"
_MAGIC = b"EOA1"
_BODY = struct.Struct("<4sQQQ")  # magic, generation, acked, pending
_SLOT = _BODY.size + 4  # + crc32
_SLOTS = 2


@dataclass(frozen=True, slots=True)
class AckState:
    acked: int
    pending: int


def startup_problem(state: AckState, highest_id: int, wal_existed: bool) -> str | None:
    """Why the outbox must not be used as it is (None when it is consistent with `state`)."""
    if highest_id < state.acked:
        return (f"its highest id is {highest_id}, but writes up to id {state.acked} were "
                f"acknowledged (and up to {state.pending} were being committed): at least "
                f"{state.acked - highest_id} acknowledged writes are missing")
    if highest_id < state.pending and not wal_existed:
        return (f"a batch up to id {state.pending} was being committed (highest id now "
                f"{highest_id}) and the -wal file that would hold it is missing: acknowledged "
                "writes may be lost")
    return None


class AckMark:
    """One data dir's `outbox.acked` file; not thread-safe (the outbox's writer uses it)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.acked = 0  # in memory: highest id known committed and acknowledged
        self._fd: int | None = None
        self._generation = 0

    def exists(self) -> bool:
        return self.path.exists()

    def read(self) -> AckState | None:
        """The newest valid slot, or None when no slot is valid (missing or corrupt file)."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return None
        best: tuple[int, AckState] | None = None
        for i in range(_SLOTS):
            raw = data[i * _SLOT:(i + 1) * _SLOT]
            if len(raw) != _SLOT:
                continue
            body, (crc,) = raw[:_BODY.size], struct.unpack("<I", raw[_BODY.size:])
            if zlib.crc32(body) != crc:
                continue
            magic, generation, acked, pending = _BODY.unpack(body)
            if magic != _MAGIC:
                continue
            if best is None or generation > best[0]:
                best = (generation, AckState(acked, pending))
        if best is None:
            return None
        self._generation = best[0]
        return best[1]

    def open(self, state: AckState | None, initial: int) -> None:
        """Open for writing at the outbox's highest id `initial` (everything it holds is
        committed); without a valid `state`, (re)create the file at `initial`."""
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        self.acked = initial
        if state is None:
            self._generation = 0
            for _ in range(_SLOTS):
                self.write(initial, initial)
            os.fsync(self._fd)
            dir_fd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        elif state != AckState(initial, initial):
            # settle what start-up accepted (e.g. a batch that never committed), so that a
            # clean stop (which removes the -wal) cannot make it look like a loss later
            self.write(initial, initial)

    def write(self, acked: int, pending: int) -> None:
        """Durably record `(acked, pending)` (raises OSError on failure)."""
        self.record(acked, pending)
        self.sync()

    def record(self, acked: int, pending: int) -> None:
        """Record `(acked, pending)` in the older slot, without waiting for the device."""
        if self._fd is None:
            raise RuntimeError("acked mark is not open")
        self._generation += 1
        body = _BODY.pack(_MAGIC, self._generation, acked, pending)
        slot = body + struct.pack("<I", zlib.crc32(body))
        offset = (self._generation % _SLOTS) * _SLOT
        if os.pwrite(self._fd, slot, offset) != _SLOT:
            raise OSError(f"short write to {self.path}")

    def sync(self) -> None:
        """Flush what `record` wrote to the device."""
        if self._fd is not None:
            os.fdatasync(self._fd)

    def close(self) -> None:
        if self._fd is not None:
            try:
                os.fdatasync(self._fd)
            finally:
                os.close(self._fd)
                self._fd = None
