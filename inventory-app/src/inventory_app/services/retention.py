"""Retention: prune the change feed and the idempotency store (run periodically by the app)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from inventory_app.db import Database
from inventory_app.services import changes, idempotency
from inventory_app.settings import Settings


@dataclass(frozen=True)
class PruneReport:
    changes: int
    idempotency_records: int


def prune_all(db: Database, settings: Settings) -> PruneReport:
    """Delete changes and idempotency records older than their retention."""
    with db.write() as session:
        n_changes = changes.prune(session, dt.timedelta(days=settings.change_retention_days))
        n_keys = idempotency.prune(
            session, dt.timedelta(hours=settings.idempotency_retention_hours)
        )
    return PruneReport(n_changes, n_keys)
