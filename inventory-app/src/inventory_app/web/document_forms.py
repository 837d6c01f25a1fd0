"""Forms that post documents: purchase receipt, sale, transfer and stocktake.

Without JavaScript these are plain form posts answered with POST/redirect/GET and a flash
message (or the form again, status 422, with the problems marked). With JavaScript
(``static/app.js``) the same forms are sent to ``POST /api/documents`` instead.

The forms are shared pages (an edge cache serves one copy to every clerk, offline too), so the
document's client UUID is not in the HTML: the script draws a fresh one per document, so
submitting the same document twice cannot post it twice. A post without one (no JavaScript)
gets its UUID from the request's ``Idempotency-Key`` when it has one (an edge cache adds one to
every write it forwards or queues, and keeps it for the replay), so an edge replaying a queued
form post cannot post it twice either; otherwise a new one.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Final

from fastapi import APIRouter
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from inventory_app.api.deps import edge_replay
from inventory_app.i18n import Translator
from inventory_app.models import Partner, Product, StockBalance, Warehouse
from inventory_app.problems import ProblemError
from inventory_app.schemas import MAX_QTY, DocumentIn, DocumentLineIn
from inventory_app.services import documents
from inventory_app.web.csrf import CSRF_FIELD, CSRF_HEADER, post_allowed
from inventory_app.web.forms import FormData, read_form
from inventory_app.web.locale import translator
from inventory_app.web.navigation import error_page, login_redirect, page, signed_in
from inventory_app.web.rendering import (
    PER_USER_CACHE_CONTROL,
    POSTED_PARAM,
    apply_ui_headers,
    href_for,
)
from inventory_app.web.session import WebUser, current_user, database
from inventory_app.web.views import partner_view, product_view, warehouse_view

router = APIRouter(include_in_schema=False)

BLANK_LINES: Final = 3
MAX_LINES: Final = 200
STOCKTAKE_ROWS: Final = 100
MAX_PRICE: Final = 1e10
# Names the document UUIDs derived from an Idempotency-Key (uuid5 of user and key).
FORM_POST_NAMESPACE: Final = uuid.UUID("5b0f7c1e-4a8f-4d52-9a43-1f3c2f0b9e61")


@dataclass(frozen=True)
class FormKind:
    """One kind of document form."""

    slug: str
    doc_type: str
    title: str
    warehouse_label: str
    submit: str
    partner_label: str = ""
    partner_types: tuple[str, ...] = ()
    has_price: bool = False
    has_to_warehouse: bool = False

    @property
    def action(self) -> str:
        return f"/documents/{self.slug}"


FORM_KINDS: Final = {
    kind.slug: kind
    for kind in (
        FormKind(
            "purchase", "purchase_receipt", "form.purchase.title", "form.purchase.warehouse",
            "form.purchase.submit", "form.purchase.partner", ("supplier", "both"), has_price=True,
        ),
        FormKind(
            "sale", "sales_issue", "form.sale.title", "form.sale.warehouse", "form.sale.submit",
            "form.sale.partner", ("customer", "both"), has_price=True,
        ),
        FormKind(
            "transfer", "transfer", "form.transfer.title", "form.transfer.warehouse",
            "form.transfer.submit", has_to_warehouse=True,
        ),
    )
}


class FormProblems:
    """Localised problems of a submitted form: per field (to mark inputs) and as a list."""

    def __init__(self, t: Translator) -> None:
        self.t = t
        self.fields: dict[str, str] = {}
        self.messages: list[str] = []

    def add(self, field: str, key: str, line: int | None = None, **params: object) -> None:
        message = self.t(key, **params)
        self.fields.setdefault(field, message)
        if line is not None:
            message = self.t("error.line", n=line + 1, message=message)
        self.messages.append(message)

    def add_text(self, field: str, text: str) -> None:
        if field:
            self.fields.setdefault(field, text)
        self.messages.append(text)

    def __bool__(self) -> bool:
        return bool(self.messages)


def parse_int(text: str) -> int | None:
    try:
        return int(text.strip())
    except ValueError:
        return None


def parse_price(text: str) -> float | None:
    try:
        value = float(text.strip().replace(",", "."))
    except ValueError:
        return None
    return value if 0 <= value <= MAX_PRICE else None


def fresh_client_id() -> str:
    return str(uuid.uuid4())


def client_id_of(request: Request, user: WebUser, form: FormData) -> str:
    """The document's client UUID: the form's, else one derived from the Idempotency-Key (the
    same for every replay of one queued post), else a new one."""
    try:
        return str(uuid.UUID(form.get("client_id")))
    except ValueError:
        pass
    key = request.headers.get("idempotency-key", "").strip()
    if key:
        who = user.principal.user_id if user.principal.user_id is not None else user.token
        return str(uuid.uuid5(FORM_POST_NAMESPACE, f"{who}:{key[:200]}"))
    return fresh_client_id()


def choice(
    problems: FormProblems, field: str, text: str, known: set[int], unknown_key: str,
    required: bool = True,
) -> int | None:
    if not text:
        if required:
            problems.add(field, "error.required")
        return None
    value = parse_int(text)
    if value is None or value not in known:
        problems.add(field, unknown_key)
        return None
    return value


def masters(session: Session) -> dict[str, Any]:
    warehouses = session.scalars(
        select(Warehouse)
        .where(Warehouse.deleted_at.is_(None), Warehouse.active.is_(True))
        .order_by(Warehouse.id)
    ).all()
    products = session.scalars(
        select(Product)
        .where(Product.deleted_at.is_(None), Product.active.is_(True))
        .order_by(Product.sku)
    ).all()
    partners = session.scalars(
        select(Partner).where(Partner.deleted_at.is_(None)).order_by(Partner.name)
    ).all()
    return {
        "warehouses": [warehouse_view(w) for w in warehouses],
        "products": [product_view(p) for p in products],
        "partners": [partner_view(p) for p in partners],
    }


def problem_messages(
    problems: FormProblems, error: ProblemError, product_names: dict[int, str]
) -> None:
    """Show a problem raised by the services, in the user's language where we know it."""
    t = problems.t
    shortfalls = error.extra.get("shortfalls") if error.slug == "insufficient-stock" else None
    if isinstance(shortfalls, list) and shortfalls:
        for item in shortfalls:
            name = product_names.get(int(item["product_id"]), str(item["product_id"]))
            problems.add_text(
                "",
                t("error.insufficient", product=name, available=item["available"],
                  requested=item["requested"]),
            )
        return
    if not error.errors:
        problems.add_text("", t("error.rejected", detail=error.detail or error.title))
    for item in error.errors:
        field = item.field.replace("[", ".").replace("]", "")
        problems.add_text(field, t("error.rejected", detail=item.message))


