"""Helpers for the inventory-app API tests (no tests here)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
from fastapi.testclient import TestClient
from inventory_app.db import Database
from inventory_app.main import create_app
from inventory_app.services import auth, masters, stock
from inventory_app.settings import Settings

from tests.inventory_app.openapi_recorder import StatusRecorder

PROBLEM = "application/problem+json"


@dataclass
class World:
    url: str
    db: Database
    client: TestClient
    tokens: dict[str, str]
    central: int
    shop: int
    shop2: int
    supplier: int
    customer: int
    products: list[int] = field(default_factory=list)

    def headers(
        self, role: str = "clerk", key: str | None = "auto", **extra: str
    ) -> dict[str, str]:
        h = {"Authorization": f"Bearer {self.tokens[role]}"} if role else {}
        if key == "auto":
            key = str(uuid.uuid4())
        if key is not None:
            h["Idempotency-Key"] = key
        h.update(extra)
        return h

    def get(self, path: str, role: str = "clerk", **kw: Any) -> httpx.Response:
        headers = kw.pop("headers", {})
        return self.client.get(path, headers={**self.headers(role, None), **headers}, **kw)

    def post(
        self, path: str, body: Any, role: str = "clerk", key: str | None = "auto", **extra: str
    ) -> httpx.Response:
        return self.client.post(path, json=body, headers=self.headers(role, key, **extra))

    def doc(
        self,
        type: str,
        wh: int,
        lines: list[dict[str, Any]],
        role: str = "clerk",
        key: str | None = "auto",
        extra_headers: dict[str, str] | None = None,
        **fields: Any,
    ) -> httpx.Response:
        body = {"id": str(uuid.uuid4()), "type": type, "warehouse_id": wh, "lines": lines, **fields}
        return self.post("/api/documents", body, role, key, **(extra_headers or {}))

    def balance(self, wh: int, product: int) -> int:
        with self.db.read() as s:
            return stock.get_balance(s, wh, product).qty

    def close(self) -> None:
        self.client.close()
        self.db.dispose()


def seed_world(db: Database) -> dict[str, Any]:
    with db.write() as s:
        central = masters.create_warehouse(s, "CENTRAL", "Central", "central")
        shop = masters.create_warehouse(s, "SHOP-1", "Shop 1", "edge")
        shop2 = masters.create_warehouse(s, "SHOP-2", "Shop 2", "edge")
        supplier = masters.create_partner(s, "supplier", "Acme")
        customer = masters.create_partner(s, "customer", "Walk-in")
        cat = masters.create_category(s, "Drinks")
        products = [
            masters.create_product(s, sku=f"P{i}", name=f"Product {i}", category_id=cat.id).id
            for i in range(5)
        ]
        tokens = {
            role: auth.create_token(s, role=role, name=f"test-{role}")
            for role in ("admin", "clerk", "viewer")
        }
        tokens["device"] = auth.create_token(
            s, role="device", name="edge-shop-1", warehouse_id=shop.id
        )
        tokens["device2"] = auth.create_token(
            s, role="device", name="edge-shop-2", warehouse_id=shop2.id
        )
        return {
            "central": central.id,
            "shop": shop.id,
            "shop2": shop2.id,
            "supplier": supplier.id,
            "customer": customer.id,
            "products": products,
            "tokens": tokens,
        }


def make_world(url: str) -> World:
    """Seed an already migrated database and wrap it in a TestClient."""
    db = Database(url)
    seeded = seed_world(db)
    app = create_app(Settings(database_url=url, log_requests=False), db=db)
    client = TestClient(StatusRecorder(app), raise_server_exceptions=False)
    return World(url=url, db=db, client=client, **seeded)
