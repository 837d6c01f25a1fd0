"""Alembic migrations create exactly the schema the models describe, on both databases."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from inventory_app.db import make_engine
from inventory_app.migrate import upgrade
from inventory_app.models import Base


def test_migrated_schema_matches_the_models(db_url: str) -> None:
    upgrade(db_url)  # a second upgrade is a no-op
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
            version = conn.exec_driver_sql("SELECT version_num FROM alembic_version").scalar()
    finally:
        engine.dispose()
    assert diff == []
    assert version == "0001"
