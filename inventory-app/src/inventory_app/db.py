"""Database engine and transactions.

Every write goes through :meth:`Database.write`, which serializes writers: on SQLite with
`BEGIN IMMEDIATE`, on PostgreSQL by locking the global counter row `FOR UPDATE` at the start of
the transaction. Sequence numbers (ledger `seq`, change-feed `seq`) are allocated under that lock
and committed in the same order, so a reader of the change feed never sees a gap filled later.

A :class:`RequestTransaction` is one write transaction that spans a whole HTTP request (the
idempotency layer opens it, see `api/idempotency.py`). While it is bound to the current context
(:meth:`Database.bind`), `write()` and `read()` run inside it; nothing commits until the owner
of the request transaction commits it, once (a `write()` block that raised marks it `failed`:
then it is rolled back whole).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from sqlalchemy import BigInteger, Engine, Table, bindparam, create_engine, event, select, update
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from inventory_app.models import Counter

GLOBAL_COUNTER = "global"


def make_engine(url: str) -> Engine:
    """Create an engine; SQLite gets WAL, foreign keys and a generous busy timeout.

    `postgres://` and `postgresql://` URLs use psycopg 3.
    """
    if url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgres://")
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 60},
            pool_size=20,
            max_overflow=20,
            hide_parameters=True,  # request values never end up in logs or error messages
        )

        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # we emit BEGIN ourselves (see below)
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=60000")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
            conn.exec_driver_sql(f"BEGIN {mode}")

        return engine
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        url = parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    return create_engine(url, pool_size=20, max_overflow=20, pool_recycle=1800,
                         hide_parameters=True)


@dataclass
class RequestTransaction:
    """One write transaction for a whole request; `locked` once the writer lock is held."""

    db: Database
    session: Session
    locked: bool = False
    closed: bool = False
    failed: bool = False  # a write() block raised: its partial work must not be committed

    def lock(self) -> None:
        """Take the writer lock now (SQLite: BEGIN IMMEDIATE happens at the first statement)."""
        if not self.locked:
            lock_writers(self.session)
            self.locked = True

    def commit(self) -> None:
        self.session.commit()

    def rollback(self) -> None:
        """Undo everything (the writer lock goes with it); the session can begin again."""
        self.session.rollback()
        self.locked = False
        self.failed = False

    def close(self) -> None:
        """Roll back whatever was not committed and return the connection to the pool."""
        self.session.close()
        self.closed = True


_REQUEST_TX: ContextVar[RequestTransaction | None] = ContextVar("inventory_request_tx",
                                                                default=None)


class Database:
    """The engine plus read/write transaction helpers (shared by API, web UI and CLI)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        self._write_engine = self.engine.execution_options(sqlite_begin="IMMEDIATE")

    def request_transaction(self) -> RequestTransaction:
        """A new, not yet begun, request transaction (bind it with :meth:`bind`)."""
        return RequestTransaction(self, Session(self._write_engine, expire_on_commit=False))

    @contextmanager
    def bind(self, tx: RequestTransaction) -> Iterator[RequestTransaction]:
        """Make `read()`/`write()` of this context (and threads started from it) use `tx`."""
        token = _REQUEST_TX.set(tx)
        try:
            yield tx
        finally:
            _REQUEST_TX.reset(token)

    def _bound(self) -> RequestTransaction | None:
        tx = _REQUEST_TX.get()
        return tx if tx is not None and tx.db is self else None

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only session (rolled back at the end); the request transaction when bound."""
        tx = self._bound()
        if tx is not None:
            yield tx.session
            return
        with Session(self.engine, expire_on_commit=False) as session:
            try:
                yield session
            finally:
                session.rollback()

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A serialized write transaction: commits on success, rolls back on error.

        Inside a bound request transaction: a block of it; the commit is left to the request
        transaction's owner. When the block raises, the transaction is marked `failed`, and its
        owner rolls all of it back (no SAVEPOINT round trips on the way that succeeds).
        """
        tx = self._bound()
        if tx is not None:
            tx.lock()
            try:
                yield tx.session
            except BaseException:
                tx.failed = True
                raise
            return
        with Session(self._write_engine, expire_on_commit=False) as session:
            try:
                lock_writers(session)
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def dispose(self) -> None:
        self.engine.dispose()


_COUNTERS = cast(Table, Counter.__table__)
# Built once (every write runs them; SQLAlchemy then only looks the compiled form up).
_LOCK_WRITERS = (select(_COUNTERS.c.value).where(_COUNTERS.c.name == GLOBAL_COUNTER)
                 .with_for_update())
_ALLOCATE = (update(_COUNTERS).where(_COUNTERS.c.name == GLOBAL_COUNTER)
             .values(value=_COUNTERS.c.value + bindparam("count", type_=BigInteger))
             .returning(_COUNTERS.c.value))


def lock_writers(session: Session) -> None:
    """Take the global writer lock (on SQLite, BEGIN IMMEDIATE at the first statement is it)."""
    if session.get_bind().dialect.name == "sqlite":
        return
    session.connection().execute(_LOCK_WRITERS).one()


def next_seqs(session: Session, count: int) -> range:
    """Allocate `count` consecutive global sequence numbers in one statement (call inside
    :meth:`Database.write`)."""
    value = session.connection().execute(_ALLOCATE, {"count": count}).scalar_one()
    return range(int(value) - count + 1, int(value) + 1)


def next_seq(session: Session) -> int:
    """Allocate the next global sequence number (call inside :meth:`Database.write`)."""
    return next_seqs(session, 1)[0]


def current_seq(session: Session) -> int:
    """The last allocated global sequence number."""
    return int(
        session.execute(select(Counter.value).where(Counter.name == GLOBAL_COUNTER)).scalar_one()
    )
