"""Fixtures of the inventory-app API tests: a migrated database (SQLite or PostgreSQL), a small
seeded world, tokens of every role, and a FastAPI TestClient or a real uvicorn process."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from inventory_app.migrate import upgrade

from tests.inventory_app import openapi_recorder
from tests.inventory_app.api_support import World, make_world
from tests.support.postgres import PostgresServer


@pytest.fixture(scope="session", autouse=True)
def openapi_lists_every_status_seen() -> Iterator[None]:
    """At the end of the session: every status an API test saw (through a `World` client) is
    documented for its operation in the OpenAPI document (fails the run otherwise)."""
    yield
    missing = openapi_recorder.undocumented(openapi_recorder.SEEN,
                                            openapi_recorder.openapi_document())
    assert not missing, f"statuses answered but not in the OpenAPI document: {missing}"


@pytest.fixture(scope="session")
def migrated_pg_template(postgres_server: PostgresServer) -> str:
    """Name of a PostgreSQL database holding the migrated schema, used as a template."""
    url = postgres_server.create_database(prefix="inventory_template")
    upgrade(url)
    return url.rsplit("/", 1)[1]


@pytest.fixture
def migrated_pg_url(postgres_server: PostgresServer, migrated_pg_template: str) -> Iterator[str]:
    """A fresh, migrated PostgreSQL database (copied from the template: fast)."""
    import psycopg

    name = f"inv_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server.admin_dsn(), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{migrated_pg_template}"')
    url = postgres_server.url(name)
    yield url
    postgres_server.drop_database(url)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A fresh migrated database URL, on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('inv')}/inventory.db"
        upgrade(url)
        return url
    return str(request.getfixturevalue("migrated_pg_url"))


@pytest.fixture
def sqlite_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('inv')}/inventory.db"
    upgrade(url)
    return url


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
def pg_world(migrated_pg_url: str) -> Iterator[World]:
    w = make_world(migrated_pg_url)
    yield w
    w.close()
