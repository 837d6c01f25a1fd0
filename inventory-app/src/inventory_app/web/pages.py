"""Read-only pages: dashboard, products, stock per warehouse and the stock ledger."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Final
from urllib.parse import urlencode

from fastapi import APIRouter
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import Response

from inventory_app.models import Category, Document, Product, ReviewItem, StockMovement, Warehouse
from inventory_app.problems import ProblemError
from inventory_app.services import masters, reports, stock
from inventory_app.web.navigation import POST_PAGES, error_page, page, signed_in
from inventory_app.web.session import WebUser, database
from inventory_app.web.views import product_view, timestamp, warehouse_view

router = APIRouter(include_in_schema=False)

PAGE_SIZE: Final = 50
RECENT_MOVEMENTS: Final = 10
LOW_STOCK_ROWS: Final = 50
REVIEW_ROWS: Final = 50
MAX_QUERY: Final = 100


def int_param(request: Request, name: str) -> int | None:
    text = request.query_params.get(name, "").strip()
    if not text.isdigit() or len(text) > 18:
        return None
    return int(text)


def page_url(request: Request, **changes: object) -> str:
    """This page's URL with ``changes`` (None drops a parameter); ``lang`` stays, last."""
    params = {k: v for k, v in request.query_params.items() if k not in {"lang", *changes}}
    params.update({k: str(v) for k, v in changes.items() if v is not None})
    lang = request.query_params.get("lang")
    if lang:
        params["lang"] = lang
    query = urlencode(params)
    return request.url.path + ("?" + query if query else "")


def warehouse_names(session: Session) -> dict[int, str]:
    return {w.id: w.name for w in session.scalars(select(Warehouse).order_by(Warehouse.id))}


def live_warehouses(session: Session) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(Warehouse).where(Warehouse.deleted_at.is_(None)).order_by(Warehouse.id)
    ).all()
    return [warehouse_view(w) for w in rows]


def products_by_id(session: Session, ids: Iterable[int]) -> dict[int, Product]:
    wanted = set(ids)
    if not wanted:
        return {}
    return {p.id: p for p in session.scalars(select(Product).where(Product.id.in_(wanted)))}


def movement_views(session: Session, movements: Sequence[StockMovement]) -> list[dict[str, Any]]:
    products = products_by_id(session, (m.product_id for m in movements))
    names = warehouse_names(session)
    doc_ids = {m.document_id for m in movements}
    numbers = (
        {
            doc_id: number
            for doc_id, number in session.execute(
                select(Document.id, Document.number).where(Document.id.in_(doc_ids))
            ).all()
        }
        if doc_ids
        else {}
    )
    views = []
    for m in movements:
        product = products.get(m.product_id)
        flags = [
            name
            for name, on in (
                ("void", m.kind == "void"),
                ("negative_after", m.negative_after),
                ("outdated_count", m.outdated_count),
                ("late", m.late),
                ("edge_replay", m.edge_replay),
            )
            if on
        ]
        views.append(
            {
                "seq": m.seq,
                "time": timestamp(m.occurred_at),
                "product_id": m.product_id,
                "product_name": product.name if product else str(m.product_id),
                "warehouse_name": names.get(m.warehouse_id, str(m.warehouse_id)),
                "doc_type": m.doc_type,
                "doc_number": numbers.get(m.document_id) or "",
                "delta": f"{m.delta:+d}",
                "sign": "neg" if m.delta < 0 else ("pos" if m.delta > 0 else ""),
                "balance_after": m.balance_after,
                "flags": flags,
            }
        )
    return views


def balance_views(session: Session, rows: Sequence[stock.BalanceRow]) -> list[dict[str, Any]]:
    products = products_by_id(session, (r.product_id for r in rows))
    names = warehouse_names(session)
    views = []
    for r in rows:
        product = products.get(r.product_id)
        views.append(
            {
                "product_id": r.product_id,
                "warehouse_id": r.warehouse_id,
                "sku": product.sku if product else "",
                "product_name": product.name if product else str(r.product_id),
                "warehouse_name": names.get(r.warehouse_id, str(r.warehouse_id)),
                "qty": r.qty,
                "min_qty": "" if r.min_qty is None else r.min_qty,
                "max_qty": "" if r.max_qty is None else r.max_qty,
                "low": r.min_qty is not None and r.qty < r.min_qty,
            }
        )
    return views


