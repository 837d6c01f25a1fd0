"""Database engine and transactions.

Every write goes through :meth:`Database.write`, which serializes writers: on SQLite with
`BEGIN IMMEDIATE`, on PostgreSQL by locking the global counter row `FOR UPDATE` at the start of
the transaction. Sequence numbers (ledger `seq`, change-feed `seq`) are allocated under that lock
and committed in the same order, so a reader of the change feed never sees a gap filled later.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event, select, update
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
    return create_engine(url, pool_size=20, max_overflow=20, pool_recycle=1800)


class Database:
    """The engine plus read/write transaction helpers (shared by API, web UI and CLI)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        self._write_engine = self.engine.execution_options(sqlite_begin="IMMEDIATE")

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only session (rolled back at the end)."""
        with Session(self.engine, expire_on_commit=False) as session:
            try:
                yield session
            finally:
                session.rollback()

    @contextmanager
    def write(self) -> Iterator[Session]:
        """A serialized write transaction: commits on success, rolls back on error."""
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


def lock_writers(session: Session) -> None:
    """Take the global writer lock (no-op beyond BEGIN IMMEDIATE on SQLite)."""
    session.execute(
        select(Counter.value).where(Counter.name == GLOBAL_COUNTER).with_for_update()
    ).one()


def next_seq(session: Session) -> int:
    """Allocate the next global sequence number (call inside :meth:`Database.write`)."""
    value = session.execute(
        update(Counter)
        .where(Counter.name == GLOBAL_COUNTER)
        .values(value=Counter.value + 1)
        .returning(Counter.value)
    ).scalar_one()
    return int(value)


def current_seq(session: Session) -> int:
    """The last allocated global sequence number."""
    return int(
        session.execute(select(Counter.value).where(Counter.name == GLOBAL_COUNTER)).scalar_one()
    )
