"""HTTP rules of the API: auth and roles, ETag/304, Cache-Control, If-Match, pagination."""

from __future__ import annotations

from tests.inventory_app.api_support import PROBLEM, World

PUBLIC = "public, max-age=0, stale-if-error=604800"


def test_health_endpoints_need_no_auth(world: World) -> None:
    assert world.client.get("/healthz").json() == {"status": "ok"}
    assert world.client.get("/readyz").json() == {"status": "ready"}
    world.get("/api/products")
    metrics = world.client.get("/metrics")
    assert metrics.status_code == 200
    assert 'inventory_http_requests_total{method="GET",route="/api/products"' in metrics.text
    assert "inventory_http_request_duration_seconds_bucket" in metrics.text
    world.doc("purchase_receipt", world.central, [{"product_id": world.products[0], "qty": 1}])
    metrics = world.client.get("/metrics")
    assert 'inventory_documents_posted_total{type="purchase_receipt"}' in metrics.text
    assert world.client.get("/openapi.json").json()["info"]["title"]
    assert world.client.get("/docs").status_code == 200


def test_bad_credentials_are_401_problems(world: World) -> None:
    cases = [
        {},
        {"Authorization": "Bearer nope"},
        {"Authorization": "Basic abc"},
        {"Authorization": "Bearer "},
    ]
    for headers in cases:
        r = world.client.get("/api/products", headers=headers)
        assert r.status_code == 401, headers
        assert r.headers["content-type"] == PROBLEM
        assert r.headers["www-authenticate"].startswith("Bearer")
        assert r.json()["errors"][0]["field"] == "Authorization"
    world.client.cookies.set("inventory_session", "forged")
    assert world.client.get("/api/products").status_code == 401
    world.client.cookies.clear()


def test_session_cookie_authenticates(world: World) -> None:
    from inventory_app.services.auth import create_user, login

    with world.db.write() as s:
        create_user(s, "alice", "s3cret-pw", "clerk")
        assert login(s, "alice", "wrong") is None
        token = login(s, "alice", "s3cret-pw")
    assert token
    world.client.cookies.set("inventory_session", token)
    r = world.client.get("/api/me")
    world.client.cookies.clear()
    assert r.status_code == 200
    assert r.json()["username"] == "alice"
    assert r.json()["kind"] == "session"
    assert r.headers["cache-control"] == "no-store"


def test_roles_are_enforced(world: World) -> None:
    line = [{"product_id": world.products[0], "qty": 1}]
    r = world.doc("purchase_receipt", world.central, line, role="viewer")
    assert r.status_code == 403 and r.headers["content-type"] == PROBLEM
    r = world.post("/api/warehouses", {"code": "X", "name": "X"}, role="clerk")
    assert r.status_code == 403
    assert (
        world.post("/api/warehouses", {"code": "X", "name": "X"}, role="admin").status_code == 201
    )
    # device: own warehouse only
    assert world.doc("purchase_receipt", world.shop, line, role="device").status_code == 201
    r = world.doc("purchase_receipt", world.shop2, line, role="device")
    assert r.status_code == 403
    assert world.get("/api/auth/token-digests", role="clerk").status_code == 403
    assert world.get("/api/stock", role="viewer").status_code == 200


def test_token_digests_for_edges(world: World) -> None:
    import hashlib

    r = world.get("/api/auth/token-digests", role="device")
    assert r.status_code == 200
    assert r.headers["cache-control"] == "no-store"
    body = r.json()
    digests = {d["sha256"]: d for d in body["digests"]}
    clerk = digests[hashlib.sha256(world.tokens["clerk"].encode()).hexdigest()]
    assert clerk["role"] == "clerk" and clerk["expires_at"] is None
    device = digests[hashlib.sha256(world.tokens["device"].encode()).hexdigest()]
    assert device["role"] == "device" and device["warehouse_id"] == world.shop
    assert body["generated_at"].endswith("Z")


PATHS = [
    "/api/products",
    "/api/products/{p}",
    "/api/stock",
    "/api/warehouses",
    "/api/ledger",
    "/api/alerts/low-stock",
    "/api/documents",
    "/api/reviews",
    "/api/changes?since=0",
    "/api/reports/summary",
    "/api/warehouses/{w}/stock/{p}",
    "/api/categories",
    "/api/partners",
    "/api/stock-policies",
    "/api/documents/{d}",
]