def post_document(
    request: Request, user: WebUser, data: DocumentIn, problems: FormProblems,
    product_names: dict[int, str], redirect_to: dict[str, object] | None = None,
) -> Response | None:
    """Post through the documents service; a redirect on success (to the form again, with
    ``redirect_to`` parameters and ``posted=<number>``), None when it was refused."""
    edge = edge_replay(request)  # replayed by an edge: accepted and flagged, like the API
    try:
        with database(request).write() as session:
            doc, _created = documents.create_document(session, data, user.principal, edge)
            number = doc.number or doc.id
    except ProblemError as error:
        problem_messages(problems, error, product_names)
        return None
    params = dict(redirect_to or {})
    params[POSTED_PARAM] = str(number)
    target = href_for(translator(request).locale)(request.url.path, **params)
    response = RedirectResponse(target, status_code=303)
    apply_ui_headers(request, response, PER_USER_CACHE_CONTROL)
    return response


def check_post(request: Request, user: WebUser, form: FormData) -> Response | None:
    """CSRF and role checks of a form post (an error page, or None when allowed)."""
    presented = form.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER, "")
    if not post_allowed(request, user.token, presented):
        return error_page(request, user, 403, "csrf")
    if not user.can_post:
        return error_page(request, user, 403, "forbidden")
    return None


# ---- purchase receipt, sale, transfer ---------------------------------------------------------
def blank_values() -> dict[str, Any]:
    return {
        "client_id": "",  # drawn by the script; a shared page holds no per-document value
        "warehouse_id": "",
        "to_warehouse_id": "",
        "partner_id": "",
        "lines": [{"product_id": "", "qty": "", "unit_price": ""} for _ in range(BLANK_LINES)],
    }


def render_form(
    request: Request, user: WebUser, kind: FormKind, values: dict[str, Any],
    problems: FormProblems | None = None, status_code: int = 200,
) -> Response:
    with database(request).read() as session:
        lists = masters(session)
    if kind.partner_types:
        lists["partners"] = [p for p in lists["partners"] if p["type"] in kind.partner_types]
    return page(
        request, user, "document_form.html", status_code,
        form=kind, values=values,
        errors=problems.messages if problems else [],
        field_errors=problems.fields if problems else {},
        **lists,
    )


@router.get("/documents/{slug}")
def document_form(slug: str, request: Request) -> Response:
    user = signed_in(request)
    if not isinstance(user, WebUser):
        return user
    if slug == "stocktake":
        return stocktake_form(request, user)
    kind = FORM_KINDS.get(slug)
    if kind is None:
        return error_page(request, user, 404, "not_found")
    if not user.can_open_forms:
        return error_page(request, user, 403, "forbidden")
    values = blank_values()
    wanted = request.query_params.get("warehouse_id", "")
    values["warehouse_id"] = wanted if wanted.isdigit() else ""
    return render_form(request, user, kind, values)


