"""The cache store: SQLite (WAL, synchronous=NORMAL) behind an in-memory hot tier.

* One row per (key, variant); running totals (entries, bytes) kept by triggers, so start-up
  reads one row instead of scanning (lazy load: entries come into memory on first use).
* True LRU: every hit stamps the entry in memory (`touch`: a clock read and a dict store, no
  SQLite write) with a strictly increasing access stamp, so no two accesses tie. The stamps are
  persisted in batches: `flush()` (every couple of seconds) hands them to `checkpoint()`, which
  writes them from a worker thread on its own connection; before eviction, whatever is not yet
  written goes to SQLite on the spot. Rows only move forward (`max(last_access, ?)`), so a late
  or repeated write never makes an entry look older. Eviction deletes the rows with the oldest
  stamps (exact recency order) until both bounds hold; a put that would exceed a bound writes
  its batch at once, so the cache never holds more than its bounds between two batches.
* Puts are written in batches (one transaction per `write_delay`, default 50 ms, or per 256
  entries); an entry is readable at once, and reads, deletes and stats flush the batch first.
* Commits on the event loop never checkpoint the WAL (`wal_autocheckpoint=0`): `checkpoint()`
  runs from a worker thread on its own connection, so fsyncs never stall the hit path.
* A file that is not a usable SQLite database is moved aside (`cache.sqlite3.corrupt-<time>`)
  with a loud log line and the cache tier starts empty: it only holds copies of origin data.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

from edge_cache.entry import CachedResponse
from edge_cache.invalidation import Invalidation
from edge_cache.metrics import Metrics

log = logging.getLogger("edge_cache.store")

SCHEMA_VERSION = 3
PENDING_MAX = 256  # batched puts written at once
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS entries (
    key TEXT NOT NULL,
    variant TEXT NOT NULL,
    path TEXT NOT NULL,
    vary TEXT NOT NULL,
    status INTEGER NOT NULL,
    headers BLOB NOT NULL,
    body BLOB NOT NULL,
    request_time REAL NOT NULL,
    response_time REAL NOT NULL,
    initial_age REAL NOT NULL,
    lifetime REAL NOT NULL,
    size INTEGER NOT NULL,
    last_access REAL NOT NULL,
    invalid INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX IF NOT EXISTS entries_key ON entries (key, variant);
CREATE INDEX IF NOT EXISTS entries_path ON entries (path);
CREATE INDEX IF NOT EXISTS entries_lru ON entries (last_access);
CREATE TABLE IF NOT EXISTS totals (
    id INTEGER PRIMARY KEY CHECK (id = 1), entries INTEGER NOT NULL, bytes INTEGER NOT NULL
);
INSERT OR IGNORE INTO totals VALUES (1, 0, 0);
CREATE TRIGGER IF NOT EXISTS entries_ins AFTER INSERT ON entries BEGIN
    UPDATE totals SET entries = entries + 1, bytes = bytes + NEW.size WHERE id = 1;
END;
CREATE TRIGGER IF NOT EXISTS entries_del AFTER DELETE ON entries BEGIN
    UPDATE totals SET entries = entries - 1, bytes = bytes - OLD.size WHERE id = 1;
END;
CREATE TRIGGER IF NOT EXISTS entries_upd AFTER UPDATE OF size ON entries BEGIN
    UPDATE totals SET bytes = bytes - OLD.size + NEW.size WHERE id = 1;
END;
"""

COLUMNS = (
    "key, variant, path, vary, status, headers, body, request_time, response_time, "
    "initial_age, lifetime, size, last_access, invalid"
)


class StoreError(RuntimeError):
    """The cache database cannot be opened or created."""


def _encode_headers(headers: list[tuple[str, str]]) -> bytes:
    return "\r\n".join(f"{k}: {v}" for k, v in headers).encode("utf-8", "surrogateescape")


def _decode_headers(blob: bytes) -> list[tuple[str, str]]:
    if not blob:
        return []
    out = []
    for line in bytes(blob).decode("utf-8", "surrogateescape").split("\r\n"):
        k, _, v = line.partition(": ")
        out.append((k, v))
    return out


