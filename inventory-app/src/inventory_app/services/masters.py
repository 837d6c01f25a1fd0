"""Master data: categories, warehouses, partners, products, stock policies.

Updates and deletes take the version the client saw (`expected_version`, from If-Match) and
raise 412 on mismatch. Deletes are soft (the ledger keeps referring to the row) and appear in
the change feed as tombstones.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from inventory_app.models import (
    Category,
    Partner,
    Product,
    StockPolicy,
    Warehouse,
    utcnow,
)
from inventory_app.problems import FieldError, ProblemError, invalid_field, not_found
from inventory_app.services.changes import master_paths, record_change

Master = Category | Warehouse | Partner | Product
M = TypeVar("M", Category, Warehouse, Partner, Product)

COLLECTIONS: dict[type[Any], tuple[str, str]] = {
    Category: ("categories", "category"),
    Warehouse: ("warehouses", "warehouse"),
    Partner: ("partners", "partner"),
    Product: ("products", "product"),
}


def get(session: Session, model: type[M], ident: int) -> M:
    """A live (not deleted) master row, or a 404 problem."""
    row = session.get(model, ident)
    if row is None or row.deleted_at is not None:
        raise not_found(COLLECTIONS[model][1], ident)
    return row


LIKE_ESCAPE = "\\"


def contains_pattern(text: str) -> str:
    """A LIKE pattern matching `text` literally anywhere (`%`, `_` and the escape character
    in `text` match only themselves)."""
    escaped = (text.replace(LIKE_ESCAPE, LIKE_ESCAPE * 2).replace("%", LIKE_ESCAPE + "%")
               .replace("_", LIKE_ESCAPE + "_"))
    return f"%{escaped}%"


def list_rows(
    session: Session,
    model: type[M],
    *,
    after_id: int | None,
    limit: int,
    q: str | None = None,
    category_id: int | None = None,
) -> Sequence[M]:
    """Live rows ordered by id (stable under inserts), keyset-paginated after `after_id`."""
    stmt = select(model).where(model.deleted_at.is_(None)).order_by(model.id).limit(limit)
    if after_id is not None:
        stmt = stmt.where(model.id > after_id)
    if model is Product:
        if category_id is not None:
            stmt = stmt.where(Product.category_id == category_id)
        if q:
            like = contains_pattern(q)
            stmt = stmt.where(
                or_(Product.name.ilike(like, escape=LIKE_ESCAPE),
                    Product.sku.ilike(like, escape=LIKE_ESCAPE), Product.barcode == q)
            )
    elif q and model is not Category:
        stmt = stmt.where(model.name.ilike(contains_pattern(q), escape=LIKE_ESCAPE))
    return session.scalars(stmt).all()


def _check_version(row: Master, expected_version: int | None) -> None:
    if expected_version is not None and row.version != expected_version:
        raise ProblemError(
            412,
            "precondition-failed",
            "Precondition failed",
            f"the resource is at version {row.version}, not {expected_version}",
            [FieldError("If-Match", "does not match the current ETag")],
        )


def _changed(session: Session, row: Master, op: str = "upsert") -> None:
    collection, entity = COLLECTIONS[type(row)]
    record_change(session, entity, str(row.id), op, master_paths(collection, row.id))


def _flush_unique(session: Session, field: str, message: str) -> None:
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError as exc:
        raise ProblemError(409, "conflict", "Conflict", message, [FieldError(field, message)]) \
            from exc


def _category_path(session: Session, parent_id: int | None, name: str, self_id: int | None) -> str:
    if parent_id is None:
        return name
    parent = session.get(Category, parent_id)
    if parent is None or parent.deleted_at is not None:
        raise invalid_field("parent_id", f"unknown category {parent_id}")
    # refuse cycles
    cursor: Category | None = parent
    while cursor is not None:
        if self_id is not None and cursor.id == self_id:
            raise invalid_field("parent_id", "a category cannot be its own ancestor")
        cursor = session.get(Category, cursor.parent_id) if cursor.parent_id else None
    return f"{parent.path}/{name}"


def create_category(session: Session, name: str, parent_id: int | None = None) -> Category:
    row = Category(name=name, parent_id=parent_id,
                   path=_category_path(session, parent_id, name, None), version=1)
    session.add(row)
    session.flush()
    _changed(session, row)
    return row


def update_category(
    session: Session, ident: int, expected_version: int | None, changes: dict[str, Any]
) -> Category:
    row = get(session, Category, ident)
    _check_version(row, expected_version)
    name = changes.get("name") or row.name
    parent_id = changes.get("parent_id", row.parent_id)
    row.path = _category_path(session, parent_id, name, row.id)
    row.name, row.parent_id = name, parent_id
    row.version += 1
    _changed(session, row)
    return row


def create_warehouse(
    session: Session, code: str, name: str, kind: str = "edge", active: bool = True
) -> Warehouse:
    row = Warehouse(code=code, name=name, kind=kind, active=active, version=1)
    session.add(row)
    _flush_unique(session, "code", f"warehouse code {code!r} already exists")
    _changed(session, row)
    return row


def create_partner(
    session: Session, type: str, name: str, contact: str = "", phone: str = ""
) -> Partner:
    row = Partner(type=type, name=name, contact=contact, phone=phone, version=1)
    session.add(row)
    session.flush()
    _changed(session, row)
    return row


def create_product(session: Session, **fields: Any) -> Product:
    """Create a product (fields as in `schemas.ProductIn`)."""
    if fields.get("category_id") is not None:
        cat = session.get(Category, fields["category_id"])
        if cat is None or cat.deleted_at is not None:
            raise invalid_field("category_id", f"unknown category {fields['category_id']}")
    for price in ("purchase_price", "sale_price"):
        if price in fields:
            fields[price] = Decimal(str(fields[price]))
    row = Product(version=1, **fields)
    session.add(row)
    _flush_unique(session, "sku", f"SKU {fields.get('sku')!r} already exists")
    _changed(session, row)
    return row


def update_master(
    session: Session, model: type[M], ident: int, expected_version: int | None,
    changes: dict[str, Any],
) -> M:
    """Apply a partial update to a warehouse, partner or product (version-checked)."""
    if model is Category:
        return update_category(session, ident, expected_version, changes)  # type: ignore[return-value]
    row = get(session, model, ident)
    _check_version(row, expected_version)
    if model is Product and changes.get("category_id") is not None:
        cat = session.get(Category, changes["category_id"])
        if cat is None or cat.deleted_at is not None:
            raise invalid_field("category_id", f"unknown category {changes['category_id']}")
    for key, value in changes.items():
        if key in ("purchase_price", "sale_price") and value is not None:
            value = Decimal(str(value))
        if value is None and key not in ("barcode", "category_id"):
            continue
        setattr(row, key, value)
    row.version += 1
    _changed(session, row)
    return row


def delete_master(
    session: Session, model: type[M], ident: int, expected_version: int | None
) -> M:
    """Soft-delete a master row (tombstone in the change feed)."""
    row = get(session, model, ident)
    _check_version(row, expected_version)
    if model is Category:
        child = session.scalar(
            select(Category.id).where(Category.parent_id == ident, Category.deleted_at.is_(None))
        )
        if child is not None:
            raise ProblemError(409, "conflict", "Conflict", "the category has subcategories",
                               [FieldError("id", "category has subcategories")])
    row.deleted_at = utcnow()
    row.version += 1
    _changed(session, row, "delete")
    return row


def set_stock_policy(
    session: Session, product_id: int, warehouse_id: int, min_qty: int, max_qty: int | None
) -> StockPolicy:
    """Create or replace the min/max policy of a product in a warehouse."""
    errors = []
    if session.get(Product, product_id) is None:
        errors.append(FieldError("product_id", f"unknown product {product_id}"))
    if session.get(Warehouse, warehouse_id) is None:
        errors.append(FieldError("warehouse_id", f"unknown warehouse {warehouse_id}"))
    if max_qty is not None and max_qty < min_qty:
        errors.append(FieldError("max_qty", "max_qty must be >= min_qty"))
    if errors:
        raise ProblemError(422, "validation-error", "Validation error", errors[0].message, errors)
    row = session.get(StockPolicy, (product_id, warehouse_id))
    if row is None:
        row = StockPolicy(product_id=product_id, warehouse_id=warehouse_id)
        session.add(row)
    row.min_qty, row.max_qty = min_qty, max_qty
    session.flush()
    record_change(
        session,
        "stock_policy",
        f"{warehouse_id}:{product_id}",
        "upsert",
        ["/api/stock", f"/api/warehouses/{warehouse_id}/stock/{product_id}",
         "/api/alerts/low-stock", "/api/stock-policies"],
    )
    return row