@router.post("/documents/{slug}")
async def submit_document_form(slug: str, request: Request) -> Response:
    form = await read_form(request)
    return await run_in_threadpool(_submit, slug, request, form)


def _submit(slug: str, request: Request, form: FormData) -> Response:
    user = current_user(request)  # a browser session: form posts are not for bearer tokens
    if user is None:
        return login_redirect(request)
    refused = check_post(request, user, form)
    if refused is not None:
        return refused
    if slug == "stocktake":
        return submit_stocktake(request, user, form)
    kind = FORM_KINDS.get(slug)
    if kind is None:
        return error_page(request, user, 404, "not_found")
    t = translator(request)
    problems = FormProblems(t)
    with database(request).read() as session:
        lists = masters(session)
    warehouses = {int(w["id"]) for w in lists["warehouses"]}
    products = {int(p["id"]): str(p["name"]) for p in lists["products"]}
    partners = {int(p["id"]) for p in lists["partners"] if p["type"] in kind.partner_types}

    values: dict[str, Any] = {
        "client_id": client_id_of(request, user, form),
        "warehouse_id": form.get("warehouse_id"),
        "to_warehouse_id": form.get("to_warehouse_id"),
        "partner_id": form.get("partner_id"),
        "lines": [],
    }
    warehouse_id = choice(
        problems, "warehouse_id", values["warehouse_id"], warehouses, "error.unknown_warehouse"
    )
    to_warehouse_id = None
    if kind.has_to_warehouse:
        to_warehouse_id = choice(
            problems, "to_warehouse_id", values["to_warehouse_id"], warehouses,
            "error.unknown_warehouse",
        )
        if to_warehouse_id is not None and to_warehouse_id == warehouse_id:
            problems.add("to_warehouse_id", "error.same_warehouse")
    partner_id = None
    if kind.partner_types:
        partner_id = choice(
            problems, "partner_id", values["partner_id"], partners, "error.unknown_partner",
            required=False,
        )

    product_texts = form.getlist("product_id")[:MAX_LINES]
    qty_texts = form.getlist("qty")
    price_texts = form.getlist("unit_price")
    lines: list[DocumentLineIn] = []
    for i, product_text in enumerate(product_texts):
        qty_text = qty_texts[i] if i < len(qty_texts) else ""
        price_text = price_texts[i] if i < len(price_texts) else ""
        values["lines"].append(
            {"product_id": product_text, "qty": qty_text, "unit_price": price_text}
        )
        if not product_text and not qty_text:
            continue
        row_ok = True
        product_id = parse_int(product_text) if product_text else None
        if not product_text:
            problems.add(f"lines.{i}.product_id", "error.required", line=i)
            row_ok = False
        elif product_id is None or product_id not in products:
            problems.add(f"lines.{i}.product_id", "error.unknown_product", line=i)
            row_ok = False
        qty = parse_int(qty_text)
        if not qty_text:
            problems.add(f"lines.{i}.qty", "error.required", line=i)
            row_ok = False
        elif qty is None:
            problems.add(f"lines.{i}.qty", "error.not_a_number", line=i)
            row_ok = False
        elif not 0 < qty <= MAX_QTY:
            problems.add(f"lines.{i}.qty", "error.positive", line=i)
            row_ok = False
        price = None
        if kind.has_price and price_text:
            price = parse_price(price_text)
            if price is None:
                problems.add(f"lines.{i}.unit_price", "error.bad_price", line=i)
                row_ok = False
        if row_ok and product_id is not None:
            lines.append(DocumentLineIn(product_id=product_id, qty=qty, unit_price=price))
    while len(values["lines"]) < BLANK_LINES:
        values["lines"].append({"product_id": "", "qty": "", "unit_price": ""})
    if not lines and not problems:
        problems.add("lines", "error.no_lines")
    if problems or warehouse_id is None:
        return render_form(request, user, kind, values, problems, 422)
    try:
        data = DocumentIn(
            id=uuid.UUID(values["client_id"]), type=kind.doc_type, warehouse_id=warehouse_id,
            to_warehouse_id=to_warehouse_id, partner_id=partner_id, lines=lines, post=True,
        )
    except ValidationError as error:
        for item in error.errors():
            problems.add_text("", t("error.rejected", detail=item.get("msg", "")))
        return render_form(request, user, kind, values, problems, 422)
    done = post_document(request, user, data, problems, products)
    if done is not None:
        return done
    return render_form(request, user, kind, values, problems, 422)


