"""The checks of a new or changed document (单据) against what the database holds: its id, its
warehouses and partner, its products and lines, and who may write it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

from sqlalchemy import Table, and_, bindparam, select
from sqlalchemy.orm import Session

from inventory_app.models import Document, Partner, Product, StockBalance, Warehouse
from inventory_app.problems import FieldError, ProblemError, invalid
from inventory_app.schemas import DocumentLineIn
from inventory_app.services.auth import Principal
from inventory_app.services.ledger import Balances

PARTNER_TYPES = {
    "purchase_receipt": ("supplier", "both"),
    "purchase_return": ("supplier", "both"),
    "sales_issue": ("customer", "both"),
    "sales_return": ("customer", "both"),
}
_DOCUMENTS = cast(Table, Document.__table__)
_BALANCES = cast(Table, StockBalance.__table__)
_WAREHOUSES = cast(Table, Warehouse.__table__)
_PRODUCTS = cast(Table, Product.__table__)
_PARTNERS = cast(Table, Partner.__table__)
# Built once: SQLAlchemy then only looks their compiled form up, which costs a fraction of
# building a statement (or an ORM query) per request.
_DOCUMENT_EXISTS = select(_DOCUMENTS.c.type, _DOCUMENTS.c.warehouse_id).where(
    _DOCUMENTS.c.id == bindparam("document_id"))
_WAREHOUSE_STATE = select(_WAREHOUSES.c.active, _WAREHOUSES.c.deleted_at).where(
    _WAREHOUSES.c.id == bindparam("warehouse_id"))
_PARTNER_STATE = select(_PARTNERS.c.type, _PARTNERS.c.deleted_at).where(
    _PARTNERS.c.id == bindparam("partner_id"))
# What creating a document reads, in one statement: whether its id exists already (type and
# warehouse), the warehouse's state, and the live products among the lines' ids, each with its
# balance in that warehouse (NULL when it has none yet). No row: the warehouse does not exist.
_DOCUMENT_FACTS = select(
    select(_DOCUMENTS.c.type).where(_DOCUMENTS.c.id == bindparam("document_id"))
    .scalar_subquery().label("existing_type"),
    select(_DOCUMENTS.c.warehouse_id).where(_DOCUMENTS.c.id == bindparam("document_id"))
    .scalar_subquery().label("existing_warehouse_id"),
    _WAREHOUSES.c.active, _WAREHOUSES.c.deleted_at, _PRODUCTS.c.id.label("product_id"),
    _BALANCES.c.qty,
).select_from(
    _WAREHOUSES.outerjoin(_PRODUCTS, and_(
        _PRODUCTS.c.id.in_(bindparam("product_ids", expanding=True)),
        _PRODUCTS.c.deleted_at.is_(None)))
    .outerjoin(_BALANCES, and_(_BALANCES.c.product_id == _PRODUCTS.c.id,
                               _BALANCES.c.warehouse_id == _WAREHOUSES.c.id))
).where(_WAREHOUSES.c.id == bindparam("warehouse_id"))
_LIVE_PRODUCTS = select(_PRODUCTS.c.id).where(
    _PRODUCTS.c.id.in_(bindparam("product_ids", expanding=True)),
    _PRODUCTS.c.deleted_at.is_(None))


@dataclass(frozen=True)
class DocumentFacts:
    """What the database holds about a document to be created (see `_DOCUMENT_FACTS`)."""

    existing: tuple[str, int] | None  # (type, warehouse_id) of a document with this id
    warehouse: tuple[bool, dt.datetime | None] | None  # (active, deleted_at); None: unknown
    live_products: set[int]
    balances: Balances  # of the live products in the warehouse


def read_facts(session: Session, document_id: str | None, warehouse_id: int,
                product_ids: list[int]) -> DocumentFacts:
    """One statement in the usual case; when the warehouse does not exist, the document id and
    the products are read on their own (an error follows anyway)."""
    conn = session.connection()
    rows = conn.execute(_DOCUMENT_FACTS, {"document_id": document_id,
                                          "warehouse_id": warehouse_id,
                                          "product_ids": product_ids}).all()
    if rows:
        first = rows[0]
        balances: Balances = {(warehouse_id, row.product_id): row.qty for row in rows
                              if row.product_id is not None}
        return DocumentFacts(
            None if first.existing_type is None
            else (first.existing_type, first.existing_warehouse_id),
            (first.active, first.deleted_at), {prod for _wh, prod in balances}, balances)
    existing = None if document_id is None else conn.execute(
        _DOCUMENT_EXISTS, {"document_id": document_id}).first()
    live = set(conn.execute(_LIVE_PRODUCTS, {"product_ids": product_ids}).scalars()
               ) if product_ids else set()
    return DocumentFacts(None if existing is None else (existing.type, existing.warehouse_id),
                         None, live, {})


def validate(
    session: Session,
    *,
    type: str,
    warehouse_id: int,
    to_warehouse_id: int | None,
    partner_id: int | None,
    reason: str | None,
    lines: Sequence[DocumentLineIn],
    principal: Principal | None,
    facts: DocumentFacts | None = None,
) -> Balances:
    """Check a document's references and lines (a 422 problem listing every error, or 403 for
    a device token of another warehouse), against `facts` (read here when not given).

    Returns the stored balances of its products in `warehouse_id` (read in the same statement
    as the warehouse and the products; valid for the rest of the write transaction, which
    holds the writer lock)."""
    errors: list[FieldError] = []
    conn = session.connection()

    def check_warehouse(field: str, ident: int,
                        state: tuple[bool, dt.datetime | None] | None) -> None:
        if state is None or state[1] is not None:
            errors.append(FieldError(field, f"unknown warehouse {ident}"))
        elif not state[0]:
            errors.append(FieldError(field, f"warehouse {ident} is inactive"))

    def live_warehouse(field: str, ident: int) -> None:
        row = conn.execute(_WAREHOUSE_STATE, {"warehouse_id": ident}).first()
        check_warehouse(field, ident, None if row is None else (row.active, row.deleted_at))

    if facts is None:
        facts = read_facts(session, None, warehouse_id,
                            sorted({line.product_id for line in lines}))
    check_warehouse("warehouse_id", warehouse_id, facts.warehouse)
    known = facts.live_products
    if type == "transfer":
        if to_warehouse_id is None:
            errors.append(FieldError("to_warehouse_id", "a transfer needs to_warehouse_id"))
        elif to_warehouse_id == warehouse_id:
            errors.append(
                FieldError("to_warehouse_id", "cannot transfer to the same warehouse")
            )
        else:
            live_warehouse("to_warehouse_id", to_warehouse_id)
    elif to_warehouse_id is not None:
        errors.append(FieldError("to_warehouse_id", "only transfers have to_warehouse_id"))
    if partner_id is not None:
        partner = conn.execute(_PARTNER_STATE, {"partner_id": partner_id}).first()
        if partner is None or partner.deleted_at is not None:
            errors.append(FieldError("partner_id", f"unknown partner {partner_id}"))
        elif type in PARTNER_TYPES and partner.type not in PARTNER_TYPES[type]:
            errors.append(
                FieldError("partner_id", f"partner {partner_id} is a {partner.type}")
            )
    if type in ("other_in", "other_out") and not (reason and reason.strip()):
        errors.append(FieldError("reason", f"{type} needs a reason"))
    for i, line in enumerate(lines):
        if line.product_id not in known:
            errors.append(FieldError(f"lines[{i}].product_id",
                                     f"unknown product {line.product_id}"))
        if type == "stocktake":
            if line.counted_qty is None:
                errors.append(FieldError(f"lines[{i}].counted_qty", "stocktake needs counted_qty"))
            if line.expected_qty is None:
                errors.append(
                    FieldError(f"lines[{i}].expected_qty", "stocktake needs expected_qty")
                )
        else:
            if line.qty is None:
                errors.append(FieldError(f"lines[{i}].qty", "qty is required and must be > 0"))
            if line.counted_qty is not None or line.expected_qty is not None:
                errors.append(
                    FieldError(f"lines[{i}]", "counted_qty/expected_qty are for stocktakes only")
                )
    if principal is not None and principal.is_device and principal.warehouse_id not in (
        warehouse_id,
        to_warehouse_id,
    ):
        raise ProblemError(
            403,
            "forbidden",
            "Forbidden",
            "a device token may only post documents for its own warehouse",
            [FieldError("warehouse_id", "not this device's warehouse")],
        )
    if errors:
        raise invalid(errors, errors[0].message)
    return facts.balances
