"""Every invalid request gets a 4xx problem+json with a field-level message, never a 500."""

from __future__ import annotations

import uuid
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.inventory_app.api_support import PROBLEM, World


def _doc(world: World, **over: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "type": "purchase_receipt",
        "warehouse_id": world.central,
        "lines": [{"product_id": world.products[0], "qty": 1}],
    }
    body.update(over)
    return body


def _line(world: World, **over: Any) -> list[dict[str, Any]]:
    line: dict[str, Any] = {"product_id": world.products[0], "qty": 1}
    line.update(over)
    return [{k: v for k, v in line.items() if v is not ...}]


def check(r: Any, status: int, field: str | None = None) -> None:
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["content-type"] == PROBLEM, r.headers
    body = r.json()
    assert body["status"] == status and body["type"].startswith("https://edgelab.dev/problems/")
    assert body["title"] and body["detail"]
    if field is not None:
        fields = [e["field"] for e in body["errors"]]
        assert any(field in f for f in fields), (field, body)


def test_bad_documents(world: World) -> None:
    w = world
    cases: list[tuple[dict[str, Any], int, str]] = [
        (_doc(w, warehouse_id="abc"), 422, "warehouse_id"),
        (_doc(w, warehouse_id=10**20), 422, "warehouse_id"),
        (_doc(w, lines=_line(w, qty=0)), 422, "lines[0].qty"),
        (_doc(w, lines=_line(w, qty=-3)), 422, "lines[0].qty"),
        (_doc(w, lines=_line(w, qty=1.5)), 422, "lines[0].qty"),
        (_doc(w, lines=_line(w, qty=...)), 422, "lines[0].qty"),
        (_doc(w, lines=_line(w, product_id=999_999)), 422, "lines[0].product_id"),
        (_doc(w, lines=_line(w, product_id="x")), 422, "lines[0].product_id"),
        (_doc(w, warehouse_id=999_999), 422, "warehouse_id"),
        (_doc(w, type="transfer", to_warehouse_id=w.central), 422, "to_warehouse_id"),
        (_doc(w, type="transfer"), 422, "to_warehouse_id"),
        (_doc(w, type="transfer", to_warehouse_id=999_999), 422, "to_warehouse_id"),
        (_doc(w, to_warehouse_id=w.shop), 422, "to_warehouse_id"),
        (
            _doc(w, type="stocktake", lines=_line(w, qty=..., counted_qty=3)),
            422,
            "lines[0].expected_qty",
        ),
        (
            _doc(w, type="stocktake", lines=_line(w, qty=..., expected_qty=3)),
            422,
            "lines[0].counted_qty",
        ),
        (_doc(w, lines=_line(w, counted_qty=3, expected_qty=2)), 422, "lines[0]"),
        (_doc(w, type="other_out"), 422, "reason"),
        (_doc(w, type="other_in", reason="  "), 422, "reason"),
        (_doc(w, type="teleport"), 422, "type"),
        (_doc(w, id="not-a-uuid"), 422, "id"),
        (_doc(w, lines=[]), 422, "lines"),
        (_doc(w, partner_id=999_999), 422, "partner_id"),
        (_doc(w, partner_id=w.customer), 422, "partner_id"),
        (_doc(w, occurred_at="yesterday"), 422, "occurred_at"),
        (_doc(w, colour="red"), 422, "colour"),
        (_doc(w, remark="x" * 5000), 422, "remark"),
        (_doc(w, occurred_at="0001-01-01T00:00:00+05:00"), 422, "occurred_at"),
    ]
    for body, status, field in cases:
        check(w.post("/api/documents", body), status, field)
    # malformed JSON / wrong shapes
    headers = w.headers()
    check(
        w.client.post(
            "/api/documents",
            content=b"{not json",
            headers={**headers, "content-type": "application/json"},
        ),
        422,
    )
    check(w.client.post("/api/documents", json=[1, 2], headers=w.headers()), 422)
    check(
        w.client.post(
            "/api/documents",
            content=b"hello",
            headers={**w.headers(), "content-type": "text/plain"},
        ),
        422,
    )
    check(w.post("/api/documents", _doc(w), key="k" * 300), 400, "Idempotency-Key")
    # nothing moved
    assert w.balance(w.central, w.products[0]) == 0


def test_bad_queries_and_paths(world: World) -> None:
    w = world
    cases: list[tuple[str, int, str | None]] = [
        ("/api/products?limit=100000", 422, "limit"),
        ("/api/products?limit=0", 422, "limit"),
        ("/api/products?limit=abc", 422, "limit"),
        ("/api/products?cursor=!!!", 400, "cursor"),
        ("/api/products?cursor=eyJ4IjoxfQ", 400, "cursor"),
        ("/api/stock?cursor=eyJrIjpbMV19", 400, "cursor"),
        ("/api/ledger?cursor=eyJrIjpbInMiXX0", 400, "cursor"),
        ("/api/changes?since=-1", 422, "since"),
        ("/api/changes?since=abc", 422, "since"),
        ("/api/changes?since=0&feed=bogus", 422, "feed"),
        ("/api/changes?since=0&limit=5000", 422, "limit"),
        ("/api/products/abc", 422, "ident"),
        ("/api/products/0", 422, "ident"),
        ("/api/products/99999999999", 422, "ident"),
        ("/api/products/999999", 404, "id"),
        ("/api/documents/not-a-uuid", 422, "document_id"),
        (f"/api/documents/{uuid.uuid4()}", 404, "id"),
        (f"/api/warehouses/{w.central}/stock/999999", 404, "product_id"),
        ("/api/warehouses/999999/stock/1", 404, "warehouse_id"),
        ("/api/reports/summary?from=garbage", 422, "from"),
        ("/api/reports/summary?from=2026-02-01&to=2026-01-01", 422, "from"),
        ("/api/stock?warehouse_id=x", 422, "warehouse_id"),
        ("/api/documents?status=lost", 422, "status"),
        ("/api/nope", 404, None),
    ]
    for path, status, field in cases:
        check(w.get(path), status, field)
    check(w.client.put("/api/products", headers=w.headers()), 405)
    huge = "eyJrIjpbMTAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMF19"  # {"k":[10**27]}
    check(w.get(f"/api/ledger?cursor={huge}"), 400, "cursor")
    check(w.get("/api/reports/summary?from=0001-01-01T00:00:00%2B05:00"), 422, "from")
    r = w.get("/api/products?q=%00")
    assert r.status_code in (200, 422), r.text  # SQLite accepts NUL, PostgreSQL refuses it