# ---- stocktake --------------------------------------------------------------------------------
def stocktake_rows(
    session: Session, warehouse_id: int, q: str, counted: dict[int, str] | None = None
) -> list[dict[str, Any]]:
    """Products with a balance in the warehouse, expected quantity = current balance."""
    stmt = (
        select(Product, StockBalance.qty)
        .join(StockBalance, StockBalance.product_id == Product.id)
        .where(StockBalance.warehouse_id == warehouse_id, Product.deleted_at.is_(None))
        .order_by(Product.sku)
        .limit(STOCKTAKE_ROWS)
    )
    if q:
        like = f"%{q}%"
        stmt = stmt.where((Product.name.ilike(like)) | (Product.sku.ilike(like)))
    rows = []
    for product, qty in session.execute(stmt).all():
        rows.append(
            {
                "product_id": str(product.id),
                "sku": product.sku,
                "product_name": product.name,
                "expected_qty": str(qty),
                "counted_qty": (counted or {}).get(product.id, ""),
            }
        )
    return rows


def stocktake_form(request: Request, user: WebUser) -> Response:
    if not user.can_open_forms:
        return error_page(request, user, 403, "forbidden")
    with database(request).read() as session:
        lists = masters(session)
        wanted = parse_int(request.query_params.get("warehouse_id", "") or "x")
        ids = [int(w["id"]) for w in lists["warehouses"]]
        warehouse_id = wanted if wanted in ids else (ids[0] if ids else None)
        q = request.query_params.get("q", "").strip()[:100]
        rows = stocktake_rows(session, warehouse_id, q) if warehouse_id is not None else []
    values = {
        "client_id": "",
        "warehouse_id": str(warehouse_id or ""),
        "lines": rows,
    }
    return page(
        request, user, "stocktake.html", values=values, q=q, errors=[], field_errors={},
        warehouses=lists["warehouses"],
    )


def submit_stocktake(request: Request, user: WebUser, form: FormData) -> Response:
    t = translator(request)
    problems = FormProblems(t)
    with database(request).read() as session:
        lists = masters(session)
    warehouses = {int(w["id"]) for w in lists["warehouses"]}
    products = {int(p["id"]): str(p["name"]) for p in lists["products"]}
    skus = {int(p["id"]): str(p["sku"]) for p in lists["products"]}
    warehouse_id = choice(
        problems, "warehouse_id", form.get("warehouse_id"), warehouses, "error.unknown_warehouse"
    )
    product_texts = form.getlist("product_id")[:MAX_LINES]
    expected_texts = form.getlist("expected_qty")
    counted_texts = form.getlist("counted_qty")
    lines: list[DocumentLineIn] = []
    rows: list[dict[str, Any]] = []
    for i, product_text in enumerate(product_texts):
        expected_text = expected_texts[i] if i < len(expected_texts) else ""
        counted_text = counted_texts[i] if i < len(counted_texts) else ""
        product_id = parse_int(product_text)
        rows.append(
            {
                "product_id": product_text,
                "sku": skus.get(product_id or -1, product_text),
                "product_name": products.get(product_id or -1, ""),
                "expected_qty": expected_text,
                "counted_qty": counted_text,
            }
        )
        if not counted_text:
            continue
        if product_id is None or product_id not in products:
            problems.add(f"lines.{i}.counted_qty", "error.unknown_product", line=i)
            continue
        counted = parse_int(counted_text)
        expected = parse_int(expected_text)
        if counted is None:
            problems.add(f"lines.{i}.counted_qty", "error.not_a_number", line=i)
        elif not 0 <= counted <= MAX_QTY:
            problems.add(f"lines.{i}.counted_qty", "error.not_negative", line=i)
        elif expected is None or abs(expected) > MAX_QTY:
            problems.add(f"lines.{i}.counted_qty", "error.no_expected", line=i)
        else:
            lines.append(
                DocumentLineIn(product_id=product_id, counted_qty=counted, expected_qty=expected)
            )
    if not lines and not problems:
        problems.add("lines", "error.no_counts")
    client_id = client_id_of(request, user, form)
    values: dict[str, Any] = {
        "client_id": client_id, "warehouse_id": form.get("warehouse_id"), "lines": rows,
    }

    def again(status_code: int) -> Response:
        return page(
            request, user, "stocktake.html", status_code, values=values, q="",
            errors=problems.messages, field_errors=problems.fields,
            warehouses=lists["warehouses"],
        )

    if problems or warehouse_id is None:
        return again(422)
    data = DocumentIn(
        id=uuid.UUID(client_id), type="stocktake", warehouse_id=warehouse_id,
        lines=lines, post=True,
    )
    done = post_document(
        request, user, data, problems, products,
        redirect_to={"warehouse_id": warehouse_id},
    )
    if done is not None:
        return done
    return again(422)