def test_every_get_has_a_strong_etag_and_304(world: World) -> None:
    doc = world.doc(
        "purchase_receipt", world.central, [{"product_id": world.products[0], "qty": 3}]
    ).json()
    for template in PATHS:
        path = template.format(p=world.products[0], w=world.central, d=doc["id"])
        r = world.get(path)
        assert r.status_code == 200, path
        etag = r.headers["etag"]
        assert etag.startswith('"') and not etag.startswith("W/"), path
        assert r.headers["cache-control"] == PUBLIC, path
        again = world.get(path, headers={"If-None-Match": etag})
        assert again.status_code == 304, path
        assert again.headers["etag"] == etag
        assert again.headers["cache-control"] == PUBLIC
        assert again.content == b""


def test_list_etag_changes_when_data_changes(world: World) -> None:
    first = world.get("/api/stock").headers["etag"]
    world.doc("purchase_receipt", world.central, [{"product_id": world.products[1], "qty": 2}])
    r = world.get("/api/stock", headers={"If-None-Match": first})
    assert r.status_code == 200 and r.headers["etag"] != first


def test_if_match_on_master_data(world: World) -> None:
    pid = world.products[0]
    r = world.get(f"/api/products/{pid}")
    etag = r.headers["etag"]
    patch = world.client.patch(
        f"/api/products/{pid}", json={"name": "Renamed"}, headers=world.headers()
    )
    assert patch.status_code == 428 and patch.headers["content-type"] == PROBLEM
    stale = world.client.patch(
        f"/api/products/{pid}",
        json={"name": "Renamed"},
        headers=world.headers(**{"If-Match": '"product-1-v99"'}),
    )
    assert stale.status_code == 412
    ok = world.client.patch(
        f"/api/products/{pid}",
        json={"name": "Renamed"},
        headers=world.headers(**{"If-Match": etag}),
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["name"] == "Renamed" and ok.headers["etag"] != etag
    # the old ETag no longer matches
    again = world.client.patch(
        f"/api/products/{pid}", json={"name": "Again"}, headers=world.headers(**{"If-Match": etag})
    )
    assert again.status_code == 412
    # delete needs If-Match too, and leaves a tombstone in the change feed
    since = world.get("/api/changes").json()["last_seq"]
    assert world.client.delete(f"/api/products/{pid}", headers=world.headers()).status_code == 428
    d = world.client.delete(
        f"/api/products/{pid}", headers=world.headers(**{"If-Match": ok.headers["etag"]})
    )
    assert d.status_code == 204
    assert world.get(f"/api/products/{pid}").status_code == 404
    changes = world.get(f"/api/changes?since={since}").json()["results"]
    assert [(c["entity"], c["id"], c["op"]) for c in changes] == [("product", str(pid), "delete")]
    assert f"/api/products/{pid}" in changes[0]["paths"]


def test_posting_needs_no_if_match(world: World) -> None:
    r = world.doc(
        "purchase_receipt", world.central, [{"product_id": world.products[0], "qty": 1}], post=False
    )
    assert r.status_code == 201 and r.json()["status"] == "draft"
    doc_id = r.json()["id"]
    # drafts: PATCH needs If-Match
    no = world.client.patch(
        f"/api/documents/{doc_id}", json={"remark": "x"}, headers=world.headers()
    )
    assert no.status_code == 428
    yes = world.client.patch(
        f"/api/documents/{doc_id}",
        json={"lines": [{"product_id": world.products[0], "qty": 4}]},
        headers=world.headers(**{"If-Match": r.headers["etag"]}),
    )
    assert yes.status_code == 200, yes.text
    posted = world.post(f"/api/documents/{doc_id}/post", None)
    assert posted.status_code == 200 and posted.json()["status"] == "posted"
    assert posted.json()["number"].startswith("PR-")
    assert world.balance(world.central, world.products[0]) == 4
    # a posted document cannot be patched any more
    late = world.client.patch(
        f"/api/documents/{doc_id}",
        json={"remark": "x"},
        headers=world.headers(**{"If-Match": posted.headers["etag"]}),
    )
    assert late.status_code == 409


def test_cursor_pagination_and_link_header(world: World) -> None:
    seen: list[int] = []
    url: str | None = "/api/products?limit=2"
    pages = 0
    while url:
        r = world.get(url)
        assert r.status_code == 200
        body = r.json()
        seen += [p["id"] for p in body["results"]]
        url = body["next"]
        if url:
            assert r.headers["link"] == f'<{url}>; rel="next"'
        pages += 1
    assert seen == sorted(world.products) and pages == 3


def test_me_is_no_store(world: World) -> None:
    r = world.get("/api/me", role="device")
    assert r.json()["role"] == "device" and r.json()["warehouse_id"] == world.shop
    assert r.headers["cache-control"] == "no-store"
