"""Document semantics: oversell vs flagged edge replay, stocktake, void, transfer, reports,
low-stock alerts, rebuild == projection."""

from __future__ import annotations

import datetime as dt

from inventory_app.services.stock import compare_projection, rebuild_balances

from tests.inventory_app.api_support import PROBLEM, World


def _stock(world: World, wh: int, qty: int, product_index: int = 0) -> None:
    r = world.doc(
        "purchase_receipt",
        wh,
        [{"product_id": world.products[product_index], "qty": qty}],
        partner_id=world.supplier,
    )
    assert r.status_code == 201, r.text


def test_online_oversell_is_409(world: World) -> None:
    _stock(world, world.shop, 2)
    r = world.doc("sales_issue", world.shop, [{"product_id": world.products[0], "qty": 3}])
    assert r.status_code == 409
    assert r.headers["content-type"] == PROBLEM
    body = r.json()
    assert body["type"].endswith("/insufficient-stock")
    assert body["shortfall"] == 1 and body["product"] == world.products[0]
    assert world.balance(world.shop, world.products[0]) == 2
    # a device token alone (no replay header) is still an online request
    r = world.doc(
        "sales_issue", world.shop, [{"product_id": world.products[0], "qty": 3}], role="device"
    )
    assert r.status_code == 409


def test_edge_replayed_sale_is_accepted_and_flagged(world: World) -> None:
    _stock(world, world.shop, 2)
    queued = "2026-01-02T03:04:05Z"
    r = world.doc(
        "sales_issue",
        world.shop,
        [{"product_id": world.products[0], "qty": 3}],
        extra_headers={
            "X-Edge-Device-Authorization": f"Bearer {world.tokens['device']}",
            "X-Edge-Queued-At": queued,
        },
    )
    assert r.status_code == 201, r.text
    doc = r.json()
    assert doc["flagged"] is True
    assert doc["origin_device"] == "edge-shop-1"
    assert doc["occurred_at"] == "2026-01-02T03:04:05Z"
    assert world.balance(world.shop, world.products[0]) == -1
    reviews = world.get("/api/reviews").json()["results"]
    assert [(x["reason"], x["document_id"]) for x in reviews] == [("oversell", doc["id"])]
    ledger = world.get(f"/api/ledger?document_id={doc['id']}").json()["results"]
    assert ledger[0]["negative_after"] and ledger[0]["edge_replay"] and ledger[0]["late"]
    assert ledger[0]["balance_after"] == -1


def test_invalid_device_replay_header_means_online(world: World) -> None:
    _stock(world, world.shop, 1)
    r = world.doc(
        "sales_issue",
        world.shop,
        [{"product_id": world.products[0], "qty": 3}],
        extra_headers={"X-Edge-Device-Authorization": f"Bearer {world.tokens['clerk']}"},
    )
    assert r.status_code == 409
    r = world.doc(
        "sales_issue",
        world.shop,
        [{"product_id": world.products[0], "qty": 3}],
        extra_headers={"X-Edge-Device-Authorization": f"Bearer {world.tokens['device2']}"},
    )
    assert r.status_code == 403  # device of another shop


def test_edge_replayed_transfer_is_still_rejected(world: World) -> None:
    r = world.doc(
        "transfer",
        world.shop,
        [{"product_id": world.products[0], "qty": 1}],
        to_warehouse_id=world.central,
        extra_headers={"X-Edge-Device-Authorization": f"Bearer {world.tokens['device']}"},
    )
    assert r.status_code == 409


def test_stocktake_posts_the_difference_and_flags_outdated_counts(world: World) -> None:
    p = world.products[0]
    _stock(world, world.shop, 10)
    # counted 8 while the clerk saw 10: −2, not outdated
    r = world.doc(
        "stocktake", world.shop, [{"product_id": p, "counted_qty": 8, "expected_qty": 10}]
    )
    assert r.status_code == 201, r.text
    assert r.json()["flagged"] is False
    assert world.balance(world.shop, p) == 8
    # a sale happens meanwhile; a count made earlier (expected 8, counted 7) still commutes
    assert world.doc("sales_issue", world.shop, [{"product_id": p, "qty": 3}]).status_code == 201
    r = world.doc("stocktake", world.shop, [{"product_id": p, "counted_qty": 7, "expected_qty": 8}])
    assert r.status_code == 201
    assert world.balance(world.shop, p) == 4  # 8 − 3 + (7 − 8)
    assert r.json()["flagged"] is True
    reasons = [x["reason"] for x in world.get("/api/reviews").json()["results"]]
    assert reasons == ["outdated_count"]
    entry = world.get(f"/api/ledger?document_id={r.json()['id']}").json()["results"][0]
    assert entry["delta"] == -1 and entry["outdated_count"] is True


