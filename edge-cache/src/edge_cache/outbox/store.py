"""The durable outbox: queued unsafe requests in their own SQLite file.

Durability: WAL journal with `synchronous=FULL`, so a commit is on disk when it returns. An
`enqueue` resolves only after its row is committed. Concurrent writes share one transaction and
one fsync (group commit): while one batch is being committed on the writer thread, new writes
collect and go in the next batch. Reads use a second connection on another thread (WAL lets
them run beside the writer).

A lost `-wal` file cannot lose an acknowledged entry unnoticed (see `acked.py`): a batch that
adds entries records its highest id in `outbox.acked` before any of them is answered, and no
entry is answered before a lease of ids covering it is on the device. The lease is extended in
the background `lease_ids` ahead, so the write path waits for a second flush only when a burst
outruns it (then that flush runs beside the commit's and is shared by the batch). With
`acked_sync="background"` (the behaviour before the lease, for comparisons) the record is
flushed in the background at most every 0.2 s instead, and a power loss together with a lost
`-wal` can miss the last writes.

Start-up refuses, with `OutboxStartupError`, to run on an unreadable or corrupt outbox, on a
missing outbox file when the data dir shows one existed (marker file), on an outbox that holds
fewer entries than were acknowledged (a lost `-wal` file), and on a data dir that another live
process holds — the outbox is never discarded silently.

Storage failures on enqueue (disk full, I/O error) raise `OutboxStorageError`: the write was not
stored and must not be acknowledged.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import hashlib
import json
import logging
import os
import sqlite3
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, TypeVar

from edge_cache.messages import Headers, Request, without_headers
from edge_cache.outbox.acked import ACKED_FILE, LEASE_IDS, AckMark, startup_problem
from edge_cache.outbox.entry import DEAD, QUEUED, OutboxEntry, entry_size
from edge_cache.outbox.paths import PolicyLookup, default_policy, marked_paths

log = logging.getLogger("edge_cache.outbox")

T = TypeVar("T")
# (operation, its future, whether it adds entries: those need the acknowledged-ids mark)
_PendingWrite = tuple[Callable[[sqlite3.Connection], Any], "asyncio.Future[Any]", bool]

OUTBOX_FILE = "outbox.sqlite3"
MARKER_FILE = "outbox.created"
LOCK_FILE = "outbox.lock"
SCHEMA_VERSION = "1"
MARK_SYNC_INTERVAL = 0.2  # seconds between flushes of outbox.acked, "background" mode
ACKED_SYNC_MODES = ("lease", "background")

# Headers never stored: hop-by-hop fields and the sidecar's own replay headers (a client must
# not be able to forge a device credential by sending them).
DROPPED_HEADERS = (
    "connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer",
    "upgrade", "content-length", "x-edge-device-authorization", "x-edge-queued-at",
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    state TEXT NOT NULL,
    method TEXT NOT NULL,
    target TEXT NOT NULL,
    headers TEXT NOT NULL,
    body BLOB NOT NULL,
    idempotency_key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    queued_at REAL NOT NULL,
    marks TEXT NOT NULL,
    parallel INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL DEFAULT 0,
    last_status INTEGER,
    last_body BLOB,
    last_error TEXT,
    dead_at REAL
);
CREATE INDEX IF NOT EXISTS outbox_state ON outbox(state, id);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""

_COLUMNS = (
    "id, state, method, target, headers, body, idempotency_key, queued_at, attempts, "
    "next_attempt_at, marks, parallel, last_status, last_body, last_error, dead_at"
)


class OutboxFull(Exception):
    """The outbox reached its entry or byte bound; the write is refused (507), never evicted."""


class OutboxStartupError(RuntimeError):
    """The outbox cannot be opened safely; the message says why and what to do."""


class OutboxStorageError(Exception):
    """The write could not be stored (disk full, I/O error): refused (507), never acknowledged."""

    def __init__(self, message: str, *, disk_full: bool) -> None:
        super().__init__(message)
        self.disk_full = disk_full


def _storage_error(exc: BaseException) -> OutboxStorageError:
    text = str(exc)
    full = "full" in text.lower() or getattr(exc, "errno", None) in (
        errno.ENOSPC, errno.EDQUOT)
    what = "disk full" if full else "storage error"
    return OutboxStorageError(f"outbox could not store the write ({what}: {text})",
                              disk_full=full)


@dataclass(slots=True)
class QueuedRef:
    """What the replayer and the read-your-writes marks need of a queued entry (no body)."""

    id: int
    method: str
    path: str
    parallel: bool
    marks: tuple[str, ...]
    queued_at: float
    idempotency_key: str
    fingerprint: str
    size: int
    attempts: int = 0
    next_attempt_at: float = 0.0
    waits: int = 0  # transient answers in a row (409 in flight, 429, 503, transport errors)
    last_status: int | None = None
    last_error: str | None = None


def _fingerprint(method: str, target: str, body: bytes) -> str:
    h = hashlib.sha256()
    h.update(method.encode() + b" " + target.encode() + b"\n")
    h.update(body)
    return h.hexdigest()


def _row_to_entry(row: tuple[Any, ...]) -> OutboxEntry:
    return OutboxEntry(
        id=int(row[0]),
        state=str(row[1]),
        method=str(row[2]),
        target=str(row[3]),
        headers=[(str(k), str(v)) for k, v in json.loads(row[4])],
        body=bytes(row[5]),
        idempotency_key=str(row[6]),
        queued_at=float(row[7]),
        attempts=int(row[8]),
        next_attempt_at=float(row[9]),
        marks=tuple(json.loads(row[10])),
        parallel=bool(row[11]),
        last_status=None if row[12] is None else int(row[12]),
        last_body=None if row[13] is None else bytes(row[13]),
        last_error=row[14],
        dead_at=None if row[15] is None else float(row[15]),
    )


class Outbox:
    """Durable queue of writes accepted while the origin was unreachable."""

    def __init__(
        self,
        data_dir: str | os.PathLike[str],
        *,
        max_entries: int = 100_000,
        max_bytes: int = 256 * 1024 * 1024,
        policy: PolicyLookup = default_policy,
        clock: Callable[[], float] = time.time,
        acked_sync: str = "lease",
        lease_ids: int = LEASE_IDS,
        boot_id: bytes | None = None,
    ) -> None:
        if acked_sync not in ACKED_SYNC_MODES:
            raise ValueError(f"acked_sync={acked_sync!r}: expected one of {ACKED_SYNC_MODES}")
        self.data_dir = Path(data_dir)
        self.path = self.data_dir / OUTBOX_FILE
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.policy = policy
        self.clock = clock
        self._writer: ThreadPoolExecutor | None = None
        self._reader: ThreadPoolExecutor | None = None
        self._wconn: sqlite3.Connection | None = None
        self._rconn: sqlite3.Connection | None = None
        self._lock_file: IO[str] | None = None
        self._mark = AckMark(self.data_dir / ACKED_FILE, boot_id)
        self._lease = acked_sync == "lease"
        self._lease_ids = max(1, lease_ids) if self._lease else 0
        self._lease_future: Future[None] | None = None
        self._lease_target = 0  # highest reservation asked of the lease thread
        self._mark_writer: ThreadPoolExecutor | None = None
        self._sync_queued = False
        self._next_mark_sync = 0.0
        self._queued: dict[int, QueuedRef] = {}
        self._by_key: dict[str, int] = {}
        self._marks: Counter[str] = Counter()
        self._dead = 0
        self._entries = 0  # queued + dead, including reservations in flight
        self._bytes = 0
        self._write_queue: list[_PendingWrite] = []
        self._flush_task: asyncio.Task[None] | None = None
        self._listeners: list[Callable[[], None]] = []
        self.enqueue_latencies: list[float] = []  # seconds, recent enqueues (bounded)
        self.on_enqueue_latency: Callable[[float], None] | None = None

    # -- lifecycle --------------------------------------------------------------------------

    def open(self) -> None:
        """Open (or create) the outbox. Raises OutboxStartupError when that is not safe."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self._take_lock()
        marker = self.data_dir / MARKER_FILE
        exists = self.path.exists()
        if not exists and marker.exists():
            self._release_lock()
            raise OutboxStartupError(
                f"outbox database {self.path} is missing but {marker} shows this data dir had "
                "one: queued writes may be lost. Restore the file (with its -wal file), or, "
                f"to start with an empty outbox on purpose, delete {marker}."
            )
        if exists and self.path.stat().st_size == 0 and marker.exists():
            self._release_lock()
            raise OutboxStartupError(
                f"outbox database {self.path} is empty (0 bytes) but {marker} shows it held "
                f"data. Restore it, or delete both it and {marker} to start afresh."
            )
        wal_existed = Path(str(self.path) + "-wal").exists()  # before SQLite opens (creates) it
        try:
            wconn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            wconn.execute("PRAGMA journal_mode=WAL")
            wconn.execute("PRAGMA synchronous=FULL")
            wconn.execute("PRAGMA busy_timeout=5000")
            check = wconn.execute("PRAGMA quick_check").fetchone()
            if not check or check[0] != "ok":
                raise sqlite3.DatabaseError("quick_check: %s" % (check[0] if check else "?"))
            wconn.executescript(_SCHEMA)
            version = wconn.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
            if version is None:
                wconn.execute("INSERT INTO meta(key, value) VALUES ('schema', ?)",
                              (SCHEMA_VERSION,))
                wconn.execute("INSERT OR IGNORE INTO meta(key, value) VALUES ('created_at', ?)",
                              (str(time.time()),))
            elif version[0] != SCHEMA_VERSION:
                raise sqlite3.DatabaseError(f"unknown outbox schema version {version[0]!r}")
            rows = wconn.execute(
                "SELECT id, state, method, target, idempotency_key, fingerprint, queued_at, "
                "marks, parallel, attempts, next_attempt_at, length(target) + length(headers)"
                " + length(body), last_status, last_error FROM outbox ORDER BY id"
            ).fetchall()
            seq_row = wconn.execute(
                "SELECT seq FROM sqlite_sequence WHERE name='outbox'").fetchone()
        except sqlite3.DatabaseError as exc:
            self._release_lock()
            raise OutboxStartupError(
                f"outbox database {self.path} is unreadable or corrupt ({exc}). edge-cache "
                "will not start on it, so that no queued write is discarded silently. Move "
                "the file (and its -wal/-shm files) aside to inspect or repair it (sqlite3 "
                f".recover), then delete {marker} to start with an empty outbox."
            ) from exc
        highest = max(int(seq_row[0]) if seq_row else 0, int(rows[-1][0]) if rows else 0)
        self._check_acked(marker, highest, wal_existed, wconn)
        if not marker.exists() or not self._marker_tracks_acks(marker):
            self._write_marker(marker)
        self._mark_writer = ThreadPoolExecutor(1, thread_name_prefix="outbox-acked")
        self._wconn = wconn
        self._rconn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self._rconn.execute("PRAGMA busy_timeout=5000")
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="outbox-writer")
        self._reader = ThreadPoolExecutor(1, thread_name_prefix="outbox-reader")
        self._load(rows)
        log.info(
            "outbox opened",
            extra={"event": "outbox_open", "path": str(self.path), "queued": self.depth(),
                   "dead": self._dead},
        )

    def _load(self, rows: list[tuple[Any, ...]]) -> None:
        for row in rows:
            size = int(row[11] or 0)
            self._entries += 1
            self._bytes += size
            if row[1] == DEAD:
                self._dead += 1
                continue
            ref = QueuedRef(
                id=int(row[0]), method=str(row[2]), path=str(row[3]).split("?", 1)[0],
                parallel=bool(row[8]), marks=tuple(json.loads(row[7])),
                queued_at=float(row[6]), idempotency_key=str(row[4]),
                fingerprint=str(row[5]), size=size, attempts=int(row[9]),
                next_attempt_at=0.0,
                last_status=None if row[12] is None else int(row[12]), last_error=row[13],
            )
            self._add_queued(ref)

    @staticmethod
    def _marker_tracks_acks(marker: Path) -> bool:
        """True when the marker says this data dir keeps `outbox.acked` (newer data dirs)."""
        try:
            data = json.loads(marker.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return False
        return isinstance(data, dict) and data.get("acked_file") == ACKED_FILE

    def _check_acked(
        self, marker: Path, highest: int, wal_existed: bool, wconn: sqlite3.Connection
    ) -> None:
        """Refuse an outbox that lost acknowledged entries; open (or create) `outbox.acked`."""
        state = self._mark.read()
        tracked = marker.exists() and self._marker_tracks_acks(marker)
        problem: str | None = None
        if tracked and state is None:
            problem = (f"{self._mark.path} is missing or unreadable, so edge-cache cannot tell "
                       "whether the outbox still holds every acknowledged write")
        elif tracked and state is not None:
            problem = startup_problem(state, highest, wal_existed, self._mark.boot)
        if problem is not None:
            wconn.close()
            self._release_lock()
            raise OutboxStartupError(
                f"outbox {self.path}: {problem}. Most likely {self.path.name}-wal was lost (a "
                "copy or backup of the data dir without it?). edge-cache will not start on it, "
                f"so that no queued write is discarded silently. Restore the -wal file next to "
                f"{self.path.name} (same copy), or, to accept the loss and start with what the "
                f"outbox holds now, delete {self._mark.path} and {marker}."
            )
        self._mark.open(highest, self._lease_ids)
        self._lease_target = self._mark.durable

    def _write_marker(self, marker: Path) -> None:
        tmp = marker.with_suffix(".tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump({"created_at": time.time(), "database": OUTBOX_FILE,
                       "acked_file": ACKED_FILE}, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, marker)
        dir_fd = os.open(self.data_dir, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def _take_lock(self) -> None:
        fh = open(self.data_dir / LOCK_FILE, "a+", encoding="utf-8")  # noqa: SIM115
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            fh.close()
            raise OutboxStartupError(
                f"another edge-cache process holds {self.data_dir / LOCK_FILE}; two sidecars "
                "must not share one data dir"
            ) from exc
        self._lock_file = fh

    def _release_lock(self) -> None:
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None

    async def close(self) -> None:
        """Finish pending writes, then close the database files."""
        if self._flush_task is not None:
            with contextlib.suppress(Exception):
                await asyncio.shield(self._flush_task)
        for executor, conn in ((self._writer, self._wconn), (self._reader, self._rconn)):
            if executor is not None and conn is not None:
                await asyncio.get_running_loop().run_in_executor(executor, conn.close)
                executor.shutdown(wait=True)
        if self._mark_writer is not None:
            self._mark_writer.shutdown(wait=True)
            self._mark_writer = None
        if self._wconn is not None:
            self._settle_mark()
        self._mark.close()
        self._writer = self._reader = None
        self._wconn = self._rconn = None
        self._release_lock()

    def _settle_mark(self) -> None:
        """After the databases are closed: with the -wal gone (checkpointed into the main file),
        nothing above the highest id can be acknowledged, so the lease is given back."""
        try:
            if Path(str(self.path) + "-wal").exists():
                self._mark.flush()
            else:
                self._mark.settle(self._mark.acked, self._mark.acked)
        except (OSError, RuntimeError) as exc:
            log.error("cannot settle acknowledged outbox ids", extra={
                "event": "outbox_acked_settle_failed", "error": str(exc)})

    # -- in-memory index ----------------------------------------------------------------------

    def _add_queued(self, ref: QueuedRef) -> None:
        self._queued[ref.id] = ref
        self._by_key[ref.idempotency_key] = ref.id
        self._marks.update(ref.marks)

    def _drop_queued(self, entry_id: int) -> QueuedRef | None:
        ref = self._queued.pop(entry_id, None)
        if ref is not None:
            if self._by_key.get(ref.idempotency_key) == entry_id:
                del self._by_key[ref.idempotency_key]
            self._marks.subtract(ref.marks)
            for mark in ref.marks:
                if self._marks[mark] <= 0:
                    del self._marks[mark]
        return ref

    def add_listener(self, listener: Callable[[], None]) -> None:
        """Call `listener()` whenever entries become ready to replay (enqueue, retry)."""
        self._listeners.append(listener)

    def _notify(self) -> None:
        for listener in list(self._listeners):
            listener()

    def depth(self) -> int:
        return len(self._queued)

    def dead_count(self) -> int:
        return self._dead

    def bytes_used(self) -> int:
        return self._bytes

    def oldest_age(self) -> float | None:
        """Seconds since the oldest queued entry was accepted, or None when nothing is queued."""
        if not self._queued:
            return None
        oldest = min(ref.queued_at for ref in self._head(64))
        return max(0.0, self.clock() - oldest)

    def oldest(self) -> QueuedRef | None:
        """The longest-waiting queued entry (what a stuck queue is stuck on), or None."""
        head = list(self._head(64))
        return min(head, key=lambda r: r.queued_at) if head else None

    def waiting(self, now: float | None = None) -> int:
        """Queued entries backing off after a transient answer or a failed attempt (`now` on
        the replayer's clock, which schedules them; default the outbox's)."""
        now = self.clock() if now is None else now
        return sum(1 for r in self._queued.values() if r.next_attempt_at > now)

    def _head(self, n: int) -> Iterator[QueuedRef]:
        for i, ref in enumerate(self._queued.values()):
            if i >= n:
                return
            yield ref

    def pending_for(self, path: str) -> int:
        """Queued writes that mark `path` (their own path, parent collection or `affects`)."""
        return self._marks.get(path, 0)

    def queued_refs(self) -> Iterator[QueuedRef]:
        """Queued entries in queue order (by id)."""
        return iter(list(self._queued.values()))

    def iter_queued(self) -> Iterator[QueuedRef]:
        """Queued entries in queue order without copying; do not await while iterating."""
        return iter(self._queued.values())

    def queued_ref(self, entry_id: int) -> QueuedRef | None:
        return self._queued.get(entry_id)

    # -- group commit -------------------------------------------------------------------------

    async def _write(self, fn: Callable[[sqlite3.Connection], T], *, adds: bool = False) -> T:
        if self._writer is None:
            raise RuntimeError("outbox is not open")
        fut: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._write_queue.append((fn, fut, adds))
        if self._flush_task is None or self._flush_task.done():
            self._flush_task = asyncio.create_task(self._flush_loop(), name="outbox-commit")
        return await fut

    async def _flush_loop(self) -> None:
        loop = asyncio.get_running_loop()
        while self._write_queue:
            batch, self._write_queue = self._write_queue, []
            fns = [fn for fn, _, _ in batch]
            try:
                results, unmarked = await loop.run_in_executor(
                    self._writer, self._run_batch, fns)
            except BaseException as exc:  # commit failed: nothing in the batch is durable
                for _, fut, _ in batch:
                    if not fut.done():
                        fut.set_exception(
                            exc if isinstance(exc, Exception) else RuntimeError(str(exc))
                        )
                if not isinstance(exc, Exception):
                    raise
                continue
            for (_, fut, adds), (ok, value) in zip(batch, results, strict=True):
                if fut.done():
                    continue
                if ok and adds and unmarked is not None:
                    fut.set_exception(unmarked)  # committed, but a lost -wal would go unseen
                elif ok:
                    fut.set_result(value)
                else:
                    fut.set_exception(value)

    def _run_batch(
        self, fns: list[Callable[[sqlite3.Connection], Any]]
    ) -> tuple[list[tuple[bool, Any]], OutboxStorageError | None]:
        """One transaction for `fns` (each in a savepoint). When it adds entries, their highest
        id is recorded in `outbox.acked` after the commit, and the batch returns only once a
        lease covering it is on the device (asked for before the commit, so both flushes run
        at once when it must wait). Returns the per-operation results and, if the record failed
        even after a checkpoint, the error for the adding operations."""
        conn = self._wconn
        assert conn is not None and self._mark_writer is not None
        out: list[tuple[bool, Any]] = []
        lease: Future[None] | None = None
        conn.execute("BEGIN IMMEDIATE")
        try:
            for fn in fns:
                conn.execute("SAVEPOINT op")
                try:
                    value = fn(conn)
                except Exception as exc:
                    conn.execute("ROLLBACK TO op")
                    conn.execute("RELEASE op")
                    out.append((False, exc))
                else:
                    conn.execute("RELEASE op")
                    out.append((True, value))
            row = conn.execute("SELECT seq FROM sqlite_sequence WHERE name='outbox'").fetchone()
            highest = int(row[0]) if row else 0
            adds = highest > self._mark.acked
            if adds and self._lease:
                lease = self._lease_for(highest)
            conn.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise
        if not adds:
            return out, None
        marked: OSError | None = None
        try:
            self._mark.record(highest)
            if lease is not None:
                lease.result()
        except OSError as exc:
            marked = exc
        if marked is not None and not self._checkpoint(conn, marked):
            return out, _storage_error(marked)
        if not self._lease and marked is None and not self._sync_queued:
            self._sync_queued = True
            self._mark_writer.submit(self._sync_mark)
        return out, None

    def _lease_for(self, highest: int) -> Future[None] | None:
        """(Writer thread.) The flush the batch up to `highest` must wait for, or None when the
        lease on the device covers it; asks for the next lease once half of it is used."""
        mark, writer = self._mark, self._mark_writer
        assert writer is not None
        if highest <= mark.durable:
            if highest + self._lease_ids // 2 > self._lease_target:
                self._lease_target = highest + self._lease_ids
                self._lease_future = writer.submit(self._extend_lease, self._lease_target)
            return None
        if self._lease_future is None or self._lease_future.done() or \
                self._lease_target < highest:  # none, failed, or too short
            self._lease_target = highest + self._lease_ids
            self._lease_future = writer.submit(self._extend_lease, self._lease_target)
        return self._lease_future

    def _extend_lease(self, target: int) -> None:
        try:
            self._mark.reserve(target)
        except OSError as exc:
            log.error("cannot reserve outbox ids", extra={
                "event": "outbox_acked_lease_failed", "error": str(exc), "target": target})
            raise

    def _sync_mark(self) -> None:
        """("background" mode.) Flush `outbox.acked` on its own thread, off the write path, at
        most every `MARK_SYNC_INTERVAL` seconds (each flush covers every record made before it)."""
        time.sleep(max(0.0, self._next_mark_sync - time.monotonic()))
        self._sync_queued = False
        try:
            self._mark.flush()
        except OSError as exc:
            log.error("cannot flush acknowledged outbox ids", extra={
                "event": "outbox_acked_sync_failed", "error": str(exc)})
        self._next_mark_sync = time.monotonic() + MARK_SYNC_INTERVAL

    def _checkpoint(self, conn: sqlite3.Connection, cause: OSError) -> bool:
        """`outbox.acked` could not be written: copy the WAL into the main file instead, so a
        lost -wal cannot lose the batch. True when that worked."""
        try:
            busy, _, _ = conn.execute("PRAGMA wal_checkpoint(FULL)").fetchone()
        except sqlite3.Error:
            busy = 1
        log.error("cannot record acknowledged outbox ids", extra={
            "event": "outbox_acked_write_failed", "error": str(cause),
            "checkpointed": not busy})
        return not busy

    async def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        if self._reader is None or self._rconn is None:
            raise RuntimeError("outbox is not open")
        conn = self._rconn
        return await asyncio.get_running_loop().run_in_executor(self._reader, fn, conn)

    # -- writes -----------------------------------------------------------------------------

    async def enqueue(self, request: Request) -> OutboxEntry:
        """Store `request` durably; returns once it is committed to disk.

        Keeps the client's `Idempotency-Key` or adds a UUID. Raises OutboxFull at the bounds.
        A retry of an identical request with a key that is still queued returns that entry.
        """
        started = time.perf_counter()
        method = request.method.upper()
        target = request.target
        path = request.path
        body = bytes(request.body)
        key = (request.header("Idempotency-Key") or "").strip()
        headers: Headers = without_headers(request.headers, *DROPPED_HEADERS)
        if not key:
            key = str(uuid.uuid4())
            headers.append(("Idempotency-Key", key))
        fingerprint = _fingerprint(method, target, body)
        existing_id = self._by_key.get(key)
        if existing_id is not None:
            ref = self._queued.get(existing_id)
            if ref is not None and ref.fingerprint == fingerprint:
                entry = await self.get(existing_id)
                if entry is not None:
                    return entry
        size = entry_size(target, headers, body)
        if self._entries + 1 > self.max_entries or self._bytes + size > self.max_bytes:
            raise OutboxFull(
                f"outbox full: {self._entries} entries / {self._bytes} bytes"
                f" (bounds {self.max_entries} / {self.max_bytes})"
            )
        plan = self.policy(method, path)
        parallel = plan.parallel and method == "POST"
        marks = marked_paths(path, plan.affects)
        queued_at = self.clock()
        self._entries += 1
        self._bytes += size
        headers_json = json.dumps(headers)
        marks_json = json.dumps(list(marks))

        def insert(conn: sqlite3.Connection) -> int:
            cur = conn.execute(
                "INSERT INTO outbox(state, method, target, headers, body, idempotency_key,"
                " fingerprint, queued_at, marks, parallel) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (QUEUED, method, target, headers_json, body, key, fingerprint, queued_at,
                 marks_json, int(parallel)),
            )
            return int(cur.lastrowid or 0)

        try:
            entry_id = await self._write(insert, adds=True)
        except (sqlite3.Error, OSError) as exc:
            self._entries -= 1
            self._bytes -= size
            error = _storage_error(exc)
            log.error("write not queued: outbox storage failed", extra={
                "event": "outbox_storage_error", "method": method, "target": target,
                "error": str(error)})
            raise error from exc
        except BaseException:
            self._entries -= 1
            self._bytes -= size
            raise
        self._add_queued(QueuedRef(
            id=entry_id, method=method, path=path, parallel=parallel, marks=marks,
            queued_at=queued_at, idempotency_key=key, fingerprint=fingerprint, size=size,
        ))
        elapsed = time.perf_counter() - started
        self.enqueue_latencies.append(elapsed)
        if len(self.enqueue_latencies) > 10_000:
            del self.enqueue_latencies[:5_000]
        if self.on_enqueue_latency is not None:
            self.on_enqueue_latency(elapsed)
        log.info(
            "write queued",
            extra={"event": "outbox_enqueue", "id": entry_id, "method": method,
                   "target": target, "idempotency_key": key, "depth": self.depth(),
                   "ms": round(elapsed * 1000, 3)},
        )
        self._notify()
        return OutboxEntry(
            id=entry_id, method=method, target=target, headers=headers, body=body,
            idempotency_key=key, queued_at=queued_at, marks=marks, parallel=parallel,
        )

    async def complete(self, entry_id: int) -> None:
        """The origin accepted the entry: delete it (after the response, never before)."""
        ref = self._queued.get(entry_id)
        await self._write(lambda c: c.execute("DELETE FROM outbox WHERE id=?", (entry_id,)))
        if ref is not None and self._drop_queued(entry_id) is not None:
            self._entries -= 1
            self._bytes -= ref.size
        self._notify()

    async def defer(
        self, entry_id: int, *, attempts: int, next_attempt_at: float,
        status: int | None, error: str | None, waits: int | None = None,
    ) -> None:
        """A retryable failure or a wait: remember it; the entry keeps its place in the queue."""
        ref = self._queued.get(entry_id)
        if ref is not None:
            ref.attempts = attempts
            ref.next_attempt_at = next_attempt_at
            ref.last_status, ref.last_error = status, error
            if waits is not None:
                ref.waits = waits
        await self._write(lambda c: c.execute(
            "UPDATE outbox SET attempts=?, next_attempt_at=?, last_status=?, last_error=?"
            " WHERE id=?", (attempts, next_attempt_at, status, error, entry_id)))

    async def bury(
        self, entry_id: int, *, status: int | None, body: bytes | None, error: str,
        attempts: int,
    ) -> None:
        """A terminal failure: move the entry to the dead-letter list with the response kept."""
        now = self.clock()
        kept = body[:65536] if body is not None else None
        await self._write(lambda c: c.execute(
            "UPDATE outbox SET state=?, last_status=?, last_body=?, last_error=?, dead_at=?,"
            " attempts=? WHERE id=?", (DEAD, status, kept, error, now, attempts, entry_id)))
        if self._drop_queued(entry_id) is not None:
            self._dead += 1
        self._notify()
        log.warning(
            "write dead-lettered",
            extra={"event": "outbox_dead_letter", "id": entry_id, "status": status,
                   "error": error},
        )

    async def retry(self, entry_id: int) -> OutboxEntry | None:
        """Put a dead letter back in the queue (admin action). None when it is not dead.

        A dead letter the origin refused with a 4xx was not applied, and an origin that
        stores responses per `Idempotency-Key` would answer the same key with the same
        refusal, so such an entry gets a fresh key; other dead letters keep theirs.
        """
        entry = await self.get(entry_id)
        if entry is None or entry.state != DEAD:
            return None
        if entry.last_status is not None and 400 <= entry.last_status < 500:
            entry.idempotency_key = str(uuid.uuid4())
            entry.headers = without_headers(entry.headers, "idempotency-key")
            entry.headers.append(("Idempotency-Key", entry.idempotency_key))
        key, headers_json = entry.idempotency_key, json.dumps(entry.headers)
        changed = await self._write(lambda c: c.execute(
            "UPDATE outbox SET state=?, attempts=0, next_attempt_at=0, idempotency_key=?,"
            " headers=? WHERE id=? AND state=?",
            (QUEUED, key, headers_json, entry_id, DEAD)).rowcount)
        if not changed:
            return None
        self._dead -= 1
        self._add_queued(QueuedRef(
            id=entry.id, method=entry.method, path=entry.path, parallel=entry.parallel,
            marks=entry.marks, queued_at=entry.queued_at,
            idempotency_key=entry.idempotency_key,
            fingerprint=_fingerprint(entry.method, entry.target, entry.body), size=entry.size,
        ))
        self._queued = dict(sorted(self._queued.items()))
        entry.state = QUEUED
        entry.attempts = 0
        self._notify()
        return entry

    async def discard(self, entry_id: int) -> bool:
        """Delete a dead letter (admin action); queued entries cannot be discarded."""
        entry = await self.get(entry_id)
        if entry is None or entry.state != DEAD:
            return False
        deleted = await self._write(lambda c: c.execute(
            "DELETE FROM outbox WHERE id=? AND state=?", (entry_id, DEAD)).rowcount)
        if deleted:
            self._dead -= 1
            self._entries -= 1
            self._bytes -= entry.size
        self._notify()
        return bool(deleted)

    # -- reads ------------------------------------------------------------------------------

    async def get(self, entry_id: int) -> OutboxEntry | None:
        def fetch(conn: sqlite3.Connection) -> OutboxEntry | None:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM outbox WHERE id=?", (entry_id,)
            ).fetchone()
            return _row_to_entry(row) if row else None

        return await self._read(fetch)

    async def entries(
        self, state: str | None = None, *, limit: int = 100, after: int = 0
    ) -> list[OutboxEntry]:
        """Entries in queue order, optionally only `queued` or `dead` ones."""
        def fetch(conn: sqlite3.Connection) -> list[OutboxEntry]:
            if state is None:
                rows = conn.execute(
                    f"SELECT {_COLUMNS} FROM outbox WHERE id>? ORDER BY id LIMIT ?",
                    (after, limit)).fetchall()
            else:
                rows = conn.execute(
                    f"SELECT {_COLUMNS} FROM outbox WHERE state=? AND id>? ORDER BY id LIMIT ?",
                    (state, after, limit)).fetchall()
            return [_row_to_entry(r) for r in rows]

        return await self._read(fetch)

