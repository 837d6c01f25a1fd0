"""The PostgreSQL test server really starts and accepts SQL."""

from __future__ import annotations

import psycopg
import pytest


@pytest.mark.postgres
def test_postgres_server_runs_sql(postgres_url: str) -> None:
    dsn = postgres_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT 40 + 2").fetchone()
    assert row is not None and row[0] == 42