def review_views(session: Session, items: Sequence[ReviewItem]) -> list[dict[str, Any]]:
    """Unresolved review items (oversold edge sales, outdated counts) for the dashboard."""
    products = products_by_id(session, (i.product_id for i in items))
    names = warehouse_names(session)
    doc_ids = {i.document_id for i in items}
    numbers = (
        dict(session.execute(
            select(Document.id, Document.number).where(Document.id.in_(doc_ids))
        ).all())
        if doc_ids
        else {}
    )
    seqs = {i.movement_seq for i in items if i.movement_seq is not None}
    balances = (
        dict(session.execute(
            select(StockMovement.seq, StockMovement.balance_after).where(
                StockMovement.seq.in_(seqs))
        ).all())
        if seqs
        else {}
    )
    views = []
    for item in items:
        product = products.get(item.product_id)
        views.append(
            {
                "id": item.id,
                "reason": item.reason,
                "balance_after": balances.get(item.movement_seq)
                if item.movement_seq is not None
                else None,
                "time": timestamp(item.created_at),
                "product_id": item.product_id,
                "product_name": product.name if product else str(item.product_id),
                "warehouse_name": names.get(item.warehouse_id, str(item.warehouse_id)),
                "doc_number": numbers.get(item.document_id) or "",
                "device": item.origin_device or "",
                "detail": item.detail,
            }
        )
    return views


@router.get("/")
def dashboard(request: Request) -> Response:
    user = signed_in(request)
    if not isinstance(user, WebUser):
        return user
    with database(request).read() as session:
        low = stock.low_stock(session)
        names = warehouse_names(session)
        product_count = session.scalar(
            select(func.count()).select_from(Product).where(Product.deleted_at.is_(None))
        )
        warehouse_count = session.scalar(
            select(func.count()).select_from(Warehouse).where(Warehouse.deleted_at.is_(None))
        )
        review_count = session.scalar(
            select(func.count()).select_from(ReviewItem).where(ReviewItem.resolved_at.is_(None))
        )
        reviews = review_views(
            session, reports.reviews(session, unresolved_only=True, limit=REVIEW_ROWS)
        )
    low_total = len(low)
    low_rows = [
        {
            "product_id": row.product_id,
            "sku": row.sku,
            "product_name": row.name,
            "warehouse_name": names.get(row.warehouse_id, str(row.warehouse_id)),
            "qty": row.qty,
            "min_qty": row.min_qty,
        }
        for row in low[:LOW_STOCK_ROWS]
    ]
    tiles = [
        {"label": "tile.products", "value": product_count or 0},
        {"label": "tile.warehouses", "value": warehouse_count or 0},
        {"label": "tile.low_stock", "value": low_total},
        {"label": "tile.reviews", "value": review_count or 0},
    ]
    post_links = [{"href": href, "label": label} for href, label in POST_PAGES]
    return page(
        request, user, "dashboard.html", tiles=tiles, low_stock=low_rows, post_links=post_links,
        low_total=low_total, reviews=reviews, review_total=review_count or 0,
    )


@router.get("/products")
def products(request: Request) -> Response:
    user = signed_in(request)
    if not isinstance(user, WebUser):
        return user
    q = request.query_params.get("q", "").strip()[:MAX_QUERY]
    after = int_param(request, "after")
    with database(request).read() as session:
        rows = masters.list_rows(
            session, Product, after_id=after, limit=PAGE_SIZE + 1, q=q or None
        )
        views = [product_view(p) for p in rows[:PAGE_SIZE]]
    more = len(rows) > PAGE_SIZE
    return page(
        request,
        user,
        "products.html",
        q=q,
        products=views,
        next_url=page_url(request, after=views[-1]["id"]) if more and views else "",
        prev_url=page_url(request, after=None) if after is not None else "",
    )


