"""Reports: ledger detail (出入库明细) and the period summary (进销存汇总)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from inventory_app.models import ReviewItem, StockMovement


def ledger(
    session: Session,
    *,
    warehouse_id: int | None = None,
    product_id: int | None = None,
    document_id: str | None = None,
    after_seq: int | None = None,
    limit: int = 100,
) -> Sequence[StockMovement]:
    """Movements ordered by `seq`, keyset-paginated."""
    stmt = select(StockMovement).order_by(StockMovement.seq).limit(limit)
    if warehouse_id is not None:
        stmt = stmt.where(StockMovement.warehouse_id == warehouse_id)
    if product_id is not None:
        stmt = stmt.where(StockMovement.product_id == product_id)
    if document_id is not None:
        stmt = stmt.where(StockMovement.document_id == document_id)
    if after_seq is not None:
        stmt = stmt.where(StockMovement.seq > after_seq)
    return session.scalars(stmt).all()


@dataclass(frozen=True)
class SummaryLine:
    product_id: int
    warehouse_id: int
    opening: int
    qty_in: int
    qty_out: int

    @property
    def closing(self) -> int:
        return self.opening + self.qty_in - self.qty_out


def summary(
    session: Session,
    start: dt.datetime,
    end: dt.datetime,
    *,
    warehouse_id: int | None = None,
    product_id: int | None = None,
) -> list[SummaryLine]:
    """Opening / in / out / closing per product × warehouse for [start, end) by `occurred_at`."""
    in_period = (StockMovement.occurred_at >= start) & (StockMovement.occurred_at < end)
    before = StockMovement.occurred_at < start
    stmt = (
        select(
            StockMovement.product_id,
            StockMovement.warehouse_id,
            func.sum(case((before, StockMovement.delta), else_=0)),
            func.sum(case((in_period & (StockMovement.delta > 0), StockMovement.delta), else_=0)),
            func.sum(case((in_period & (StockMovement.delta < 0), -StockMovement.delta), else_=0)),
        )
        .where(StockMovement.occurred_at < end)
        .group_by(StockMovement.product_id, StockMovement.warehouse_id)
        .order_by(StockMovement.warehouse_id, StockMovement.product_id)
    )
    if warehouse_id is not None:
        stmt = stmt.where(StockMovement.warehouse_id == warehouse_id)
    if product_id is not None:
        stmt = stmt.where(StockMovement.product_id == product_id)
    return [
        SummaryLine(p, w, int(o or 0), int(i or 0), int(x or 0))
        for p, w, o, i, x in session.execute(stmt).all()
    ]


def reviews(
    session: Session, *, unresolved_only: bool = False, after_id: int | None = None,
    limit: int = 100,
) -> Sequence[ReviewItem]:
    """Review items (oversold edge sales, outdated counts) ordered by id."""
    stmt = select(ReviewItem).order_by(ReviewItem.id).limit(limit)
    if unresolved_only:
        stmt = stmt.where(ReviewItem.resolved_at.is_(None))
    if after_id is not None:
        stmt = stmt.where(ReviewItem.id > after_id)
    return session.scalars(stmt).all()
