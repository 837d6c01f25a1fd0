"""Stock balances (the projection), low-stock alerts and rebuilding balances from the ledger."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import and_, delete, func, select, tuple_
from sqlalchemy.orm import Session

from inventory_app.models import Product, StockBalance, StockMovement, StockPolicy, Warehouse
from inventory_app.problems import not_found


@dataclass(frozen=True)
class BalanceRow:
    product_id: int
    warehouse_id: int
    qty: int
    last_seq: int
    min_qty: int | None
    max_qty: int | None


def list_balances(
    session: Session,
    *,
    warehouse_id: int | None = None,
    product_id: int | None = None,
    after: tuple[int, int] | None = None,
    limit: int = 100,
) -> list[BalanceRow]:
    """Balances ordered by (warehouse_id, product_id), keyset-paginated after `after`."""
    stmt = (
        select(StockBalance, StockPolicy.min_qty, StockPolicy.max_qty)
        .outerjoin(
            StockPolicy,
            and_(
                StockPolicy.product_id == StockBalance.product_id,
                StockPolicy.warehouse_id == StockBalance.warehouse_id,
            ),
        )
        .order_by(StockBalance.warehouse_id, StockBalance.product_id)
        .limit(limit)
    )
    if warehouse_id is not None:
        stmt = stmt.where(StockBalance.warehouse_id == warehouse_id)
    if product_id is not None:
        stmt = stmt.where(StockBalance.product_id == product_id)
    if after is not None:
        stmt = stmt.where(tuple_(StockBalance.warehouse_id, StockBalance.product_id) > after)
    return [
        BalanceRow(b.product_id, b.warehouse_id, b.qty, b.last_seq, mn, mx)
        for b, mn, mx in session.execute(stmt).all()
    ]


def get_balance(session: Session, warehouse_id: int, product_id: int) -> BalanceRow:
    """One balance (zero when the product never moved there); 404 for unknown ids."""
    wh = session.get(Warehouse, warehouse_id)
    if wh is None or wh.deleted_at is not None:
        raise not_found("warehouse", warehouse_id, "warehouse_id")
    prod = session.get(Product, product_id)
    if prod is None or prod.deleted_at is not None:
        raise not_found("product", product_id, "product_id")
    bal = session.get(StockBalance, (warehouse_id, product_id))
    policy = session.get(StockPolicy, (product_id, warehouse_id))
    return BalanceRow(
        product_id,
        warehouse_id,
        bal.qty if bal else 0,
        bal.last_seq if bal else 0,
        policy.min_qty if policy else None,
        policy.max_qty if policy else None,
    )


@dataclass(frozen=True)
class LowStock:
    product_id: int
    warehouse_id: int
    sku: str
    name: str
    qty: int
    min_qty: int
    max_qty: int | None

    @property
    def shortage(self) -> int:
        return self.min_qty - self.qty

    @property
    def suggested_order(self) -> int:
        target = self.max_qty if self.max_qty is not None else self.min_qty
        return max(target - self.qty, 0)


def low_stock(session: Session, warehouse_id: int | None = None) -> list[LowStock]:
    """库存预警: every product × warehouse whose balance is below its `min_qty`."""
    qty = func.coalesce(StockBalance.qty, 0)
    stmt = (
        select(StockPolicy, Product.sku, Product.name, qty)
        .join(Product, Product.id == StockPolicy.product_id)
        .outerjoin(
            StockBalance,
            and_(
                StockBalance.product_id == StockPolicy.product_id,
                StockBalance.warehouse_id == StockPolicy.warehouse_id,
            ),
        )
        .where(qty < StockPolicy.min_qty, Product.deleted_at.is_(None))
        .order_by(StockPolicy.warehouse_id, StockPolicy.product_id)
    )
    if warehouse_id is not None:
        stmt = stmt.where(StockPolicy.warehouse_id == warehouse_id)
    return [
        LowStock(p.product_id, p.warehouse_id, sku, name, int(q), p.min_qty, p.max_qty)
        for p, sku, name, q in session.execute(stmt).all()
    ]


def list_policies(session: Session, warehouse_id: int | None = None) -> Sequence[StockPolicy]:
    stmt = select(StockPolicy).order_by(StockPolicy.warehouse_id, StockPolicy.product_id)
    if warehouse_id is not None:
        stmt = stmt.where(StockPolicy.warehouse_id == warehouse_id)
    return session.scalars(stmt).all()


@dataclass
class RebuildReport:
    """Result of :func:`rebuild_balances`."""

    rows: int
    matched: bool
    differences: list[dict[str, int | None]] = field(default_factory=list)


def ledger_totals(session: Session) -> dict[tuple[int, int], tuple[int, int]]:
    """(warehouse, product) → (Σ delta, max seq) computed from the ledger."""
    rows = session.execute(
        select(
            StockMovement.warehouse_id,
            StockMovement.product_id,
            func.sum(StockMovement.delta),
            func.max(StockMovement.seq),
        ).group_by(StockMovement.warehouse_id, StockMovement.product_id)
    ).all()
    return {(w, p): (int(s), int(m)) for w, p, s, m in rows}


def compare_projection(session: Session) -> list[dict[str, int | None]]:
    """Differences between the balance projection and the ledger (empty when they agree)."""
    expected = ledger_totals(session)
    actual = {
        (b.warehouse_id, b.product_id): (b.qty, b.last_seq)
        for b in session.scalars(select(StockBalance)).all()
    }
    diffs: list[dict[str, int | None]] = []
    for key in sorted(set(expected) | set(actual)):
        exp, act = expected.get(key), actual.get(key)
        if exp != act:
            diffs.append({
                "warehouse_id": key[0],
                "product_id": key[1],
                "ledger_qty": exp[0] if exp else None,
                "projection_qty": act[0] if act else None,
            })
    return diffs


def rebuild_balances(session: Session) -> RebuildReport:
    """Recompute every balance from the ledger (run inside `Database.write()`).

    Reports whether the existing projection already matched the ledger.
    """
    diffs = compare_projection(session)
    totals = ledger_totals(session)
    session.execute(delete(StockBalance))
    session.flush()
    for (wh, prod), (qty, last) in sorted(totals.items()):
        session.add(StockBalance(warehouse_id=wh, product_id=prod, qty=qty, last_seq=last))
    session.flush()
    return RebuildReport(rows=len(totals), matched=not diffs, differences=diffs)
