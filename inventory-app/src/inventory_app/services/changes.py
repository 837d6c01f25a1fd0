"""The change feed (`/api/changes`): one row per committed change, in `seq` order.

`record_change` must run inside `Database.write()`: the writer lock guarantees that sequence
numbers are committed in order, so the feed never shows a gap that is filled later.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import cast

from sqlalchemy import Table, delete, func, insert, select, update
from sqlalchemy.orm import Session

from inventory_app.db import current_seq, next_seq
from inventory_app.models import ChangeLogEntry, Counter, utcnow
from inventory_app.problems import FieldError, ProblemError

FLOOR_COUNTER = "changes_floor"
_CHANGES = cast(Table, ChangeLogEntry.__table__)
_INSERT_CHANGES = insert(_CHANGES)  # built once


@dataclass(frozen=True)
class Change:
    seq: int
    entity: str
    id: str
    op: str
    paths: list[str]


def stock_paths(warehouse_id: int, product_id: int) -> list[str]:
    """URL paths made stale by a change of one balance."""
    return [
        "/api/stock",
        f"/api/warehouses/{warehouse_id}/stock/{product_id}",
        f"/api/products/{product_id}",
        "/api/alerts/low-stock",
        "/api/ledger",
        "/api/reports/summary",
    ]


def master_paths(collection: str, ident: object) -> list[str]:
    return [f"/api/{collection}", f"/api/{collection}/{ident}"]


def record_change(
    session: Session, entity: str, entity_id: str, op: str, paths: list[str],
    seq: int | None = None,
) -> int:
    """Append a change (op `upsert` or `delete`) and return its seq (allocated here unless
    the caller reserved it with `next_seqs`)."""
    if seq is None:
        seq = next_seq(session)
    session.add(
        ChangeLogEntry(seq=seq, entity=entity, entity_id=entity_id, op=op, paths=json.dumps(paths))
    )
    return seq


def change_row(seq: int, entity: str, entity_id: str, op: str, paths: list[str]
               ) -> dict[str, object]:
    """A change-log row for :func:`insert_changes` (several changes in one statement)."""
    return {"seq": seq, "entity": entity, "entity_id": entity_id, "op": op,
            "paths": json.dumps(paths), "recorded_at": utcnow()}


def insert_changes(session: Session, rows: list[dict[str, object]]) -> None:
    """Append the changes of :func:`change_row` (seqs reserved with `next_seqs`)."""
    if rows:
        session.connection().execute(_INSERT_CHANGES, rows)


def floor_seq(session: Session) -> int:
    """Changes with seq <= floor have been pruned."""
    return int(
        session.execute(select(Counter.value).where(Counter.name == FLOOR_COUNTER)).scalar_one()
    )


def list_changes(session: Session, since: int | None, limit: int) -> tuple[list[Change], int]:
    """Changes after `since` (at most `limit`) and the current last seq.

    Raises a 410 problem when `since` is older than the retention window.
    """
    last = current_seq(session)
    if since is None:
        return [], last
    if since < floor_seq(session):
        raise ProblemError(
            410,
            "changes-expired",
            "Gone",
            f"since={since} is older than the change retention; restart from last_seq={last}",
            [FieldError("since", "older than retention")],
            extra={"last_seq": last},
        )
    rows = session.scalars(
        select(ChangeLogEntry)
        .where(ChangeLogEntry.seq > since)
        .order_by(ChangeLogEntry.seq)
        .limit(limit)
    ).all()
    results = [Change(r.seq, r.entity, r.entity_id, r.op, json.loads(r.paths)) for r in rows]
    if results and (len(results) == limit or results[-1].seq > last):
        last = results[-1].seq
    return results, last


def prune(session: Session, older_than: dt.timedelta) -> int:
    """Delete changes recorded before now − older_than; raises the floor. Returns rows deleted."""
    cutoff = utcnow() - older_than
    max_pruned = session.scalar(
        select(func.max(ChangeLogEntry.seq)).where(ChangeLogEntry.recorded_at < cutoff)
    )
    if max_pruned is None:
        return 0
    result = session.execute(delete(ChangeLogEntry).where(ChangeLogEntry.seq <= max_pruned))
    session.execute(
        update(Counter)
        .where(Counter.name == FLOOR_COUNTER, Counter.value < max_pruned)
        .values(value=max_pruned)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
