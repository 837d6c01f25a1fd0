"""A new document's checks read the database in one statement (`services/document_checks.py`):
does its id exist, is its warehouse live, which of its products are live, and their balances.
These tests hold each part of that statement to what the separate reads used to answer, on
both databases."""

from __future__ import annotations

import uuid
from typing import Any

from inventory_app.models import Product, Warehouse, utcnow
from sqlalchemy import update

from tests.inventory_app.api_support import World


def _fields(response: Any) -> list[str]:
    assert response.status_code == 422, response.text
    return [error["field"] for error in response.json()["errors"]]


def test_unknown_warehouse_and_unknown_product_are_both_reported(world: World) -> None:
    # no warehouse row: the statement returns nothing and the products are read on their own
    r = world.doc("purchase_receipt", 999_999, [{"product_id": world.products[0], "qty": 1},
                                                {"product_id": 999_998, "qty": 1}])
    assert _fields(r) == ["warehouse_id", "lines[1].product_id"]


def test_inactive_and_deleted_warehouses_are_refused(world: World) -> None:
    with world.db.write() as s:
        s.execute(update(Warehouse).where(Warehouse.id == world.shop).values(active=False))
        s.execute(update(Warehouse).where(Warehouse.id == world.shop2).values(deleted_at=utcnow()))
    line = [{"product_id": world.products[0], "qty": 1}]
    inactive = world.doc("purchase_receipt", world.shop, line)
    assert _fields(inactive) == ["warehouse_id"]
    assert "inactive" in inactive.json()["errors"][0]["message"]
    deleted = world.doc("purchase_receipt", world.shop2, line)
    assert _fields(deleted) == ["warehouse_id"]
    assert "unknown warehouse" in deleted.json()["errors"][0]["message"]


def test_a_deleted_product_is_unknown_and_a_live_one_is_not(world: World) -> None:
    gone, live = world.products[0], world.products[1]
    with world.db.write() as s:
        s.execute(update(Product).where(Product.id == gone).values(deleted_at=utcnow()))
    r = world.doc("purchase_receipt", world.shop, [{"product_id": live, "qty": 1},
                                                   {"product_id": gone, "qty": 1}])
    assert _fields(r) == ["lines[1].product_id"]
    assert world.balance(world.shop, live) == 0  # nothing of the refused document was applied


def test_an_existing_id_is_answered_before_the_checks(world: World) -> None:
    doc_id = str(uuid.uuid4())
    line = [{"product_id": world.products[0], "qty": 4}]
    first = world.doc("purchase_receipt", world.shop, line, id=doc_id)
    assert first.status_code == 201, first.text
    with world.db.write() as s:  # the warehouse is closed after the document was stored
        s.execute(update(Warehouse).where(Warehouse.id == world.shop).values(active=False))
    again = world.doc("purchase_receipt", world.shop, line, id=doc_id)
    assert again.status_code == 200, again.text
    assert again.json()["id"] == doc_id and again.json()["number"] == first.json()["number"]
    other = world.doc("sales_issue", world.shop, line, id=doc_id)
    assert other.status_code == 409 and other.json()["type"].endswith("/document-exists")
    assert world.balance(world.shop, world.products[0]) == 4


def test_balances_read_with_the_checks_decide_the_sale(world: World) -> None:
    stocked, empty = world.products[0], world.products[1]
    assert world.doc("purchase_receipt", world.shop, [{"product_id": stocked, "qty": 5}]
                     ).status_code == 201
    # the same product twice: the check runs on the running balance (5 - 3 - 3 < 0)
    r = world.doc("sales_issue", world.shop, [{"product_id": stocked, "qty": 3},
                                              {"product_id": stocked, "qty": 3}])
    assert r.status_code == 409 and r.json()["type"].endswith("/insufficient-stock"), r.text
    # a product without any balance row in this warehouse has 0
    r = world.doc("sales_issue", world.shop, [{"product_id": empty, "qty": 1}])
    assert r.status_code == 409, r.text
    assert r.json()["shortfalls"] == [{"product_id": empty, "warehouse_id": world.shop,
                                       "available": 0, "requested": 1}]
    # a balance in another warehouse does not count here
    assert world.doc("purchase_receipt", world.shop2, [{"product_id": empty, "qty": 9}]
                     ).status_code == 201
    assert world.doc("sales_issue", world.shop, [{"product_id": empty, "qty": 1}]
                     ).status_code == 409
    ok = world.doc("sales_issue", world.shop, [{"product_id": stocked, "qty": 2},
                                               {"product_id": stocked, "qty": 3}])
    assert ok.status_code == 201, ok.text
    assert [m["balance_after"] for m in world.get(
        f"/api/ledger?warehouse_id={world.shop}&product_id={stocked}").json()["results"]
    ][-2:] == [3, 0]
    assert world.balance(world.shop, stocked) == 0
    assert world.balance(world.shop2, empty) == 9
