"""Alembic migrations of the inventory app (shipped inside the package)."""
