"""The outbox's record of acknowledged ids, kept outside SQLite's `-wal` file.

A committed outbox entry may live only in `outbox.sqlite3-wal` until a checkpoint copies it into
the main file. If that file goes missing (a copy or backup of the data dir without it, a careless
clean-up after a crash), SQLite opens the main file alone and the entries are gone without an
error. This file lets start-up notice.

`outbox.acked` holds two fixed 48-byte slots in its first sector, written alternately in place
with `pwrite` (no size or metadata change, so it cannot run out of space and `fdatasync` needs
no journal commit). Each slot: magic, generation, `acked`, `reserved`, the boot id of the
machine when it was written, CRC32. A torn write spoils at most the slot being written; the
other one stays valid, and start-up takes the highest `acked` and `reserved` of the valid slots.

* `acked` — the highest id committed and about to be acknowledged. Written (page cache only)
  after each commit that adds entries and before any of them is answered, so after a crash of
  the process (`kill -9`) it is exact; after a power loss it may lag.
* `reserved` — a lease: no id above it is ever acknowledged. It is on the device (`fdatasync`)
  before any id it covers is answered, so it survives a power loss too. It is extended
  `lease` ids ahead in the background when half of it is used, so the write path waits for it
  only when the lease runs out (or, with the reference `background` mode, never: then it is
  flushed at most every 0.2 s and a power loss can miss the last writes).

At start, with the highest id the outbox holds (`startup_problem`):

* highest < `acked`: acknowledged entries are missing (ids highest+1 … `acked`) → refuse;
* same boot (the process crashed, the machine did not restart): `acked` is exact, so
  anything else is consistent, with or without the `-wal` file;
* another boot, no `-wal` file and highest < `reserved`: the writes of the last moments before
  the restart cannot be verified → refuse. With the `-wal` file there, SQLite has replayed it.
"""

from __future__ import annotations

import os
import struct
import threading
import uuid
import zlib
from dataclasses import dataclass
from pathlib import Path

ACKED_FILE = "outbox.acked"
LEASE_IDS = 1024  # ids reserved ahead (one fdatasync of this file per LEASE_IDS entries)
_MAGIC = b"EOA2"
_BODY = struct.Struct("<4sQQQ16s")  # magic, generation, acked, reserved, boot id
_SLOT = _BODY.size + 4  # + crc32
_SLOTS = 2
_V1_MAGIC = b"EOA1"  # data dirs from before the lease: (acked, pending), no boot id
_V1_BODY = struct.Struct("<4sQQQ")
_V1_SLOT = _V1_BODY.size + 4
_BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


def current_boot_id() -> bytes:
    """This boot of the machine (16 bytes); changes when it restarts (e.g. after power loss)."""
    try:
        return uuid.UUID(_BOOT_ID.read_text().strip()).bytes
    except (OSError, ValueError):  # no boot id: every start counts as a new boot (cautious)
        return b"\0" * 16


@dataclass(frozen=True, slots=True)
class AckState:
    acked: int
    reserved: int
    boot: bytes | None = None  # None: written by an older version (no boot id)


def _ids(first: int, last: int) -> str:
    return f"id {first}" if first == last else f"ids {first}–{last}"


def startup_problem(state: AckState, highest: int, wal_existed: bool, boot: bytes) -> str | None:
    """Why the outbox must not be used as it is (None when it is consistent with `state`)."""
    same_boot = state.boot is not None and state.boot == boot
    if highest < state.acked:
        lost = state.acked - highest
        count = f"{lost} acknowledged write{'s' if lost != 1 else ''}"
        return (f"{_ids(highest + 1, state.acked)} were acknowledged but the outbox's highest id "
                f"is {highest}: {count if same_boot else 'at least ' + count} missing "
                "(queued, or already replayed with their completion lost)")
    if highest < state.reserved and not wal_existed and not same_boot:
        return (f"the machine restarted since the last writes and the -wal file is missing: "
                f"{_ids(highest + 1, state.reserved)} may have been acknowledged (the outbox's "
                f"highest id is {highest}, the last acknowledged id on record {state.acked}), "
                "so acknowledged writes may be lost")
    return None


