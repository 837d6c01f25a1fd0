"""Fixtures of the inventory-app API tests: a migrated database (SQLite or PostgreSQL), a small
seeded world, tokens of every role, and a FastAPI TestClient or a real uvicorn process."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.inventory_app.api_support import World, make_world


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A fresh empty database URL, on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path_factory.mktemp('inv')}/inventory.db"
    return str(request.getfixturevalue("postgres_url"))


@pytest.fixture
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return f"sqlite:///{tmp_path_factory.mktemp('inv')}/inventory.db"


@pytest.fixture
def world(db_url: str) -> Iterator[World]:
    """Migrated + seeded database and a TestClient on it (both databases)."""
    w = make_world(db_url)
    yield w
    w.close()


@pytest.fixture
def sqlite_world(sqlite_url: str) -> Iterator[World]:
    w = make_world(sqlite_url)
    yield w
    w.close()


@pytest.fixture
def pg_world(postgres_url: str) -> Iterator[World]:
    w = make_world(postgres_url)
    yield w
    w.close()
