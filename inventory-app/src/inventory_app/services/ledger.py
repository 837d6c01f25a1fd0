"""Posting to the stock ledger: the balance check, movements, balances, change rows and review
items of one posting (or voiding) of a document.

Run inside `Database.write()`: the writer lock makes the balance check and the `seq`
allocation race-free. A movement that would drive a balance negative is rejected with a 409
`insufficient-stock` problem, except for a sale or stocktake replayed from an edge node
(`edge` given): those already happened in the shop, so they are accepted, flagged
(`negative_after`) and a review item is created.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import cast

from sqlalchemy import Table, bindparam, insert, select, tuple_, update
from sqlalchemy.orm import Session

from inventory_app.db import next_seqs
from inventory_app.models import (
    Document,
    DocumentLine,
    ReviewItem,
    StockBalance,
    StockMovement,
    utcnow,
)
from inventory_app.problems import FieldError, ProblemError
from inventory_app.schemas import to_utc
from inventory_app.services.auth import EdgeReplay
from inventory_app.services.changes import change_row, insert_changes, record_change, stock_paths

# Types that record something that already happened physically at an edge shop.
EDGE_ACCEPTS_NEGATIVE = frozenset({"sales_issue", "stocktake"})
LATE_THRESHOLD = dt.timedelta(hours=1)
_MOVEMENTS = cast(Table, StockMovement.__table__)
_BALANCES = cast(Table, StockBalance.__table__)
# Built once: SQLAlchemy then only looks their compiled form up, which costs a fraction of
# building a statement (or an ORM query) per request.
_BALANCES_OF = select(_BALANCES.c.warehouse_id, _BALANCES.c.product_id, _BALANCES.c.qty).where(
    tuple_(_BALANCES.c.warehouse_id, _BALANCES.c.product_id).in_(
        bindparam("keys", expanding=True)))
_SET_BALANCE = update(_BALANCES).where(
    _BALANCES.c.warehouse_id == bindparam("b_warehouse_id"),
    _BALANCES.c.product_id == bindparam("b_product_id"),
).values(qty=bindparam("b_qty"), last_seq=bindparam("b_last_seq"))
_INSERT_BALANCES = insert(_BALANCES)
_INSERT_MOVEMENTS = insert(_MOVEMENTS)

# stored quantity per (warehouse, product); None: no balance row yet
Balances = dict[tuple[int, int], int | None]
# one movement to append: (line, warehouse, product, delta, outdated count)
Planned = tuple[DocumentLine, int, int, int, bool]


@dataclass(frozen=True)
class Shortfall:
    product_id: int
    warehouse_id: int
    available: int
    requested: int


def insufficient(shortfalls: list[Shortfall]) -> ProblemError:
    first = shortfalls[0]
    return ProblemError(
        409,
        "insufficient-stock",
        "Insufficient stock",
        f"product {first.product_id} in warehouse {first.warehouse_id}: "
        f"{first.available} available, {first.requested} requested",
        [FieldError(f"product:{s.product_id}", f"only {s.available} available in warehouse "
                    f"{s.warehouse_id}, {s.requested} requested") for s in shortfalls],
        extra={
            "product": first.product_id,
            "warehouse": first.warehouse_id,
            "shortfall": first.requested - first.available,
            "shortfalls": [
                {"product_id": s.product_id, "warehouse_id": s.warehouse_id,
                 "available": s.available, "requested": s.requested} for s in shortfalls
            ],
        },
    )


def apply_movements(
    session: Session,
    doc: Document,
    planned: list[Planned],
    kind: str,
    edge: EdgeReplay | None,
    extra_seqs: int = 0,
    known: Balances | None = None,
) -> tuple[Iterator[int], LedgerRows]:
    """Append movements (line, warehouse, product, delta, outdated) and update balances.

    `known`: balances read earlier in this write transaction (by `document_checks.validate`);
    the ones it does not cover are read here.

    All sequence numbers of the posting are reserved in one statement; the returned iterator
    holds the `extra_seqs` numbers reserved on top for the caller (in allocation order).
    The movements and stock changes are returned as rows, written by `LedgerRows.write()`
    after the flush that gives the lines their ids.
    """
    now = utcnow()
    allow_negative = edge is not None and doc.type in EDGE_ACCEPTS_NEGATIVE and kind == "post"
    # Check first (all or nothing), in line order, with running balances.
    running: dict[tuple[int, int], int] = {}
    shortfalls: list[Shortfall] = []
    reviews = 0
    keys = {(wh, prod) for _l, wh, prod, _d, _o in planned}
    stored = balances_of(session, keys, known)
    for _line, wh, prod, delta, outdated in planned:
        key = (wh, prod)
        if key not in running:
            running[key] = stored[key] or 0
        before = running[key]
        running[key] = before + delta
        if delta < 0 and running[key] < 0:
            if not allow_negative:
                shortfalls.append(Shortfall(prod, wh, max(before, 0), -delta))
            reviews += 1
        reviews += int(outdated)
    if shortfalls:
        raise insufficient(shortfalls)
    seqs = iter(next_seqs(session, len(planned) + reviews + len(running) + extra_seqs))
    late = (now - to_utc(doc.occurred_at)) > LATE_THRESHOLD
    rows = LedgerRows()
    qty = {key: found or 0 for key, found in stored.items()}
    for line, wh, prod, delta, outdated in planned:
        key = (wh, prod)
        seq = next(seqs)
        qty[key] += delta
        rows.balances[key] = (qty[key], seq)
        negative = delta < 0 and qty[key] < 0
        rows.movements.append((line, {
            "seq": seq,
            "product_id": prod,
            "warehouse_id": wh,
            "delta": delta,
            "balance_after": qty[key],
            "document_id": doc.id,
            "doc_type": doc.type,
            "kind": kind,
            "occurred_at": to_utc(doc.occurred_at),
            "recorded_at": now,
            "negative_after": negative,
            "outdated_count": outdated,
            "late": late and kind == "post",
            "edge_replay": edge is not None,
        }))
        if negative:
            doc.flagged = True
            add_review(session, "oversell", doc, seq, prod, wh,
                       f"balance went to {qty[key]} after an edge-replayed {doc.type}",
                       next(seqs))
        if outdated:
            doc.flagged = True
            add_review(session, "outdated_count", doc, seq, prod, wh,
                       f"expected {line.expected_qty} but the ledger had {qty[key] - delta}",
                       next(seqs))
    rows.new_balances = {key for key, found in stored.items() if found is None}
    for wh, prod in sorted(running):
        rows.changes.append(change_row(next(seqs), "stock", f"{wh}:{prod}", "upsert",
                                       stock_paths(wh, prod)))
    return seqs, rows


@dataclass
class LedgerRows:
    """Balances, movements and changes of one posting, written in one statement per table and
    kind (Core, no unit-of-work objects: the ledger and the change feed are append-only, and a
    balance is a projection that only postings write)."""

    balances: dict[tuple[int, int], tuple[int, int]] = field(default_factory=dict)
    new_balances: set[tuple[int, int]] = field(default_factory=set)
    movements: list[tuple[DocumentLine, dict[str, object]]] = field(default_factory=list)
    changes: list[dict[str, object]] = field(default_factory=list)

    def write(self, session: Session) -> None:
        """Write the rows; call after the flush that inserted the document and its lines."""
        conn = session.connection()
        updates = [{"b_warehouse_id": wh, "b_product_id": prod, "b_qty": qty, "b_last_seq": seq}
                   for (wh, prod), (qty, seq) in self.balances.items()
                   if (wh, prod) not in self.new_balances]
        inserts = [{"warehouse_id": wh, "product_id": prod, "qty": qty, "last_seq": seq}
                   for (wh, prod), (qty, seq) in self.balances.items()
                   if (wh, prod) in self.new_balances]
        if updates:
            conn.execute(_SET_BALANCE, updates)
        if inserts:
            conn.execute(_INSERT_BALANCES, inserts)
        if self.movements:
            conn.execute(_INSERT_MOVEMENTS, [
                {**row, "line_id": line.id} for line, row in self.movements])
        insert_changes(session, self.changes)


def balances_of(session: Session, keys: set[tuple[int, int]], known: Balances | None = None
                ) -> Balances:
    """The stored quantities of these (warehouse, product) keys (None: no balance row yet):
    from `known`, balances read earlier in this write transaction, when it covers them all,
    else in one statement."""
    if known is not None and keys <= known.keys():
        return {key: known[key] for key in keys}
    found: Balances = dict.fromkeys(keys)
    if keys:
        for row in session.connection().execute(_BALANCES_OF, {"keys": sorted(keys)}):
            found[(row.warehouse_id, row.product_id)] = row.qty
    return found


def add_review(session: Session, reason: str, doc: Document, seq: int | None, prod: int,
               wh: int, detail: str, change_seq: int | None = None) -> None:
    session.add(ReviewItem(reason=reason, document_id=doc.id, movement_seq=seq, product_id=prod,
                           warehouse_id=wh, detail=detail, origin_device=doc.origin_device,
                           created_at=utcnow()))
    record_change(session, "review", doc.id, "upsert", ["/api/reviews"], change_seq)
