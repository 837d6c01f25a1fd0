"""Pydantic models of the HTTP API (requests and responses)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Generic, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator


def to_utc(value: dt.datetime) -> dt.datetime:
    """Naive datetimes are UTC; aware ones are converted to UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    try:
        return value.astimezone(dt.UTC)
    except OverflowError as exc:
        raise ValueError("date-time out of range") from exc


T = TypeVar("T")
UtcDatetime = Annotated[dt.datetime, AfterValidator(to_utc)]
Id = Annotated[int, Field(ge=1, le=2_147_483_647)]

DocumentType = Literal[
    "purchase_receipt",
    "purchase_return",
    "sales_issue",
    "sales_return",
    "transfer",
    "stocktake",
    "other_in",
    "other_out",
]
MAX_QTY = 1_000_000_000


NUL_MESSAGE = "must not contain NUL (U+0000) characters"


def refuse_nul(value: object) -> object:
    """Text with a NUL character is refused on both databases (PostgreSQL cannot store it)."""
    if isinstance(value, str) and "\x00" in value:
        raise ValueError(NUL_MESSAGE)
    return value


class Strict(BaseModel):
    """Request bodies: unknown fields are refused, and so are NUL characters in any text."""

    model_config = ConfigDict(extra="forbid")

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: object) -> object:
        return refuse_nul(value)


# ---- masters -------------------------------------------------------------------------------
class CategoryIn(Strict):
    name: str = Field(min_length=1, max_length=128)
    parent_id: Id | None = None


class CategoryPatch(Strict):
    name: str | None = Field(default=None, min_length=1, max_length=128)
    parent_id: Id | None = None


class CategoryOut(BaseModel):
    id: int
    name: str
    parent_id: int | None
    path: str
    version: int


class WarehouseIn(Strict):
    code: str = Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_.-]+$")
    name: str = Field(min_length=1, max_length=128)
    kind: Literal["central", "edge"] = "edge"
    active: bool = True


class WarehousePatch(Strict):
    name: str | None = Field(default=None, min_length=1, max_length=128)
    kind: Literal["central", "edge"] | None = None
    active: bool | None = None


class WarehouseOut(BaseModel):
    id: int
    code: str
    name: str
    kind: str
    active: bool
    version: int


class PartnerIn(Strict):
    type: Literal["supplier", "customer", "both"]
    name: str = Field(min_length=1, max_length=128)
    contact: str = Field(default="", max_length=128)
    phone: str = Field(default="", max_length=64)


class PartnerPatch(Strict):
    type: Literal["supplier", "customer", "both"] | None = None
    name: str | None = Field(default=None, min_length=1, max_length=128)
    contact: str | None = Field(default=None, max_length=128)
    phone: str | None = Field(default=None, max_length=64)


class PartnerOut(BaseModel):
    id: int
    type: str
    name: str
    contact: str
    phone: str
    version: int


class ProductIn(Strict):
    sku: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=256)
    barcode: str | None = Field(default=None, max_length=64)
    spec: str = Field(default="", max_length=256)
    unit: str = Field(default="pcs", min_length=1, max_length=32)
    category_id: Id | None = None
    purchase_price: float = Field(default=0, ge=0, le=1e10)
    sale_price: float = Field(default=0, ge=0, le=1e10)
    active: bool = True


class ProductPatch(Strict):
    name: str | None = Field(default=None, min_length=1, max_length=256)
    barcode: str | None = Field(default=None, max_length=64)
    spec: str | None = Field(default=None, max_length=256)
    unit: str | None = Field(default=None, min_length=1, max_length=32)
    category_id: Id | None = None
    purchase_price: float | None = Field(default=None, ge=0, le=1e10)
    sale_price: float | None = Field(default=None, ge=0, le=1e10)
    active: bool | None = None


class ProductOut(BaseModel):
    id: int
    sku: str
    barcode: str | None
    name: str
    spec: str
    unit: str
    category_id: int | None
    purchase_price: float
    sale_price: float
    active: bool
    version: int


class StockPolicyIn(Strict):
    product_id: Id
    warehouse_id: Id
    min_qty: int = Field(ge=0, le=MAX_QTY)
    max_qty: int | None = Field(default=None, ge=0, le=MAX_QTY)


class StockPolicyOut(BaseModel):
    product_id: int
    warehouse_id: int
    min_qty: int
    max_qty: int | None


# ---- stock -----------------------------------------------------------------------------------
class BalanceOut(BaseModel):
    product_id: int
    warehouse_id: int
    qty: int
    last_seq: int
    min_qty: int | None
    max_qty: int | None