def _parse(data: bytes) -> list[tuple[int, AckState]]:
    """(generation, state) of every valid slot, current layout or the older one."""
    found: list[tuple[int, AckState]] = []
    for i in range(_SLOTS):
        raw = data[i * _SLOT:(i + 1) * _SLOT]
        if len(raw) == _SLOT and zlib.crc32(raw[:_BODY.size]) == struct.unpack(
                "<I", raw[_BODY.size:])[0]:
            magic, generation, acked, reserved, boot = _BODY.unpack(raw[:_BODY.size])
            if magic == _MAGIC:
                found.append((generation, AckState(acked, reserved, boot)))
    if found:
        return found
    for i in range(_SLOTS):
        raw = data[i * _V1_SLOT:(i + 1) * _V1_SLOT]
        if len(raw) == _V1_SLOT and zlib.crc32(raw[:_V1_BODY.size]) == struct.unpack(
                "<I", raw[_V1_BODY.size:])[0]:
            magic, generation, acked, pending = _V1_BODY.unpack(raw[:_V1_BODY.size])
            if magic == _V1_MAGIC:
                found.append((generation, AckState(acked, pending, None)))
    return found


class AckMark:
    """One data dir's `outbox.acked` file. `record` and `reserve` may be called from different
    threads (the outbox's writer and its lease thread)."""

    def __init__(self, path: Path, boot: bytes | None = None) -> None:
        self.path = path
        self.boot = current_boot_id() if boot is None else boot
        self.acked = 0  # highest id recorded as acknowledged
        self.reserved = 0  # highest id recorded as reserved
        self.durable = 0  # highest reserved id known to be on the device
        self._fd: int | None = None
        self._generation = 0
        self._lock = threading.Lock()

    def exists(self) -> bool:
        return self.path.exists()

    def read(self) -> AckState | None:
        """The highest `acked` and `reserved` of the valid slots (boot id of the newest), or
        None when no slot is valid (missing or corrupt file)."""
        try:
            slots = _parse(self.path.read_bytes())
        except FileNotFoundError:
            return None
        if not slots:
            return None
        newest = max(slots, key=lambda s: s[0])
        self._generation = newest[0]
        return AckState(max(s.acked for _, s in slots), max(s.reserved for _, s in slots),
                        newest[1].boot)

    def open(self, initial: int, reserve: int = 0) -> None:
        """Open for writing at the outbox's highest id `initial` (everything it holds is
        committed): both slots say `(initial, initial + reserve)`, on the device on return."""
        created = not self.path.exists()
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        self.acked = initial
        self.settle(initial, initial + reserve)
        if created:
            dir_fd = os.open(self.path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)

    def settle(self, acked: int, reserved: int) -> None:
        """Write `(acked, reserved)` into both slots and flush (start and clean stop only:
        `reserved` may go down here, when nothing above `acked` can be acknowledged)."""
        with self._lock:
            self.acked, self.reserved = acked, reserved
            for _ in range(_SLOTS):
                self._put()
        self.sync()
        self.durable = reserved

    def record(self, acked: int) -> None:
        """Record `acked` (page cache; survives a crash of the process at once). `reserved` is
        never below it (the reference mode reserves nothing ahead)."""
        with self._lock:
            self.acked = max(self.acked, acked)
            self.reserved = max(self.reserved, self.acked)
            self._put()

    def reserve(self, target: int) -> None:
        """Make sure ids up to `target` are reserved on the device (raises OSError)."""
        with self._lock:
            if target <= self.durable:
                return
            self.reserved = max(self.reserved, target)
            self._put()
            covered = self.reserved
        self.sync()
        with self._lock:
            self.durable = max(self.durable, covered)

    def flush(self) -> None:
        """Flush what was recorded; afterwards everything recorded so far is durable."""
        with self._lock:
            covered = self.reserved
        self.sync()
        with self._lock:
            self.durable = max(self.durable, covered)

    def _put(self) -> None:
        if self._fd is None:
            raise RuntimeError("acked mark is not open")
        self._generation += 1
        body = _BODY.pack(_MAGIC, self._generation, self.acked, self.reserved, self.boot)
        slot = body + struct.pack("<I", zlib.crc32(body))
        offset = (self._generation % _SLOTS) * _SLOT
        if os.pwrite(self._fd, slot, offset) != _SLOT:
            raise OSError(f"short write to {self.path}")

    def sync(self) -> None:
        """Flush what `record`/`reserve` wrote to the device."""
        if self._fd is not None:
            os.fdatasync(self._fd)

    def close(self) -> None:
        if self._fd is not None:
            try:
                os.fdatasync(self._fd)
            finally:
                os.close(self._fd)
                self._fd = None
