"""The change feed (contracts §2): format, paths, tombstones, long-poll, 410 past retention."""

from __future__ import annotations

import datetime as dt
import threading
import time

import httpx
from inventory_app.services.changes import prune

from tests.inventory_app.api_support import PROBLEM, World


def test_no_since_returns_current_last_seq(world: World) -> None:
    r = world.get("/api/changes")
    assert r.status_code == 200
    body = r.json()
    assert body["results"] == [] and body["last_seq"] > 0  # the seed made changes


def test_stock_change_paths(world: World) -> None:
    since = world.get("/api/changes").json()["last_seq"]
    p, wh = world.products[0], world.central
    doc = world.doc("purchase_receipt", wh, [{"product_id": p, "qty": 1}]).json()
    body = world.get(f"/api/changes?since={since}").json()
    results = body["results"]
    assert [r["seq"] for r in results] == sorted(r["seq"] for r in results)
    assert all(r["seq"] > since for r in results)
    stock = [r for r in results if r["entity"] == "stock"]
    assert stock == [
        {
            "seq": stock[0]["seq"],
            "entity": "stock",
            "id": f"{wh}:{p}",
            "op": "upsert",
            "paths": [
                "/api/stock",
                f"/api/warehouses/{wh}/stock/{p}",
                f"/api/products/{p}",
                "/api/alerts/low-stock",
                "/api/ledger",
                "/api/reports/summary",
            ],
        }
    ]
    documents = [r for r in results if r["entity"] == "document"]
    assert documents[0]["id"] == doc["id"]
    assert f"/api/documents/{doc['id']}" in documents[0]["paths"]
    assert body["last_seq"] >= results[-1]["seq"]
    # nothing new → empty page, same last_seq, and a 304 on revalidation
    r = world.get(f"/api/changes?since={body['last_seq']}")
    assert r.json() == {"results": [], "last_seq": body["last_seq"]}
    assert (
        world.get(
            f"/api/changes?since={body['last_seq']}", headers={"If-None-Match": r.headers["etag"]}
        ).status_code
        == 304
    )


def test_limit_pages_through_in_order(world: World) -> None:
    for i in range(3):
        world.doc("purchase_receipt", world.central, [{"product_id": world.products[i], "qty": 1}])
    seqs: list[int] = []
    since = 0
    while True:
        body = world.get(f"/api/changes?since={since}&limit=2").json()
        if not body["results"]:
            break
        seqs += [r["seq"] for r in body["results"]]
        since = body["last_seq"]
    assert seqs == sorted(set(seqs))
    with world.db.read() as s:
        from inventory_app.models import ChangeLogEntry
        from sqlalchemy import select

        assert seqs == list(s.scalars(select(ChangeLogEntry.seq).order_by(ChangeLogEntry.seq)))


def test_longpoll_returns_on_change_and_on_timeout(world: World) -> None:
    last = world.get("/api/changes").json()["last_seq"]
    r = world.get(f"/api/changes?since={last}&feed=longpoll&timeout=300")
    assert r.status_code == 200 and r.json()["results"] == []

    def write_later() -> None:
        time.sleep(0.5)
        world.doc("purchase_receipt", world.central, [{"product_id": world.products[0], "qty": 1}])

    t = threading.Thread(target=write_later)
    t.start()
    r = world.get(f"/api/changes?since={last}&feed=longpoll&timeout=30000")
    t.join(timeout=30)
    assert r.status_code == 200
    assert r.json()["results"], "long-poll returned without the change"
    assert r.headers["cache-control"] == "no-store"


def test_since_older_than_retention_is_410(world: World) -> None:
    world.doc("purchase_receipt", world.central, [{"product_id": world.products[0], "qty": 1}])
    last = world.get("/api/changes").json()["last_seq"]
    with world.db.write() as s:
        assert prune(s, dt.timedelta(seconds=-60)) > 0
    r = world.get("/api/changes?since=0")
    assert r.status_code == 410
    assert r.headers["content-type"] == PROBLEM
    assert r.json()["last_seq"] == last
    assert world.get(f"/api/changes?since={last}").status_code == 200


def test_feed_is_complete_under_concurrent_writers(db_url: str) -> None:
    """Every committed change appears exactly once, in order, while 6 writers post at once."""
    from inventory_app.db import Database
    from inventory_app.models import ChangeLogEntry
    from sqlalchemy import select

    from tests.inventory_app.api_support import seed_world
    from tests.support.inventory import LiveServer

    db = Database(db_url)
    seeded = seed_world(db)
    server = LiveServer(db_url)
    token = seeded["tokens"]["clerk"]
    auth = {"Authorization": f"Bearer {token}"}
    seen: list[int] = []
    done = threading.Event()
    errors: list[str] = []
    try:
        start = httpx.get(f"{server.base}/api/changes", headers=auth, timeout=30).json()
        since = start["last_seq"]

        def follow() -> None:
            nonlocal since
            with httpx.Client(base_url=server.base, headers=auth, timeout=60) as client:
                while True:
                    finished = done.is_set()
                    body = client.get(
                        f"/api/changes?since={since}&limit=7&feed=longpoll&timeout=200"
                    ).json()
                    seen.extend(r["seq"] for r in body["results"])
                    since = body["last_seq"]
                    if finished and not body["results"]:
                        return

        def write(n: int) -> None:
            import uuid

            with httpx.Client(base_url=server.base, timeout=60) as client:
                for i in range(8):
                    body = {
                        "id": str(uuid.uuid4()),
                        "type": "purchase_receipt",
                        "warehouse_id": seeded["central"],
                        "lines": [{"product_id": seeded["products"][(n + i) % 5], "qty": 1}],
                    }
                    r = client.post(
                        "/api/documents",
                        json=body,
                        headers={**auth, "Idempotency-Key": str(uuid.uuid4())},
                    )
                    if r.status_code != 201:
                        errors.append(r.text)

        reader = threading.Thread(target=follow)
        reader.start()
        writers = [threading.Thread(target=write, args=(n,)) for n in range(6)]
        for t in writers:
            t.start()
        for t in writers:
            t.join(timeout=120)
        done.set()
        reader.join(timeout=60)
        assert not reader.is_alive()
    finally:
        server.stop()
    assert errors == []
    with db.read() as s:
        committed = list(
            s.scalars(
                select(ChangeLogEntry.seq)
                .where(ChangeLogEntry.seq > start["last_seq"])
                .order_by(ChangeLogEntry.seq)
            )
        )
    db.dispose()
    assert len(committed) == 6 * 8 * 2  # one stock + one document change per receipt
    assert seen == committed