class LowStockOut(BaseModel):
    product_id: int
    warehouse_id: int
    sku: str
    name: str
    qty: int
    min_qty: int
    max_qty: int | None
    shortage: int
    suggested_order: int


class MovementOut(BaseModel):
    seq: int
    product_id: int
    warehouse_id: int
    delta: int
    balance_after: int
    document_id: str
    document_type: str
    kind: str
    occurred_at: UtcDatetime
    recorded_at: UtcDatetime
    negative_after: bool
    outdated_count: bool
    late: bool
    edge_replay: bool


class SummaryRow(BaseModel):
    product_id: int
    warehouse_id: int
    opening: int
    qty_in: int
    qty_out: int
    closing: int


# ---- documents -------------------------------------------------------------------------------
class DocumentLineIn(Strict):
    product_id: Id
    qty: int | None = Field(default=None, gt=0, le=MAX_QTY)
    unit_price: float | None = Field(default=None, ge=0, le=1e10)
    counted_qty: int | None = Field(default=None, ge=0, le=MAX_QTY)
    expected_qty: int | None = Field(default=None, ge=-MAX_QTY, le=MAX_QTY)


class DocumentIn(Strict):
    id: uuid.UUID
    type: DocumentType
    warehouse_id: Id
    to_warehouse_id: Id | None = None
    partner_id: Id | None = None
    occurred_at: UtcDatetime | None = None
    reason: str | None = Field(default=None, max_length=256)
    remark: str = Field(default="", max_length=2000)
    lines: list[DocumentLineIn] = Field(min_length=1, max_length=500)
    post: bool = True


class DocumentPatch(Strict):
    """Replace fields of a draft (lines are replaced as a whole when given)."""

    warehouse_id: Id | None = None
    to_warehouse_id: Id | None = None
    partner_id: Id | None = None
    occurred_at: UtcDatetime | None = None
    reason: str | None = Field(default=None, max_length=256)
    remark: str | None = Field(default=None, max_length=2000)
    lines: list[DocumentLineIn] | None = Field(default=None, min_length=1, max_length=500)


class DocumentLineOut(BaseModel):
    line_no: int
    product_id: int
    qty: int
    unit_price: float | None
    counted_qty: int | None
    expected_qty: int | None


class DocumentOut(BaseModel):
    id: str
    number: str | None
    type: str
    status: str
    warehouse_id: int
    to_warehouse_id: int | None
    partner_id: int | None
    occurred_at: UtcDatetime
    created_at: UtcDatetime
    posted_at: UtcDatetime | None
    voided_at: UtcDatetime | None
    origin_device: str | None
    reason: str | None
    remark: str
    flagged: bool
    version: int
    lines: list[DocumentLineOut]


class ReviewOut(BaseModel):
    id: int
    reason: str
    document_id: str
    movement_seq: int | None
    product_id: int
    warehouse_id: int
    detail: str
    origin_device: str | None
    created_at: UtcDatetime
    resolved_at: UtcDatetime | None


class ChangeOut(BaseModel):
    seq: int
    entity: str
    id: str
    op: str
    paths: list[str]


class ChangesOut(BaseModel):
    results: list[ChangeOut]
    last_seq: int


class TokenDigestOut(BaseModel):
    sha256: str
    role: str
    warehouse_id: int | None
    expires_at: UtcDatetime | None


class TokenDigestsOut(BaseModel):
    digests: list[TokenDigestOut]
    generated_at: UtcDatetime


class TokenOut(BaseModel):
    """An API credential as an admin sees it (never the secret, never its digest)."""

    id: int
    name: str
    kind: str
    role: str
    user_id: int | None
    warehouse_id: int | None
    created_at: UtcDatetime
    expires_at: UtcDatetime | None
    revoked_at: UtcDatetime | None


class RevokedOut(BaseModel):
    revoked: list[TokenOut]


class MeOut(BaseModel):
    name: str
    role: str
    kind: str
    user_id: int | None
    username: str | None
    warehouse_id: int | None


# ---- list envelopes (documentation of the responses) ----------------------------------------
class Page(BaseModel, Generic[T]):
    """A page of a list: `next` is the relative URL of the next page (also in `Link`)."""

    results: list[T]
    next: str | None


class Results(BaseModel, Generic[T]):
    results: list[T]


class SummaryOut(BaseModel):
    from_: str = Field(alias="from")
    to: str
    results: list[SummaryRow]


class Problem(BaseModel):
    """`application/problem+json` (RFC 9457) with field-level errors."""

    type: str
    title: str
    status: int
    detail: str
    errors: list[dict[str, str]]
