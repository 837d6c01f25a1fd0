"""A throwaway PostgreSQL cluster for the tests (Debian's `postgresql` package).

The cluster lives in a temporary directory, listens on a free loopback port with trust
authentication, and is removed at the end of the session. PostgreSQL refuses to run as root,
so when the tests run as root the server runs as the `postgres` system user.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from tests.support.ports import free_port


class PostgresUnavailable(RuntimeError):
    """Raised when no PostgreSQL server binaries are installed."""


def _bindir() -> str:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    if not candidates:
        raise PostgresUnavailable(
            "PostgreSQL server binaries not found; run scripts/install-system-deps "
            "(installs Debian's postgresql package)"
        )
    return os.path.dirname(candidates[-1])


@dataclass(frozen=True)
class PostgresServer:
    host: str
    port: int
    user: str

    def url(self, database: str, driver: str = "postgresql+psycopg") -> str:
        return f"{driver}://{self.user}@{self.host}:{self.port}/{database}"

    def admin_dsn(self) -> str:
        return f"host={self.host} port={self.port} user={self.user} dbname=postgres"

    def create_database(self, prefix: str = "test") -> str:
        """Create a fresh empty database and return its SQLAlchemy URL."""
        import psycopg

        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.admin_dsn(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, url: str) -> None:
        import psycopg

        name = url.rsplit("/", 1)[1]
        with psycopg.connect(self.admin_dsn(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _run_as(user: str | None, args: list[str]) -> subprocess.CompletedProcess[str]:
    if user is not None:
        args = ["runuser", "-u", user, "--", *args]
    return subprocess.run(args, check=True, capture_output=True, text=True)


@contextmanager
def throwaway_postgres() -> Iterator[PostgresServer]:
    """Start a private PostgreSQL cluster; stop and delete it on exit."""
    bindir = _bindir()
    run_user: str | None = None
    if os.geteuid() == 0:
        run_user = "postgres"
        pwd.getpwnam(run_user)  # raises KeyError when the package did not create the user
    root = tempfile.mkdtemp(prefix="edgelab-pg-")
    datadir = os.path.join(root, "data")
    sockdir = os.path.join(root, "sock")
    os.makedirs(sockdir)
    if run_user is not None:
        entry = pwd.getpwnam(run_user)
        for path in (root, sockdir):
            os.chown(path, entry.pw_uid, entry.pw_gid)
    port = free_port()
    db_user = "edgelab"
    try:
        _run_as(
            run_user,
            [f"{bindir}/initdb", "-D", datadir, "-U", db_user, "-A", "trust", "-E", "UTF8",
             "--no-sync", "--locale=C"],
        )
        opts = (
            f"-p {port} -k {sockdir} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        _run_as(
            run_user,
            [f"{bindir}/pg_ctl", "-D", datadir, "-o", opts, "-l", os.path.join(root, "log"),
             "-w", "-t", "60", "start"],
        )
        server = PostgresServer(host="127.0.0.1", port=port, user=db_user)
        deadline = time.monotonic() + 30
        import psycopg

        while True:
            try:
                with psycopg.connect(server.admin_dsn(), connect_timeout=2):
                    break
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        yield server
    finally:
        subprocess.run(
            (["runuser", "-u", run_user, "--"] if run_user else [])
            + [f"{bindir}/pg_ctl", "-D", datadir, "-m", "immediate", "-w", "stop"],
            capture_output=True,
        )
        shutil.rmtree(root, ignore_errors=True)