class CacheStore:
    def __init__(
        self,
        path: Path,
        *,
        max_bytes: int,
        max_entries: int,
        hot_entries: int = 4096,
        clock: Callable[[], float] = time.time,
        metrics: Metrics | None = None,
        write_delay: float = 0.05,
    ) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.max_entries = max_entries
        self.hot_entries = hot_entries
        self.clock = clock
        self.metrics = metrics
        self.hits = 0
        self.misses = 0
        self.evictions = 0
        self.errors = 0
        self.entries = 0
        self.bytes = 0
        self.recovered_from: Path | None = None
        self._hot: OrderedDict[str, list[CachedResponse]] = OrderedDict()
        # access stamps not yet in SQLite: by id() of the entry object (no key/variant work on
        # the hit path); `_unsaved` waits for the worker thread, `_saving` is being written
        self._touched: dict[int, CachedResponse] = {}
        self._unsaved: dict[int, CachedResponse] = {}
        self._saving: dict[int, CachedResponse] = {}
        self._stamp = 0.0
        self._save_lock = threading.Lock()
        self._pending: dict[tuple[str, str], CachedResponse] = {}
        self._pending_bytes = 0  # sum of the sizes in _pending (kept as puts come)
        self._pending_keys: set[str] = set()
        self._flush_handle: asyncio.TimerHandle | None = None
        self.write_delay = write_delay
        self._db: sqlite3.Connection | None = None

    # -- lifecycle ------------------------------------------------------------------------------

    def open(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the data directory {self.path.parent}: {exc}") from exc
        if not self.path.exists():
            log.info(
                "cache database %s does not exist: starting with an empty cache",
                self.path,
                extra={"event": "cache_created", "path": str(self.path)},
            )
        try:
            self._db = self._connect()
        except sqlite3.DatabaseError as exc:
            aside = self.path.with_name(f"{self.path.name}.corrupt-{int(time.time())}")
            log.error(
                "cache database %s is unusable (%s): moved aside to %s; "
                "the cache tier starts EMPTY (cached copies only, no queued writes lost)",
                self.path,
                exc,
                aside,
            )
            self.path.rename(aside)
            for suffix in ("-wal", "-shm"):
                side = self.path.with_name(self.path.name + suffix)
                if side.exists():
                    side.rename(aside.with_name(aside.name + suffix))
            self.recovered_from = aside
            self._db = self._connect()
        self._load_totals()
        row = self.db.execute("SELECT max(last_access) FROM entries").fetchone()
        self._stamp = float(row[0]) if row and row[0] is not None else 0.0

    def _connect(self) -> sqlite3.Connection:
        try:
            db = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
        except sqlite3.OperationalError as exc:
            raise StoreError(f"cannot open cache database {self.path}: {exc}") from exc
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA busy_timeout=5000")
            db.execute("PRAGMA wal_autocheckpoint=0")
            db.executescript(SCHEMA)
            row = db.execute("SELECT value FROM meta WHERE name='schema'").fetchone()
            if row is None:
                db.execute("INSERT INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
            elif row[0] != str(SCHEMA_VERSION):
                raise sqlite3.DatabaseError(f"unknown schema version {row[0]}")
            db.execute("SELECT key FROM entries LIMIT 1").fetchall()
        except sqlite3.DatabaseError:
            db.close()
            raise
        return db

    def close(self) -> None:
        if self._db is not None:
            self.flush_pending()
            with contextlib.suppress(sqlite3.Error):
                self._persist_access()
                self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self._db.close()
            self._db = None

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            raise StoreError("cache store is not open")
        return self._db

    def _load_totals(self) -> None:
        row = self.db.execute("SELECT entries, bytes FROM totals WHERE id = 1").fetchone()
        self.entries, self.bytes = (int(row[0]), int(row[1])) if row else (0, 0)
        if self.metrics is not None:
            self.metrics.cache_entries.set(self.entries)
            self.metrics.cache_bytes.set(self.bytes)

    # -- reads ----------------------------------------------------------------------------------

    def variants(self, key: str) -> list[CachedResponse]:
        """Every stored variant of `key`, most recent first (hot tier, then SQLite)."""
        hot = self._hot.get(key)
        if hot is not None:
            self._hot.move_to_end(key)
            return hot
        if key in self._pending_keys:
            self.flush_pending()
        try:
            rows = self.db.execute(
                f"SELECT {COLUMNS} FROM entries WHERE key = ? ORDER BY response_time DESC",
                (key,),
            ).fetchall()
            found = [self._from_row(r) for r in rows]
        except (sqlite3.Error, ValueError) as exc:  # a damaged row or file: treat as a miss
            self._failed("read", exc)
            return []
        if found:
            self._remember(key, found)
        return found

    def _next_stamp(self) -> float:
        """The clock, made strictly increasing (ties would make eviction order arbitrary)."""
        now = self.clock()
        if now <= self._stamp:
            now = self._stamp + 1e-6
        self._stamp = now
        return now

    def touch(self, entry: CachedResponse, now: float | None = None) -> None:
        """Record a use of `entry` (every hit) at `now` (default: the store's clock): in memory
        only, persisted in batches."""
        if now is None:
            now = self.clock()
        if now <= self._stamp:
            now = self._stamp + 1e-6
        self._stamp = entry.last_access = now
        self._touched[id(entry)] = entry

    def checkpoint(self, mode: str = "PASSIVE") -> None:
        """Write the access stamps `flush()` set aside, then copy the WAL into the database
        file. Runs in a worker thread on its own connection."""
        if self._db is None:
            return
        conn = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
        try:
            conn.execute("PRAGMA busy_timeout=5000")
            with self._save_lock:  # the swaps are short; the write runs outside the lock
                self._saving, self._unsaved = self._unsaved, {}
            try:
                self._write_access(conn, self._saving)
            finally:
                with self._save_lock:
                    self._saving = {}
            conn.execute(f"PRAGMA wal_checkpoint({mode})")
        finally:
            conn.close()

    @staticmethod
    def _write_access(db: sqlite3.Connection, *batches: dict[int, CachedResponse]) -> None:
        rows = [(e.last_access, e.key, e.variant) for batch in batches for e in batch.values()]
        if not rows:
            return
        db.execute("BEGIN")
        try:
            db.executemany(
                "UPDATE entries SET last_access = max(last_access, ?) "
                "WHERE key = ? AND variant = ?",
                rows,
            )
            db.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
            raise

    def _remember(self, key: str, variants: list[CachedResponse]) -> None:
        if self.hot_entries <= 0:
            return
        self._hot[key] = variants
        self._hot.move_to_end(key)
        while len(self._hot) > self.hot_entries:
            self._hot.popitem(last=False)

    @staticmethod
    def _from_row(row: tuple[object, ...]) -> CachedResponse:
        (key, _variant, path, vary, status, headers, body, req_t, resp_t, age, life, _s, la,
         bad) = row
        vary_pairs = json.loads(str(vary))
        entry = CachedResponse(
            key=str(key),
            path=str(path),
            vary=tuple(p[0] for p in vary_pairs),
            vary_values=tuple(p[1] for p in vary_pairs),
            status=int(status),  # type: ignore[call-overload]
            headers=_decode_headers(headers),  # type: ignore[arg-type]
            body=bytes(body),  # type: ignore[call-overload]
            request_time=float(req_t),  # type: ignore[arg-type]
            response_time=float(resp_t),  # type: ignore[arg-type]
            initial_age=float(age),  # type: ignore[arg-type]
            lifetime=float(life),  # type: ignore[arg-type]
            last_access=float(la),  # type: ignore[arg-type]
            invalid=bool(bad),
        )
        entry.refresh_derived()
        return entry

    # -- writes ---------------------------------------------------------------------------------

    def _failed(self, what: str, exc: Exception) -> None:
        self.errors += 1
        log.warning(
            "cache store %s failed: %s", what, exc, extra={"event": "store_error", "op": what}
        )

    def put(self, entry: CachedResponse) -> bool:
        """Store (or replace) one variant. The entry is readable at once (hot tier, or a flush
        before any SQLite read of its key); the SQLite write is batched with the others of the
        next `write_delay` seconds (the cache tier may lose its last writes on a crash)."""
        entry.refresh_derived()
        entry.last_access = self._next_stamp()
        variant = entry.variant
        replaced = self._pending.get((entry.key, variant))
        self._pending[(entry.key, variant)] = entry
        self._pending_bytes += entry.size - (replaced.size if replaced is not None else 0)
        self._pending_keys.add(entry.key)
        hot = self._hot.get(entry.key)
        if hot is not None:
            kept = [e for e in hot if e.variant != variant]
            kept.insert(0, entry)
            self._hot[entry.key] = kept
        else:
            self._hot.pop(entry.key, None)  # reload all variants on next read
        if len(self._pending) >= PENDING_MAX or self._may_exceed_bounds():
            self.flush_pending()
        else:
            self._schedule_flush()
        return True

    def _may_exceed_bounds(self) -> bool:
        """Whether the batched puts could take the cache past a bound (then they are written,
        and the LRU evicted, at once: between two batches the cache is never bigger than its
        bounds, which an LRU of that size would not be either)."""
        if self.entries + len(self._pending) > self.max_entries:
            return True
        return self.bytes + self._pending_bytes > self.max_bytes

    def _schedule_flush(self) -> None:
        if self._flush_handle is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # used without an event loop: write through
            self.flush_pending()
            return
        self._flush_handle = loop.call_later(self.write_delay, self._flush_from_timer)

    def _flush_from_timer(self) -> None:
        self._flush_handle = None
        self.flush_pending()

    def flush_pending(self) -> None:
        """Write the batched puts in one transaction, then evict down to the bounds."""
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        if not self._pending:
            return
        pending, self._pending = self._pending, {}
        self._pending_keys = set()
        self._pending_bytes = 0
        try:
            self._write_batch(list(pending.values()))
        except sqlite3.Error as exc:
            self._failed("write", exc)
            for key, _ in pending:
                self._hot.pop(key, None)
            return
        self._load_totals()
        if self.entries > self.max_entries or self.bytes > self.max_bytes:
            self.evict_lru()

    def _write_batch(self, entries: list[CachedResponse]) -> None:
        db = self.db
        db.execute("BEGIN")
        try:
            for entry in entries:
                variant = entry.variant
                vary = json.dumps(
                    [[f, v] for f, v in zip(entry.vary, entry.vary_values, strict=True)]
                )
                db.execute(
                    "DELETE FROM entries WHERE key = ? AND variant = ?", (entry.key, variant)
                )
                db.execute(
                    f"INSERT INTO entries ({COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (
                        entry.key,
                        variant,
                        entry.path,
                        vary,
                        entry.status,
                        _encode_headers(entry.headers),
                        entry.body,
                        entry.request_time,
                        entry.response_time,
                        entry.initial_age,
                        entry.lifetime,
                        entry.size,
                        entry.last_access,
                        int(entry.invalid),
                    ),
                )
            db.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
            raise

    def update(self, entry: CachedResponse) -> None:
        """Write back a freshened entry (after a 304): headers and timing only."""
        entry.refresh_derived()
        entry.last_access = self._next_stamp()
        self.flush_pending()
        try:
            self._update(entry)
        except sqlite3.Error as exc:
            self._failed("update", exc)

    def _update(self, entry: CachedResponse) -> None:
        self.db.execute(
            "UPDATE entries SET headers = ?, request_time = ?, response_time = ?, "
            "initial_age = ?, lifetime = ?, size = ?, last_access = max(last_access, ?), "
            "invalid = ? "
            "WHERE key = ? AND variant = ?",
            (
                _encode_headers(entry.headers),
                entry.request_time,
                entry.response_time,
                entry.initial_age,
                entry.lifetime,
                entry.size,
                entry.last_access,
                int(entry.invalid),
                entry.key,
                entry.variant,
            ),
        )
        self._load_totals()

    def evict_lru(self) -> int:
        """Delete the least recently used rows until both bounds hold (every access stamp not
        yet in SQLite is written first, so the order is the exact recency order)."""
        self._persist_access()
        removed = 0
        db = self.db
        while self.entries > self.max_entries or self.bytes > self.max_bytes:
            over_entries = max(0, self.entries - self.max_entries)
            batch = max(over_entries, 16)
            rows = db.execute(
                "SELECT key, variant, size FROM entries ORDER BY last_access LIMIT ?", (batch,)
            ).fetchall()
            if not rows:
                break
            freed = 0
            chosen = []
            for key, variant, size in rows:
                chosen.append((key, variant))
                freed += int(size)
                if (
                    len(chosen) >= over_entries
                    and self.bytes - freed <= self.max_bytes
                ):
                    break
            db.execute("BEGIN")
            db.executemany("DELETE FROM entries WHERE key = ? AND variant = ?", chosen)
            db.execute("COMMIT")
            for key, _ in chosen:
                self._hot.pop(key, None)
            removed += len(chosen)
            self._load_totals()
        if removed:
            self.evictions += removed
            if self.metrics is not None:
                self.metrics.evictions_total.inc(removed)
            log.debug("evicted %d entries (LRU)", removed)
        return removed

    def flush(self) -> None:
        """Set the access stamps of the last interval aside for the next `checkpoint()`
        (the periodic housekeeping: no SQLite write on the event loop)."""
        if not self._touched:
            return
        touched, self._touched = self._touched, {}
        with self._save_lock:
            self._unsaved.update(touched)

    def _persist_access(self) -> None:
        """Write every access stamp not yet in SQLite now, on this connection (before an
        eviction or at close). A batch the worker thread is writing meanwhile is written again:
        rows only move forward, so that is harmless."""
        if self._db is None:
            return
        touched, self._touched = self._touched, {}
        with self._save_lock:
            unsaved, self._unsaved = self._unsaved, {}
            saving = dict(self._saving)
        self._write_access(self.db, saving, unsaved, touched)

    def _delete(self, where: str, args: tuple[object, ...]) -> int:
        return self._change("delete", "DELETE FROM entries WHERE {}", where, args)

    def _invalidate(self, where: str, args: tuple[object, ...]) -> int:
        return self._change(
            "invalidate", "UPDATE entries SET invalid = 1 WHERE {}", f"{where} AND invalid = 0",
            args,
        )

    def _change(self, op: str, statement: str, where: str, args: tuple[object, ...]) -> int:
        """Run `statement` on the rows matching `where`; their keys leave the hot tier."""
        self.flush_pending()
        try:
            db = self.db
            keys = [r[0] for r in db.execute(
                f"SELECT DISTINCT key FROM entries WHERE {where}", args)]
            cur = db.execute(statement.format(where), args)
            self._load_totals()
        except sqlite3.Error as exc:
            self._failed(op, exc)
            return 0
        for key in keys:
            self._hot.pop(key, None)
        count = max(cur.rowcount, 0)
        if count and self.metrics is not None:
            self.metrics.invalidations_total.inc(count)
        return count

    def evict_key(self, key: str) -> int:
        """Remove every variant stored for one request target (path + query)."""
        self._hot.pop(key, None)
        return self._delete("key = ?", (key,))

    def evict_path(self, path: str) -> int:
        """Remove every entry for `path`: any query string, any variant."""
        return self._delete("path = ?", (path,))

    def invalidate_key(self, key: str) -> int:
        """Mark every variant of one request target invalid (RFC 9111 §4.4)."""
        return self._invalidate("key = ?", (key,))

    def invalidate_path(self, path: str) -> int:
        """Mark every entry for `path` (any query, any variant) invalid (RFC 9111 §4.4).

        An invalid entry is kept but never reused without a successful validation while the
        origin is reachable; while disconnected it may still be served as an OFFLINE-HIT (with
        the operator's staleness cap), which is what keeps a shop readable offline after it
        wrote to a resource.
        """
        return self._invalidate("path = ?", (path,))

    def invalidate(self, what: Invalidation) -> int:
        """Apply one write's invalidation (`invalidation.invalidation`): its keys, then its
        paths; the number of entries marked."""
        marked = sum(self.invalidate_key(key) for key in sorted(what.keys))
        return marked + sum(self.invalidate_path(path) for path in sorted(what.paths))

    def purge(self) -> int:
        self._hot.clear()
        self._touched.clear()
        with self._save_lock:
            self._unsaved.clear()
        return self._delete("1 = 1", ())

    def stats(self) -> dict[str, int]:
        self.flush_pending()
        return {
            "entries": self.entries,
            "bytes": self.bytes,
            "hits": self.hits,
            "misses": self.misses,
            "evictions": self.evictions,
            "hot_entries": len(self._hot),
        }