def test_bad_master_data(world: World) -> None:
    w = world
    check(w.post("/api/products", {"sku": "P0", "name": "dup"}), 409, "sku")
    check(w.post("/api/products", {"sku": "N1", "name": "n", "sale_price": -1}), 422, "sale_price")
    check(
        w.post("/api/products", {"sku": "N1", "name": "n", "category_id": 999_999}),
        422,
        "category_id",
    )
    check(w.post("/api/products", {"sku": "N1", "name": ""}), 422, "name")
    check(w.post("/api/products", {"sku": "N1", "name": "x" * 300}), 422, "name")
    r = w.post("/api/products", {"sku": "NUL", "name": "a\x00b"})
    assert r.status_code in (201, 422), r.text  # SQLite stores NUL, PostgreSQL refuses it
    r = w.doc("purchase_receipt", w.shop, _line(w), extra_headers={
        "X-Edge-Device-Authorization": f"Bearer {w.tokens['device']}",
        "X-Edge-Queued-At": "not a time"})
    assert r.status_code == 201, r.text  # a bad queued-at is ignored (server time is used)
    check(w.post("/api/partners", {"type": "friend", "name": "x"}), 422, "type")
    check(
        w.post("/api/warehouses", {"code": "CENTRAL", "name": "again"}, role="admin"), 409, "code"
    )
    check(w.post("/api/warehouses", {"code": "bad code!", "name": "x"}, role="admin"), 422, "code")
    check(w.post("/api/categories", {"name": "x", "parent_id": 999_999}), 422, "parent_id")
    check(
        w.post(
            "/api/stock-policies", {"product_id": 999_999, "warehouse_id": w.shop, "min_qty": 1}
        ),
        422,
        "product_id",
    )
    check(
        w.post(
            "/api/stock-policies",
            {"product_id": w.products[0], "warehouse_id": w.shop, "min_qty": 5, "max_qty": 1},
        ),
        422,
        "max_qty",
    )
    pid = w.products[0]
    check(
        w.client.patch(
            f"/api/products/{pid}", json={"name": "x"}, headers=w.headers(**{"If-Match": "garbage"})
        ),
        412,
        "If-Match",
    )
    check(
        w.client.patch(
            f"/api/products/{pid}", json={"sku": "changed"}, headers=w.headers(**{"If-Match": "*"})
        ),
        422,
        "sku",
    )
    check(w.post(f"/api/documents/{uuid.uuid4()}/post", None), 404)
    check(w.post(f"/api/documents/{uuid.uuid4()}/void", None), 404)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | st.just("nul\x00byte"),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=20,
)
doc_fields = st.fixed_dictionaries(
    {},
    optional={
        "id": st.uuids().map(str) | json_values,
        "type": st.sampled_from(["sales_issue", "transfer", "stocktake", "other_out"])
        | json_values,
        "warehouse_id": st.integers(min_value=-5, max_value=2**40) | json_values,
        "to_warehouse_id": st.integers(min_value=-5, max_value=10) | json_values,
        "lines": st.lists(
            st.fixed_dictionaries(
                {},
                optional={
                    "product_id": st.integers(min_value=-5, max_value=2**40) | json_values,
                    "qty": st.integers(min_value=-(2**40), max_value=2**40) | json_values,
                    "counted_qty": st.integers(min_value=-5, max_value=2**40),
                    "expected_qty": st.integers(min_value=-(2**40), max_value=2**40),
                },
            ),
            max_size=3,
        )
        | json_values,
        "occurred_at": st.datetimes().map(lambda d: d.isoformat()) | json_values,
        "reason": json_values,
    },
)


def test_fuzzed_document_bodies_never_500(world: World) -> None:
    w = world
    with w.db.write() as s:  # some stock so that valid-looking bodies can also succeed
        from inventory_app.schemas import DocumentIn, DocumentLineIn
        from inventory_app.services.documents import create_document

        create_document(
            s,
            DocumentIn(
                id=uuid.uuid4(),
                type="purchase_receipt",
                warehouse_id=w.shop,
                lines=[DocumentLineIn(product_id=w.products[0], qty=50)],
            ),
        )

    @settings(
        max_examples=120,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(doc_fields)
    def run(body: dict[str, Any]) -> None:
        r = w.post("/api/documents", body)
        assert r.status_code < 500, r.text
        if r.status_code >= 400:
            assert r.headers["content-type"] == PROBLEM

    run()
