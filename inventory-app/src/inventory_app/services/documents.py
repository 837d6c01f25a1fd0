"""Documents (单据) and posting to the stock ledger.

Life cycle: draft → posted → voided. Posting appends signed movements to the append-only ledger
and updates the balance projection in the same transaction; voiding appends the negated
movements. Run these inside `Database.write()` (the writer lock makes balance checks and `seq`
allocation race-free).

Oversell: a movement that would drive a balance negative is rejected with a 409
`insufficient-stock` problem, except for a sale or stocktake replayed from an edge node
(`edge` given): those already happened in the shop, so they are accepted, flagged
(`negative_after`) and a review item is created.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import cast

from sqlalchemy import Table, and_, bindparam, insert, select, tuple_, update
from sqlalchemy.orm import Session, selectinload

from inventory_app import metrics
from inventory_app.db import next_seqs
from inventory_app.models import (
    Document,
    DocumentLine,
    Partner,
    Product,
    ReviewItem,
    StockBalance,
    StockMovement,
    Warehouse,
    utcnow,
)
from inventory_app.problems import FieldError, ProblemError, invalid, not_found
from inventory_app.schemas import DocumentIn, DocumentLineIn, DocumentPatch, to_utc
from inventory_app.services.auth import EdgeReplay, Principal
from inventory_app.services.changes import change_row, insert_changes, record_change, stock_paths
from inventory_app.services.clock import DEFAULT_MAX_FUTURE_SKEW, BoundedTime, bound_future

SIGN = {
    "purchase_receipt": 1,
    "purchase_return": -1,
    "sales_issue": -1,
    "sales_return": 1,
    "other_in": 1,
    "other_out": -1,
}
PREFIX = {
    "purchase_receipt": "PR",
    "purchase_return": "PRR",
    "sales_issue": "SI",
    "sales_return": "SR",
    "transfer": "TR",
    "stocktake": "ST",
    "other_in": "OI",
    "other_out": "OO",
}
# Types that record something that already happened physically at an edge shop.
EDGE_ACCEPTS_NEGATIVE = frozenset({"sales_issue", "stocktake"})
PARTNER_TYPES = {
    "purchase_receipt": ("supplier", "both"),
    "purchase_return": ("supplier", "both"),
    "sales_issue": ("customer", "both"),
    "sales_return": ("customer", "both"),
}
LATE_THRESHOLD = dt.timedelta(hours=1)
_MOVEMENTS = cast(Table, StockMovement.__table__)
_DOCUMENTS = cast(Table, Document.__table__)
_LINES = cast(Table, DocumentLine.__table__)
_BALANCES = cast(Table, StockBalance.__table__)
_WAREHOUSES = cast(Table, Warehouse.__table__)
_PRODUCTS = cast(Table, Product.__table__)
_PARTNERS = cast(Table, Partner.__table__)

# The statements of a posting, built once: SQLAlchemy then only looks their compiled form up,
# which costs a fraction of building a statement (or an ORM query) per request.
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
_BALANCE_OF = select(_BALANCES.c.qty).where(
    _BALANCES.c.warehouse_id == bindparam("warehouse_id"),
    _BALANCES.c.product_id == bindparam("product_id"))
_BALANCES_OF = select(_BALANCES.c.warehouse_id, _BALANCES.c.product_id, _BALANCES.c.qty).where(
    tuple_(_BALANCES.c.warehouse_id, _BALANCES.c.product_id).in_(
        bindparam("keys", expanding=True)))
_SET_BALANCE = update(_BALANCES).where(
    _BALANCES.c.warehouse_id == bindparam("b_warehouse_id"),
    _BALANCES.c.product_id == bindparam("b_product_id"),
).values(qty=bindparam("b_qty"), last_seq=bindparam("b_last_seq"))
_INSERT_BALANCES = insert(_BALANCES)
_INSERT_DOCUMENT = insert(_DOCUMENTS)
_INSERT_LINES = insert(_LINES).returning(_LINES.c.id, sort_by_parameter_order=True)
_INSERT_MOVEMENTS = insert(_MOVEMENTS)


# stored quantity per (warehouse, product); None: no balance row yet
Balances = dict[tuple[int, int], int | None]


@dataclass(frozen=True)
class DocumentFacts:
    """What the database holds about a document to be created (see `_DOCUMENT_FACTS`)."""

    existing: tuple[str, int] | None  # (type, warehouse_id) of a document with this id
    warehouse: tuple[bool, dt.datetime | None] | None  # (active, deleted_at); None: unknown
    live_products: set[int]
    balances: Balances  # of the live products in the warehouse


def _read_facts(session: Session, document_id: str | None, warehouse_id: int,
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


@dataclass(frozen=True)
class Shortfall:
    product_id: int
    warehouse_id: int
    available: int
    requested: int


def _aware(value: dt.datetime) -> dt.datetime:
    return to_utc(value)


def get_document(session: Session, document_id: str) -> Document:
    """A document with its lines, or a 404 problem."""
    doc = session.scalar(
        select(Document).where(Document.id == document_id).options(selectinload(Document.lines))
    )
    if doc is None:
        raise not_found("document", document_id)
    return doc


def list_documents(
    session: Session,
    *,
    after_seq: int | None,
    limit: int,
    warehouse_id: int | None = None,
    type: str | None = None,
    status: str | None = None,
) -> Sequence[Document]:
    """Documents ordered by creation `seq` (stable under inserts)."""
    stmt = select(Document).options(selectinload(Document.lines)).order_by(Document.seq)
    if after_seq is not None:
        stmt = stmt.where(Document.seq > after_seq)
    if warehouse_id is not None:
        stmt = stmt.where(Document.warehouse_id == warehouse_id)
    if type is not None:
        stmt = stmt.where(Document.type == type)
    if status is not None:
        stmt = stmt.where(Document.status == status)
    return session.scalars(stmt.limit(limit)).all()


def _validate(
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
        facts = _read_facts(session, None, warehouse_id,
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


def _lines(lines: Sequence[DocumentLineIn]) -> list[DocumentLine]:
    return [
        DocumentLine(
            line_no=i + 1,
            product_id=line.product_id,
            qty=line.qty or 0,
            unit_price=None if line.unit_price is None else Decimal(str(line.unit_price)),
            counted_qty=line.counted_qty,
            expected_qty=line.expected_qty,
        )
        for i, line in enumerate(lines)
    ]


def _flag_clock_skew(session: Session, doc: Document, claimed: dt.datetime | None,
                     occurred: BoundedTime) -> None:
    """Flag a document whose client time was clamped (see `services/clock.py`)."""
    assert occurred.clamped_by is not None
    doc.flagged = True
    first_product = doc.lines[0].product_id if doc.lines else None
    if first_product is None:
        return
    _review(session, "clock_skew", doc, None, first_product, doc.warehouse_id,
            f"time {claimed.isoformat() if claimed else '?'} was "
            f"{occurred.clamped_by.total_seconds():.0f} s ahead of the receive time; "
            f"recorded as {occurred.value.isoformat()}")


def create_document(
    session: Session,
    data: DocumentIn,
    principal: Principal | None = None,
    edge: EdgeReplay | None = None,
    max_future_skew: dt.timedelta = DEFAULT_MAX_FUTURE_SKEW,
) -> tuple[Document, bool]:
    """Create (and, when `data.post`, post) a document.

    A time (`occurred_at`, else the edge's queued-at time) more than `max_future_skew` after
    the receive time is clamped to the receive time, and the document is flagged for review
    (reason `clock_skew`).

    Returns `(document, created)`. The client UUID is unique: when a document with that id
    exists already, it is returned with `created=False` (a replay after the idempotency key
    expired), or a 409 problem is raised if it describes a different document.
    """
    doc_id = str(data.id)
    facts = _read_facts(session, doc_id, data.warehouse_id,
                        sorted({line.product_id for line in data.lines}))
    if facts.existing is not None:
        if facts.existing != (data.type, data.warehouse_id):
            raise ProblemError(
                409,
                "document-exists",
                "Conflict",
                f"document {doc_id} exists with different content",
                [FieldError("id", "already used by another document")],
            )
        return get_document(session, doc_id), False
    balances = _validate(
        session,
        type=data.type,
        warehouse_id=data.warehouse_id,
        to_warehouse_id=data.to_warehouse_id,
        partner_id=data.partner_id,
        reason=data.reason,
        lines=data.lines,
        principal=principal,
        facts=facts,
    )
    if edge is not None and edge.warehouse_id not in (data.warehouse_id, data.to_warehouse_id):
        raise ProblemError(
            403, "forbidden", "Forbidden",
            "the edge device may only replay documents for its own warehouse",
            [FieldError("X-Edge-Device-Authorization", "device bound to another warehouse")],
        )
    received = utcnow()
    occurred = bound_future(
        _aware(data.occurred_at or (edge.queued_at if edge else None) or received), received,
        max_future_skew)
    doc = Document(
        id=doc_id,
        type=data.type,
        status="draft",
        warehouse_id=data.warehouse_id,
        to_warehouse_id=data.to_warehouse_id,
        partner_id=data.partner_id,
        occurred_at=occurred.value,
        created_at=received,
        reason=data.reason,
        remark=data.remark,
        created_by=principal.name if principal else "",
        origin_device=edge.device_name if edge else None,
        flagged=False,
        version=1,
        voided_at=None,
        lines=_lines(data.lines),
    )
    if not data.post:
        session.add(doc)
    with session.no_autoflush:
        if occurred.clamped_by is not None:
            _flag_clock_skew(session, doc, data.occurred_at or (edge.queued_at if edge else None),
                             occurred)
        if data.post:
            # inserted once, already posted, in Core statements (see `_insert_new`)
            post_document(session, doc, principal, edge, new=True, balances=balances)
        else:
            doc.seq = record_change(session, "document", doc.id, "upsert", _doc_paths(doc.id))
    session.flush()
    return doc, True


def _insert_new(session: Session, doc: Document) -> None:
    """INSERT a new document (never added to the session) and its lines with Core statements.

    `doc` stays a plain, transient object that describes what was stored (it is what the
    response is made of); the session's unit of work never sees it, so nothing of it is
    flushed again. Reading the document later loads it from the database."""
    conn = session.connection()
    conn.execute(_INSERT_DOCUMENT, {col.key: doc.__dict__.get(col.key) for col in _DOCUMENTS.c})
    lines = list(doc.lines)
    if lines:
        rows = [{col.key: line.__dict__.get(col.key) for col in _LINES.c if col.key != "id"}
                | {"document_id": doc.id} for line in lines]
        ids = conn.execute(_INSERT_LINES, rows).scalars().all()
        for line, ident in zip(lines, ids, strict=True):
            line.id, line.document_id = int(ident), doc.id


def update_draft(
    session: Session,
    document_id: str,
    expected_version: int | None,
    patch: DocumentPatch,
    principal: Principal | None = None,
    max_future_skew: dt.timedelta = DEFAULT_MAX_FUTURE_SKEW,
) -> Document:
    """Change a draft (If-Match version checked). Posted/voided documents are immutable."""
    doc = get_document(session, document_id)
    if expected_version is not None and doc.version != expected_version:
        raise ProblemError(412, "precondition-failed", "Precondition failed",
                           f"the document is at version {doc.version}",
                           [FieldError("If-Match", "does not match the current ETag")])
    if doc.status != "draft":
        raise ProblemError(409, "document-not-draft", "Conflict",
                           f"document is {doc.status}; only drafts can be changed",
                           [FieldError("status", doc.status)])
    fields = patch.model_dump(exclude_unset=True)
    new_lines = patch.lines if patch.lines is not None else [
        DocumentLineIn(product_id=line.product_id,
                       qty=line.qty if doc.type != "stocktake" else None,
                       unit_price=None if line.unit_price is None else float(line.unit_price),
                       counted_qty=line.counted_qty, expected_qty=line.expected_qty)
        for line in doc.lines
    ]
    wh = fields.get("warehouse_id", doc.warehouse_id)
    to_wh = fields.get("to_warehouse_id", doc.to_warehouse_id)
    partner = fields.get("partner_id", doc.partner_id)
    reason = fields.get("reason", doc.reason)
    _validate(session, type=doc.type, warehouse_id=wh, to_warehouse_id=to_wh, partner_id=partner,
              reason=reason, lines=new_lines, principal=principal)
    doc.warehouse_id, doc.to_warehouse_id, doc.partner_id, doc.reason = wh, to_wh, partner, reason
    clamped: BoundedTime | None = None
    if patch.occurred_at is not None:
        bounded = bound_future(_aware(patch.occurred_at), utcnow(), max_future_skew)
        doc.occurred_at = bounded.value
        if bounded.clamped_by is not None:
            clamped = bounded
    if patch.remark is not None:
        doc.remark = patch.remark
    if patch.lines is not None:
        doc.lines.clear()
        session.flush()
        doc.lines.extend(_lines(patch.lines))
    doc.version += 1
    session.flush()
    if clamped is not None:
        _flag_clock_skew(session, doc, patch.occurred_at, clamped)
    record_change(session, "document", doc.id, "upsert", _doc_paths(doc.id))
    return doc


def _doc_paths(document_id: str) -> list[str]:
    return ["/api/documents", f"/api/documents/{document_id}"]


def _insufficient(shortfalls: list[Shortfall]) -> ProblemError:
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


def _apply(
    session: Session,
    doc: Document,
    planned: list[tuple[DocumentLine, int, int, int, bool]],
    kind: str,
    edge: EdgeReplay | None,
    extra_seqs: int = 0,
    known: Balances | None = None,
) -> tuple[Iterator[int], LedgerRows]:
    """Append movements (line, warehouse, product, delta, outdated) and update balances.

    `known`: balances read earlier in this write transaction (by `_validate`); the ones it
    does not cover are read here.

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
    stored = ({key: known[key] for key in keys} if known is not None and keys <= known.keys()
              else _balances(session, keys))
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
        raise _insufficient(shortfalls)
    seqs = iter(next_seqs(session, len(planned) + reviews + len(running) + extra_seqs))
    late = (now - _aware(doc.occurred_at)) > LATE_THRESHOLD
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
            "occurred_at": _aware(doc.occurred_at),
            "recorded_at": now,
            "negative_after": negative,
            "outdated_count": outdated,
            "late": late and kind == "post",
            "edge_replay": edge is not None,
        }))
        if negative:
            doc.flagged = True
            _review(session, "oversell", doc, seq, prod, wh,
                    f"balance went to {qty[key]} after an edge-replayed {doc.type}", next(seqs))
        if outdated:
            doc.flagged = True
            _review(session, "outdated_count", doc, seq, prod, wh,
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


def _balances(session: Session, keys: set[tuple[int, int]]) -> Balances:
    """The stored quantities of these (warehouse, product) keys in one statement (None: no
    balance row yet)."""
    found: Balances = dict.fromkeys(keys)
    conn = session.connection()
    if len(keys) == 1:
        wh, prod = next(iter(keys))
        found[(wh, prod)] = conn.execute(
            _BALANCE_OF, {"warehouse_id": wh, "product_id": prod}).scalar()
    elif keys:
        for row in conn.execute(_BALANCES_OF, {"keys": sorted(keys)}):
            found[(row.warehouse_id, row.product_id)] = row.qty
    return found


def _review(session: Session, reason: str, doc: Document, seq: int | None, prod: int, wh: int,
            detail: str, change_seq: int | None = None) -> None:
    session.add(ReviewItem(reason=reason, document_id=doc.id, movement_seq=seq, product_id=prod,
                           warehouse_id=wh, detail=detail, origin_device=doc.origin_device,
                           created_at=utcnow()))
    record_change(session, "review", doc.id, "upsert", ["/api/reviews"], change_seq)


def post_document(
    session: Session,
    doc: Document | str,
    principal: Principal | None = None,
    edge: EdgeReplay | None = None,
    new: bool = False,
    balances: Balances | None = None,
) -> Document:
    """Post a draft: append its movements, assign its `number`. Posting twice is a no-op.

    `new`: `doc` is a new document not yet in the session; it is inserted already posted.
    `balances`: stored balances read earlier in this transaction (see `_validate`)."""
    if isinstance(doc, str):
        doc = get_document(session, doc)
    if doc.status == "posted":
        return doc
    if doc.status != "draft":
        raise ProblemError(409, "document-voided", "Conflict", "a voided document cannot be posted",
                           [FieldError("status", doc.status)])
    if principal is not None and principal.is_device and principal.warehouse_id not in (
        doc.warehouse_id, doc.to_warehouse_id
    ):
        raise ProblemError(403, "forbidden", "Forbidden",
                           "a device token may only post documents for its own warehouse")
    planned: list[tuple[DocumentLine, int, int, int, bool]] = []
    for line in doc.lines:
        if doc.type == "transfer":
            assert doc.to_warehouse_id is not None
            planned.append((line, doc.warehouse_id, line.product_id, -line.qty, False))
            planned.append((line, doc.to_warehouse_id, line.product_id, line.qty, False))
        elif doc.type == "stocktake":
            counted = line.counted_qty or 0
            expected = line.expected_qty or 0
            key = (doc.warehouse_id, line.product_id)
            current = (balances if balances is not None and key in balances
                       else _balances(session, {key}))[key] or 0
            # running effect of earlier lines of this document on the same product
            earlier = sum(
                p[3] for p in planned if p[1] == doc.warehouse_id and p[2] == line.product_id
            )
            planned.append((line, doc.warehouse_id, line.product_id, counted - expected,
                            current + earlier != expected))
        else:
            planned.append((line, doc.warehouse_id, line.product_id, SIGN[doc.type] * line.qty,
                            False))
    if edge is not None and doc.origin_device is None:
        doc.origin_device = edge.device_name
    seqs, rows = _apply(session, doc, planned, "post", edge, extra_seqs=1, known=balances)
    now = utcnow()
    doc.status = "posted"
    doc.posted_at = now
    doc.version += 1
    seq = next(seqs)
    rows.changes.append(change_row(seq, "document", doc.id, "upsert", _doc_paths(doc.id)))
    if not doc.seq:
        doc.seq = seq
    doc.number = f"{PREFIX[doc.type]}-{_aware(doc.occurred_at):%Y%m%d}-{seq:07d}"
    if new:
        _insert_new(session, doc)
    session.flush()
    rows.write(session)
    metrics.DOCUMENTS_POSTED.labels(type=doc.type).inc()
    return doc


def void_document(session: Session, doc: Document | str, principal: Principal | None = None
                  ) -> Document:
    """Void a posted document by appending the negated movements. Voiding twice is a no-op."""
    if isinstance(doc, str):
        doc = get_document(session, doc)
    if doc.status == "voided":
        return doc
    if doc.status != "posted":
        raise ProblemError(409, "document-not-posted", "Conflict",
                           "only posted documents can be voided",
                           [FieldError("status", doc.status)])
    movements = session.scalars(
        select(StockMovement)
        .where(StockMovement.document_id == doc.id, StockMovement.kind == "post")
        .order_by(StockMovement.seq)
    ).all()
    lines = {line.id: line for line in doc.lines}
    planned = [
        (lines[m.line_id], m.warehouse_id, m.product_id, -m.delta, False)
        for m in movements
        if m.line_id is not None
    ]
    seqs, rows = _apply(session, doc, planned, "void", None, extra_seqs=1)
    doc.status = "voided"
    doc.voided_at = utcnow()
    doc.version += 1
    rows.changes.append(change_row(next(seqs), "document", doc.id, "upsert",
                                   _doc_paths(doc.id)))
    session.flush()
    rows.write(session)
    return doc


def new_document_id() -> str:
    """A fresh client-style document id (UUID4)."""
    return str(uuid.uuid4())
