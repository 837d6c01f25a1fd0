"""Real concurrency: parallel posts against the same stock (PostgreSQL and SQLite) through a real
uvicorn process, and pagination stability under concurrent inserts."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import httpx
import pytest
from inventory_app.api.http import encode_cursor
from inventory_app.db import Database
from inventory_app.models import StockMovement
from inventory_app.services.stock import compare_projection
from sqlalchemy import select

from tests.inventory_app.api_support import World, seed_world
from tests.support.inventory import LiveServer


@pytest.fixture
def served(db_url: str) -> Iterator[tuple[LiveServer, Database, dict]]:  # type: ignore[type-arg]
    db = Database(db_url)
    seeded = seed_world(db)
    server = LiveServer(db_url)
    yield server, db, seeded
    server.stop()
    db.dispose()


def test_concurrent_sales_never_oversell(served: tuple[LiveServer, Database, dict]) -> None:  # type: ignore[type-arg]
    server, db, seeded = served
    auth = {"Authorization": f"Bearer {seeded['tokens']['clerk']}"}
    wh, product = seeded["shop"], seeded["products"][0]
    with httpx.Client(base_url=server.base, headers=auth, timeout=60) as client:
        r = client.post(
            "/api/documents",
            headers={"Idempotency-Key": "stock-in"},
            json={
                "id": str(uuid.uuid4()),
                "type": "purchase_receipt",
                "warehouse_id": wh,
                "lines": [{"product_id": product, "qty": 30}],
            },
        )
        assert r.status_code == 201
    statuses: list[int] = []
    barrier = threading.Barrier(6)

    def sell() -> None:
        with httpx.Client(base_url=server.base, headers=auth, timeout=60) as client:
            barrier.wait()
            for _ in range(8):
                r = client.post(
                    "/api/documents",
                    headers={"Idempotency-Key": str(uuid.uuid4())},
                    json={
                        "id": str(uuid.uuid4()),
                        "type": "sales_issue",
                        "warehouse_id": wh,
                        "lines": [{"product_id": product, "qty": 1}],
                    },
                )
                statuses.append(r.status_code)

    threads = [threading.Thread(target=sell) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert sorted(set(statuses)) == [201, 409]
    assert statuses.count(201) == 30 and statuses.count(409) == 18
    with db.read() as s:
        moves = s.scalars(
            select(StockMovement)
            .where(StockMovement.warehouse_id == wh, StockMovement.product_id == product)
            .order_by(StockMovement.seq)
        ).all()
        assert [m.balance_after for m in moves] == list(range(30, -1, -1))
        assert compare_projection(s) == []


def test_concurrent_mixed_posts_balance_equals_sum(
    served: tuple[LiveServer, Database, dict],  # type: ignore[type-arg]
) -> None:
    server, db, seeded = served
    auth = {"Authorization": f"Bearer {seeded['tokens']['clerk']}"}
    central, shop = seeded["central"], seeded["shop"]
    products = seeded["products"]

    def work(n: int) -> None:
        with httpx.Client(base_url=server.base, headers=auth, timeout=60) as client:
            for i in range(6):
                p = products[(n + i) % 3]
                body = {
                    "id": str(uuid.uuid4()),
                    "type": "purchase_receipt",
                    "warehouse_id": central,
                    "lines": [{"product_id": p, "qty": 5}],
                }
                if i % 2:
                    body = {
                        "id": str(uuid.uuid4()),
                        "type": "transfer",
                        "warehouse_id": central,
                        "to_warehouse_id": shop,
                        "lines": [{"product_id": p, "qty": 2}],
                    }
                client.post(
                    "/api/documents", json=body, headers={"Idempotency-Key": str(uuid.uuid4())}
                )

    seen: list[int] = []
    writing = threading.Event()
    writing.set()

    def page_ledger() -> None:
        """Page through the ledger while the writers insert; keyset pages never skip."""
        after: int | None = None
        with httpx.Client(base_url=server.base, headers=auth, timeout=60) as client:
            while True:
                finished = not writing.is_set()
                url: str | None = "/api/ledger?limit=7"
                if after is not None:
                    url += f"&cursor={encode_cursor([after])}"
                while url:
                    body = client.get(url).json()
                    seen.extend(m["seq"] for m in body["results"])
                    if body["results"]:
                        after = body["results"][-1]["seq"]
                    url = body["next"]
                if finished:
                    return
                time.sleep(0.05)

    reader = threading.Thread(target=page_ledger)
    reader.start()
    threads = [threading.Thread(target=work, args=(n,)) for n in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    writing.clear()
    reader.join(timeout=120)
    assert not reader.is_alive()
    with db.read() as s:
        assert compare_projection(s) == []
        moves = s.scalars(select(StockMovement).order_by(StockMovement.seq)).all()
        # the reader saw every movement exactly once, in seq order, across concurrent inserts
        assert seen == [m.seq for m in moves]
        running: dict[tuple[int, int], int] = {}
        for m in moves:
            key = (m.warehouse_id, m.product_id)
            running[key] = running.get(key, 0) + m.delta
            assert m.balance_after == running[key]
            assert running[key] >= 0
        assert sum(m.delta for m in moves if m.warehouse_id == shop) == sum(
            -m.delta for m in moves if m.warehouse_id == central and m.doc_type == "transfer"
        )


def test_pagination_is_stable_under_concurrent_inserts(world: World) -> None:
    """Keyset pages neither skip nor repeat rows while other clients insert."""
    existing = sorted(world.products)
    seen: list[int] = []
    url: str | None = "/api/products?limit=2"
    n = 0
    while url:
        body = world.get(url).json()
        seen += [p["id"] for p in body["results"]]
        url = body["next"]
        n += 1
        # someone inserts products between our pages
        r = world.post("/api/products", {"sku": f"NEW-{n}", "name": f"New {n}"})
        assert r.status_code == 201
        if n > 20:
            break
    assert len(seen) == len(set(seen))
    assert seen == sorted(seen)
    assert set(existing) <= set(seen)
    # the ledger pages too
    for i in range(5):
        world.doc("purchase_receipt", world.central, [{"product_id": world.products[i], "qty": 1}])
    page1 = world.get("/api/ledger?limit=3").json()
    world.doc("purchase_receipt", world.central, [{"product_id": world.products[0], "qty": 1}])
    page2 = world.get(page1["next"]).json()
    seqs = [m["seq"] for m in page1["results"] + page2["results"]]
    assert seqs == sorted(set(seqs)) and len(seqs) == 6
