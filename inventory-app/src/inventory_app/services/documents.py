"""Documents (单据): their life cycle draft → posted → voided.

Posting appends signed movements to the append-only ledger and updates the balance projection
in the same transaction (see `services/ledger.py`); voiding appends the negated movements.
Run these inside `Database.write()` (the writer lock makes balance checks and `seq`
allocation race-free). A document's references and lines are checked by
`services/document_checks.py`.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import cast

from sqlalchemy import Table, insert, select
from sqlalchemy.orm import Session, selectinload

from inventory_app import metrics
from inventory_app.models import Document, DocumentLine, StockMovement, utcnow
from inventory_app.problems import FieldError, ProblemError, not_found
from inventory_app.schemas import DocumentIn, DocumentLineIn, DocumentPatch, to_utc
from inventory_app.services.auth import EdgeReplay, Principal
from inventory_app.services.changes import change_row, record_change
from inventory_app.services.clock import DEFAULT_MAX_FUTURE_SKEW, BoundedTime, bound_future
from inventory_app.services.document_checks import read_facts, validate
from inventory_app.services.ledger import (
    Balances,
    Planned,
    add_review,
    apply_movements,
    balances_of,
)

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
_DOCUMENTS = cast(Table, Document.__table__)
_LINES = cast(Table, DocumentLine.__table__)
# built once (see `services/ledger.py`)
_INSERT_DOCUMENT = insert(_DOCUMENTS)
_INSERT_LINES = insert(_LINES).returning(_LINES.c.id, sort_by_parameter_order=True)


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
    add_review(session, "clock_skew", doc, None, first_product, doc.warehouse_id,
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
    facts = read_facts(session, doc_id, data.warehouse_id,
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
    balances = validate(
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
        to_utc(data.occurred_at or (edge.queued_at if edge else None) or received), received,
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
    validate(session, type=doc.type, warehouse_id=wh, to_warehouse_id=to_wh, partner_id=partner,
              reason=reason, lines=new_lines, principal=principal)
    doc.warehouse_id, doc.to_warehouse_id, doc.partner_id, doc.reason = wh, to_wh, partner, reason
    clamped: BoundedTime | None = None
    if patch.occurred_at is not None:
        bounded = bound_future(to_utc(patch.occurred_at), utcnow(), max_future_skew)
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
    `balances`: stored balances read earlier in this transaction (see
    `document_checks.validate`)."""
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
    planned: list[Planned] = []
    counts: Balances = {}
    if doc.type == "stocktake":  # each line compares with the stored balance: read them once
        balances = counts = balances_of(
            session, {(doc.warehouse_id, line.product_id) for line in doc.lines}, balances)
    for line in doc.lines:
        if doc.type == "transfer":
            assert doc.to_warehouse_id is not None
            planned.append((line, doc.warehouse_id, line.product_id, -line.qty, False))
            planned.append((line, doc.to_warehouse_id, line.product_id, line.qty, False))
        elif doc.type == "stocktake":
            counted = line.counted_qty or 0
            expected = line.expected_qty or 0
            current = counts[(doc.warehouse_id, line.product_id)] or 0
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
    seqs, rows = apply_movements(session, doc, planned, "post", edge, extra_seqs=1, known=balances)
    now = utcnow()
    doc.status = "posted"
    doc.posted_at = now
    doc.version += 1
    seq = next(seqs)
    rows.changes.append(change_row(seq, "document", doc.id, "upsert", _doc_paths(doc.id)))
    if not doc.seq:
        doc.seq = seq
    doc.number = f"{PREFIX[doc.type]}-{to_utc(doc.occurred_at):%Y%m%d}-{seq:07d}"
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
    seqs, rows = apply_movements(session, doc, planned, "void", None, extra_seqs=1)
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
