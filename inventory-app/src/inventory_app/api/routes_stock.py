"""Stock, ledger, alerts, reports, stock policies and reviews."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from starlette.responses import Response

from inventory_app.api.deps import ALL_ROLES, MASTER_WRITERS, get_db, refuse_nul_params, require
from inventory_app.api.http import (
    IMMUTABLE,
    PROBLEM_RESPONSES,
    PUBLIC_STALE,
    decode_cursor,
    json_response,
    page_response,
)
from inventory_app.db import Database
from inventory_app.models import ReviewItem, utcnow
from inventory_app.problems import invalid_field, not_found
from inventory_app.schemas import (
    BalanceOut,
    LowStockOut,
    MovementOut,
    Page,
    Results,
    ReviewOut,
    StockPolicyIn,
    StockPolicyOut,
    SummaryOut,
    SummaryRow,
)
from inventory_app.services import masters, reports, stock
from inventory_app.services.auth import Principal
from inventory_app.services.changes import record_change

router = APIRouter(prefix="/api", responses=PROBLEM_RESPONSES,
                   dependencies=[Depends(refuse_nul_params)])

OptId = Annotated[int | None, Query(ge=1, le=2_147_483_647)]
IdPath = Annotated[int, Path(ge=1, le=2_147_483_647)]
Limit = Annotated[int, Query(ge=1, le=500)]
Cursor = Annotated[str | None, Query(max_length=512)]
Reader = Annotated[Principal, Depends(require(*ALL_ROLES))]
Db = Annotated[Database, Depends(get_db)]


@router.get("/stock", tags=["stock"], responses={200: {"model": Page[BalanceOut]}})
def list_stock(
    request: Request, _p: Reader, db: Db, warehouse_id: OptId = None, product_id: OptId = None,
    cursor: Cursor = None, limit: Limit = 100,
) -> Response:
    """Current stock (balances) per product × warehouse."""
    key = decode_cursor(cursor, 2)
    with db.read() as session:
        rows = stock.list_balances(session, warehouse_id=warehouse_id, product_id=product_id,
                                   after=(key[0], key[1]) if key else None, limit=limit)
    items = [BalanceOut(**row.__dict__) for row in rows]
    return page_response(request, items, limit, lambda b: [b.warehouse_id, b.product_id])


@router.get("/warehouses/{warehouse_id}/stock/{product_id}", tags=["stock"],
            responses={200: {"model": BalanceOut}})
def one_balance(warehouse_id: IdPath, product_id: IdPath, _p: Reader, db: Db) -> Response:
    with db.read() as session:
        row = stock.get_balance(session, warehouse_id, product_id)
    return json_response(BalanceOut(**row.__dict__))


@router.get("/alerts/low-stock", tags=["stock"],
            responses={200: {"model": Results[LowStockOut]}})
def low_stock(_p: Reader, db: Db, warehouse_id: OptId = None) -> Response:
    """库存预警: balances below their min_qty."""
    with db.read() as session:
        rows = stock.low_stock(session, warehouse_id)
    items = [
        LowStockOut(product_id=r.product_id, warehouse_id=r.warehouse_id, sku=r.sku, name=r.name,
                    qty=r.qty, min_qty=r.min_qty, max_qty=r.max_qty, shortage=r.shortage,
                    suggested_order=r.suggested_order)
        for r in rows
    ]
    return json_response({"results": items})


@router.get("/stock-policies", tags=["stock"],
            responses={200: {"model": Results[StockPolicyOut]}})
def list_policies(_p: Reader, db: Db, warehouse_id: OptId = None) -> Response:
    with db.read() as session:
        rows = stock.list_policies(session, warehouse_id)
        items = [StockPolicyOut.model_validate(r, from_attributes=True) for r in rows]
    return json_response({"results": items})


@router.post("/stock-policies", tags=["stock"], responses={200: {"model": StockPolicyOut}})
def set_policy(
    body: StockPolicyIn, db: Db, _p: Principal = Depends(require(*MASTER_WRITERS))
) -> Response:
    """Create or replace the min/max of a product in a warehouse."""
    with db.write() as session:
        row = masters.set_stock_policy(session, body.product_id, body.warehouse_id, body.min_qty,
                                       body.max_qty)
        out = StockPolicyOut.model_validate(row, from_attributes=True)
    return json_response(out, cache="no-store")


@router.get("/ledger", tags=["reports"], responses={200: {"model": Page[MovementOut]}})
def ledger(
    request: Request, _p: Reader, db: Db, warehouse_id: OptId = None, product_id: OptId = None,
    document_id: Annotated[str | None, Query(max_length=64)] = None,
    cursor: Cursor = None, limit: Limit = 100,
) -> Response:
    """出入库明细: the append-only movements ordered by seq. Full pages are immutable."""
    key = decode_cursor(cursor, 1)
    with db.read() as session:
        rows = reports.ledger(session, warehouse_id=warehouse_id, product_id=product_id,
                              document_id=document_id, after_seq=key[0] if key else None,
                              limit=limit)
        items = [
            MovementOut(seq=m.seq, product_id=m.product_id, warehouse_id=m.warehouse_id,
                        delta=m.delta, balance_after=m.balance_after, document_id=m.document_id,
                        document_type=m.doc_type, kind=m.kind, occurred_at=m.occurred_at,
                        recorded_at=m.recorded_at, negative_after=m.negative_after,
                        outdated_count=m.outdated_count, late=m.late, edge_replay=m.edge_replay)
            for m in rows
        ]
    full = len(items) == limit
    return page_response(request, items, limit, lambda m: [m.seq],
                         cache=IMMUTABLE if full else PUBLIC_STALE)


def _parse_when(value: str | None, field: str, default: dt.datetime) -> dt.datetime:
    if value is None or value == "":
        return default
    try:
        if len(value) == 10:
            day = dt.date.fromisoformat(value)
            return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError as exc:
        raise invalid_field(field, "expected an ISO 8601 date or date-time") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    try:
        return parsed.astimezone(dt.UTC)
    except OverflowError as exc:
        raise invalid_field(field, "date-time out of range") from exc


@router.get("/reports/summary", tags=["reports"], responses={200: {"model": SummaryOut}})
def summary(
    _p: Reader, db: Db,
    from_: Annotated[str | None, Query(alias="from", max_length=40)] = None,
    to: Annotated[str | None, Query(max_length=40)] = None,
    warehouse_id: OptId = None, product_id: OptId = None,
) -> Response:
    """进销存汇总: opening / in / out / closing per product × warehouse, by occurred_at."""
    tomorrow = utcnow().date() + dt.timedelta(days=1)
    end = _parse_when(to, "to", dt.datetime(tomorrow.year, tomorrow.month, tomorrow.day,
                                            tzinfo=dt.UTC))
    start = _parse_when(from_, "from", end - dt.timedelta(days=30))
    if start >= end:
        raise invalid_field("from", "from must be before to")
    with db.read() as session:
        rows = reports.summary(session, start, end, warehouse_id=warehouse_id,
                               product_id=product_id)
    items = [SummaryRow(product_id=r.product_id, warehouse_id=r.warehouse_id, opening=r.opening,
                        qty_in=r.qty_in, qty_out=r.qty_out, closing=r.closing) for r in rows]
    return json_response({"from": start.isoformat(), "to": end.isoformat(), "results": items})


@router.get("/reviews", tags=["reviews"], responses={200: {"model": Page[ReviewOut]}})
def list_reviews(
    request: Request, _p: Reader, db: Db, unresolved: bool = False, cursor: Cursor = None,
    limit: Limit = 100,
) -> Response:
    """Items flagged for review: oversold edge sales, outdated stocktake counts."""
    key = decode_cursor(cursor, 1)
    with db.read() as session:
        rows = reports.reviews(session, unresolved_only=unresolved,
                               after_id=key[0] if key else None, limit=limit)
        items = [ReviewOut.model_validate(r, from_attributes=True) for r in rows]
    return page_response(request, items, limit, lambda r: [r.id])


@router.post("/reviews/{review_id}/resolve", tags=["reviews"],
             responses={200: {"model": ReviewOut}})
def resolve_review(
    review_id: IdPath, db: Db, _p: Principal = Depends(require(*MASTER_WRITERS))
) -> Response:
    with db.write() as session:
        row = session.get(ReviewItem, review_id)
        if row is None:
            raise not_found("review", review_id)
        if row.resolved_at is None:
            row.resolved_at = utcnow()
            record_change(session, "review", str(row.id), "upsert", ["/api/reviews"])
        session.flush()
        out = ReviewOut.model_validate(row, from_attributes=True)
    return json_response(out, cache="no-store")


