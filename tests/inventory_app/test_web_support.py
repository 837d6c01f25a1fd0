"""Helpers shared by the web UI tests (no tests here): a small seed and form-post helpers."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Protocol

import httpx
from inventory_app.db import Database
from inventory_app.schemas import DocumentIn, DocumentLineIn
from inventory_app.services import auth, documents, masters, stock

PASSWORDS = {"admin": "pw-admin-1", "clerk": "pw-clerk-1", "viewer": "pw-viewer-1"}
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')
CLIENT_ID_RE = re.compile(r'name="client_id" value="([^"]*)"')
CSRF_COOKIE = "inventory_csrf"


class Cookies(Protocol):
    @property
    def cookies(self) -> httpx.Cookies: ...


@dataclass(frozen=True)
class Seed:
    central: int
    shop: int
    supplier: int
    customer: int
    tea: int
    cup: int
    pen: int


def seed_small(db: Database) -> Seed:
    """Users of every role, two warehouses, three products, opening stock, one low-stock alert."""
    with db.write() as s:
        for role, password in PASSWORDS.items():
            auth.create_user(s, role, password, role)
        central = masters.create_warehouse(s, code="CEN", name="Central", kind="central")
        shop = masters.create_warehouse(s, code="SHOP1", name="Shop One", kind="edge")
        supplier = masters.create_partner(s, type="supplier", name="Acme Supply")
        customer = masters.create_partner(s, type="customer", name="Walk-in customer")
        tea = masters.create_product(
            s, sku="TEA-01", name="Green tea", unit="box", sale_price=12.5, purchase_price=8
        )
        cup = masters.create_product(s, sku="CUP-01", name="Paper cup", sale_price=3)
        pen = masters.create_product(s, sku="PEN-01", name="Ball pen", sale_price=2)
        masters.set_stock_policy(s, cup.id, shop.id, 5, 50)
        documents.create_document(
            s,
            DocumentIn(
                id=uuid.uuid4(),
                type="purchase_receipt",
                warehouse_id=shop.id,
                partner_id=supplier.id,
                lines=[
                    DocumentLineIn(product_id=tea.id, qty=100, unit_price=8),
                    DocumentLineIn(product_id=cup.id, qty=2, unit_price=1),
                    DocumentLineIn(product_id=pen.id, qty=40, unit_price=1),
                ],
            ),
        )
        documents.create_document(
            s,
            DocumentIn(
                id=uuid.uuid4(),
                type="purchase_receipt",
                warehouse_id=central.id,
                lines=[DocumentLineIn(product_id=tea.id, qty=500)],
            ),
        )
        return Seed(central.id, shop.id, supplier.id, customer.id, tea.id, cup.id, pen.id)


def balance(db: Database, warehouse_id: int, product_id: int) -> int:
    with db.read() as s:
        return stock.get_balance(s, warehouse_id, product_id).qty


def csrf_of(html: str) -> str:
    """The CSRF field of the sign-in page (the only page that carries one in its HTML)."""
    found = CSRF_RE.search(html)
    assert found, "page has no CSRF field"
    return found.group(1)


def session_csrf(client: Cookies) -> str:
    """The session's CSRF token, as the page's script reads it (the ``inventory_csrf`` cookie)."""
    token = client.cookies.get(CSRF_COOKIE)
    assert token, "no CSRF cookie: not signed in?"
    return str(token)


def client_id_field(html: str) -> str:
    """The value of a form's client_id field (empty on shared pages: the script draws one)."""
    found = CLIENT_ID_RE.search(html)
    assert found, "form has no client_id field"
    return found.group(1)


def new_client_id() -> str:
    """A document's client UUID, drawn as the page's script does."""
    return str(uuid.uuid4())