@router.get("/products/{product_id}")
def product_detail(product_id: str, request: Request) -> Response:
    user = signed_in(request)
    if not isinstance(user, WebUser):
        return user
    if not product_id.isdigit() or len(product_id) > 18:
        return error_page(request, user, 404, "not_found")
    with database(request).read() as session:
        try:
            product = masters.get(session, Product, int(product_id))
        except ProblemError:
            return error_page(request, user, 404, "not_found")
        balances = balance_views(
            session, stock.list_balances(session, product_id=product.id, limit=1000)
        )
        recent = session.scalars(
            select(StockMovement)
            .where(StockMovement.product_id == product.id)
            .order_by(StockMovement.seq.desc())
            .limit(RECENT_MOVEMENTS)
        ).all()
        movements = movement_views(session, recent)
        category = (
            session.get(Category, product.category_id) if product.category_id is not None else None
        )
        category_name = (category.path or category.name) if category is not None else ""
        view = product_view(product)
    facts = [
        ("col.sku", view["sku"]),
        ("col.barcode", view["barcode"]),
        ("col.spec", view["spec"]),
        ("col.unit", view["unit"]),
        ("col.purchase_price", view["purchase_price"]),
        ("col.sale_price", view["sale_price"]),
        ("col.category", category_name),
    ]
    return page(
        request, user, "product.html", product=view, facts=facts, balances=balances,
        movements=movements,
    )


@router.get("/stock")
def stock_page(request: Request) -> Response:
    user = signed_in(request)
    if not isinstance(user, WebUser):
        return user
    warehouse_id = int_param(request, "warehouse_id")
    after_text = request.query_params.get("after", "")
    after: tuple[int, int] | None = None
    if ":" in after_text:
        left, _, right = after_text.partition(":")
        if left.isdigit() and right.isdigit() and len(after_text) < 40:
            after = (int(left), int(right))
    with database(request).read() as session:
        rows = stock.list_balances(
            session, warehouse_id=warehouse_id, after=after, limit=PAGE_SIZE + 1
        )
        more = len(rows) > PAGE_SIZE
        rows = rows[:PAGE_SIZE]
        balances = balance_views(session, rows)
        warehouses = live_warehouses(session)
    last = rows[-1] if rows else None
    return page(
        request,
        user,
        "stock.html",
        warehouse_id=warehouse_id,
        warehouses=warehouses,
        balances=balances,
        next_url=page_url(request, after=f"{last.warehouse_id}:{last.product_id}")
        if more and last
        else "",
        prev_url=page_url(request, after=None) if after is not None else "",
    )


@router.get("/ledger")
def ledger_page(request: Request) -> Response:
    """Movements newest first, filtered by warehouse and/or product."""
    user = signed_in(request)
    if not isinstance(user, WebUser):
        return user
    warehouse_id = int_param(request, "warehouse_id")
    product_id = int_param(request, "product_id")
    before = int_param(request, "before")
    with database(request).read() as session:
        stmt = select(StockMovement).order_by(StockMovement.seq.desc()).limit(PAGE_SIZE + 1)
        if warehouse_id is not None:
            stmt = stmt.where(StockMovement.warehouse_id == warehouse_id)
        if product_id is not None:
            stmt = stmt.where(StockMovement.product_id == product_id)
        if before is not None:
            stmt = stmt.where(StockMovement.seq < before)
        rows = session.scalars(stmt).all()
        more = len(rows) > PAGE_SIZE
        rows = rows[:PAGE_SIZE]
        movements = movement_views(session, rows)
        last_seq = rows[-1].seq if rows else None
        warehouses = live_warehouses(session)
        product_options = [
            product_view(p)
            for p in session.scalars(
                select(Product).where(Product.deleted_at.is_(None)).order_by(Product.sku)
            )
        ]
    return page(
        request,
        user,
        "ledger.html",
        warehouse_id=warehouse_id,
        product_id=product_id,
        warehouses=warehouses,
        products=product_options,
        movements=movements,
        next_url=page_url(request, before=last_seq) if more and last_seq is not None else "",
        prev_url=page_url(request, before=None) if before is not None else "",
    )