def test_void_posts_reversing_movements(world: World) -> None:
    p = world.products[0]
    _stock(world, world.central, 10)
    r = world.doc(
        "transfer", world.central, [{"product_id": p, "qty": 4}], to_warehouse_id=world.shop
    )
    assert r.status_code == 201
    doc_id = r.json()["id"]
    assert (world.balance(world.central, p), world.balance(world.shop, p)) == (6, 4)
    v = world.post(f"/api/documents/{doc_id}/void", None)
    assert v.status_code == 200 and v.json()["status"] == "voided"
    assert v.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert (world.balance(world.central, p), world.balance(world.shop, p)) == (10, 0)
    ledger = world.get(f"/api/ledger?document_id={doc_id}").json()["results"]
    assert [(m["kind"], m["delta"]) for m in ledger] == [
        ("post", -4),
        ("post", 4),
        ("void", 4),
        ("void", -4),
    ]
    # voiding twice is a no-op; viewers cannot void
    assert world.post(f"/api/documents/{doc_id}/void", None).status_code == 200
    assert len(world.get(f"/api/ledger?document_id={doc_id}").json()["results"]) == 4
    assert world.post(f"/api/documents/{doc_id}/void", None, role="viewer").status_code == 403


def test_void_that_would_go_negative_is_409(world: World) -> None:
    p = world.products[0]
    r = world.doc("purchase_receipt", world.shop, [{"product_id": p, "qty": 5}])
    assert world.doc("sales_issue", world.shop, [{"product_id": p, "qty": 4}]).status_code == 201
    v = world.post(f"/api/documents/{r.json()['id']}/void", None)
    assert v.status_code == 409
    assert world.balance(world.shop, p) == 1


def test_every_document_type_moves_stock(world: World) -> None:
    p = world.products[1]
    wh = world.central
    steps = [
        ("purchase_receipt", {"partner_id": world.supplier}, 10, 10),
        ("purchase_return", {"partner_id": world.supplier}, 2, 8),
        ("sales_issue", {"partner_id": world.customer}, 3, 5),
        ("sales_return", {"partner_id": world.customer}, 1, 6),
        ("other_in", {"reason": "found in back room"}, 4, 10),
        ("other_out", {"reason": "damaged"}, 5, 5),
    ]
    for doc_type, extra, qty, expected in steps:
        r = world.doc(doc_type, wh, [{"product_id": p, "qty": qty, "unit_price": 2.5}], **extra)
        assert r.status_code == 201, (doc_type, r.text)
        assert world.balance(wh, p) == expected, doc_type
    docs = world.get("/api/documents?limit=500").json()["results"]
    numbers = [d["number"] for d in docs]
    assert len(set(numbers)) == len(numbers) == 6


def test_low_stock_alerts_and_reports(world: World) -> None:
    p = world.products[2]
    r = world.post(
        "/api/stock-policies",
        {"product_id": p, "warehouse_id": world.shop, "min_qty": 5, "max_qty": 20},
    )
    assert r.status_code == 200, r.text
    alerts = world.get(f"/api/alerts/low-stock?warehouse_id={world.shop}").json()["results"]
    assert [(a["product_id"], a["qty"], a["suggested_order"]) for a in alerts] == [(p, 0, 20)]
    day1 = dt.datetime(2026, 3, 1, 10, tzinfo=dt.UTC)
    day2 = day1 + dt.timedelta(days=1)
    world.doc(
        "purchase_receipt", world.shop, [{"product_id": p, "qty": 8}], occurred_at=day1.isoformat()
    )
    world.doc(
        "sales_issue", world.shop, [{"product_id": p, "qty": 2}], occurred_at=day2.isoformat()
    )
    world.doc(
        "purchase_receipt", world.shop, [{"product_id": p, "qty": 1}], occurred_at=day2.isoformat()
    )
    assert world.get("/api/alerts/low-stock").json()["results"] == []
    stock = world.get(f"/api/stock?warehouse_id={world.shop}").json()["results"]
    assert [(b["product_id"], b["qty"], b["min_qty"], b["max_qty"]) for b in stock] == [
        (p, 7, 5, 20)
    ]
    summary = world.get(
        f"/api/reports/summary?from=2026-03-02&to=2026-03-03&warehouse_id={world.shop}"
    ).json()
    assert [
        (r["opening"], r["qty_in"], r["qty_out"], r["closing"]) for r in summary["results"]
    ] == [(8, 1, 2, 7)]


def test_rebuild_equals_projection(world: World) -> None:
    p0, p1 = world.products[0], world.products[1]
    _stock(world, world.central, 20)
    world.doc("transfer", world.central, [{"product_id": p0, "qty": 7}], to_warehouse_id=world.shop)
    world.doc("sales_issue", world.shop, [{"product_id": p0, "qty": 2}])
    world.doc("other_in", world.shop2, [{"product_id": p1, "qty": 3}], reason="gift")
    with world.db.read() as s:
        assert compare_projection(s) == []
    # corrupt the projection, then rebuild it from the ledger
    from inventory_app.models import StockBalance

    with world.db.write() as s:
        s.get(StockBalance, (world.shop, p0)).qty = 99  # type: ignore[union-attr]
    with world.db.write() as s:
        report = rebuild_balances(s)
    assert report.matched is False and report.differences[0]["projection_qty"] == 99
    assert world.balance(world.shop, p0) == 5
    with world.db.write() as s:
        assert rebuild_balances(s).matched is True
