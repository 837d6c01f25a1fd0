"""Idempotency-Key rules and client-UUID uniqueness."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests.inventory_app.api_support import PROBLEM, World
from tests.support.inventory import LiveServer


def _receipt(world: World, qty: int = 5) -> dict[str, object]:
    return {
        "id": str(uuid.uuid4()),
        "type": "purchase_receipt",
        "warehouse_id": world.central,
        "lines": [{"product_id": world.products[0], "qty": qty}],
    }


def test_missing_key_is_400(world: World) -> None:
    r = world.post("/api/documents", _receipt(world), key=None)
    assert r.status_code == 400
    assert r.headers["content-type"] == PROBLEM
    assert r.json()["errors"][0]["field"] == "Idempotency-Key"
    assert world.balance(world.central, world.products[0]) == 0


def test_replay_returns_the_stored_response(world: World) -> None:
    body = _receipt(world)
    first = world.post("/api/documents", body, key="k-1")
    assert first.status_code == 201
    assert "idempotent-replayed" not in first.headers
    again = world.post("/api/documents", body, key="k-1")
    assert again.status_code == 201
    assert again.headers["idempotent-replayed"] == "true"
    assert again.content == first.content
    assert again.headers["location"] == first.headers["location"]
    assert world.balance(world.central, world.products[0]) == 5
    metrics = world.client.get("/metrics").text
    assert "inventory_idempotent_replays_total" in metrics


def test_same_key_different_body_is_422(world: World) -> None:
    assert world.post("/api/documents", _receipt(world), key="k-2").status_code == 201
    r = world.post("/api/documents", _receipt(world, 7), key="k-2")
    assert r.status_code == 422
    assert r.json()["type"].endswith("/idempotency-key-reused")
    assert world.balance(world.central, world.products[0]) == 5


def test_keys_are_scoped_per_credential(world: World) -> None:
    body = _receipt(world)
    assert world.post("/api/documents", body, key="shared", role="clerk").status_code == 201
    # another principal with the same key is a different request; the UUID makes it a no-op
    r = world.post("/api/documents", body, key="shared", role="admin")
    assert r.status_code == 200 and "idempotent-replayed" not in r.headers
    assert world.balance(world.central, world.products[0]) == 5


def test_client_uuid_prevents_duplicates_after_key_expiry(world: World) -> None:
    body = _receipt(world)
    assert world.post("/api/documents", body, key="a").status_code == 201
    r = world.post("/api/documents", body, key="b")  # key store pruned / new key
    assert r.status_code == 200
    assert r.json()["id"] == body["id"]
    assert world.balance(world.central, world.products[0]) == 5
    other = dict(body, type="other_in", reason="found")
    assert world.post("/api/documents", other, key="c").status_code == 409


def test_failed_business_rule_is_not_stored(world: World) -> None:
    sale = {
        "id": str(uuid.uuid4()),
        "type": "sales_issue",
        "warehouse_id": world.central,
        "lines": [{"product_id": world.products[0], "qty": 2}],
    }
    assert world.post("/api/documents", sale, key="s-1").status_code == 409
    world.doc("purchase_receipt", world.central, [{"product_id": world.products[0], "qty": 2}])
    retry = world.post("/api/documents", sale, key="s-1")
    assert retry.status_code == 201 and "idempotent-replayed" not in retry.headers


@pytest.fixture
def live(db_url: str) -> Iterator[tuple[LiveServer, dict[str, object]]]:
    from inventory_app.db import Database

    from tests.inventory_app.api_support import seed_world

    db = Database(db_url)
    seeded = seed_world(db)
    db.dispose()
    server = LiveServer(db_url)
    yield server, seeded
    server.stop()


def test_concurrent_same_key_has_one_effect(live: tuple[LiveServer, dict[str, object]]) -> None:
    server, seeded = live
    token = seeded["tokens"]["clerk"]  # type: ignore[index]
    products: list[int] = seeded["products"]  # type: ignore[assignment]
    body = {
        "id": str(uuid.uuid4()),
        "type": "purchase_receipt",
        "warehouse_id": seeded["central"],
        "lines": [{"product_id": products[0], "qty": 3}],
    }
    results: list[httpx.Response] = []
    barrier = threading.Barrier(8)

    def send() -> None:
        with httpx.Client(base_url=server.base, timeout=30) as client:
            barrier.wait()
            results.append(
                client.post(
                    "/api/documents",
                    json=body,
                    headers={"Authorization": f"Bearer {token}", "Idempotency-Key": "same-key"},
                )
            )

    threads = [threading.Thread(target=send) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert len(results) == 8
    for r in results:
        assert r.status_code in (201, 409), r.text
        if r.status_code == 409:
            assert r.headers["retry-after"] == "1"
            assert r.json()["type"].endswith("/idempotency-key-in-flight")
    originals = [
        r for r in results if r.status_code == 201 and "idempotent-replayed" not in r.headers
    ]
    assert len(originals) == 1
    with httpx.Client(base_url=server.base, timeout=30) as client:
        bal = client.get(
            f"/api/warehouses/{seeded['central']}/stock/{products[0]}",
            headers={"Authorization": f"Bearer {token}"},
        ).json()
        assert bal["qty"] == 3
        docs = client.get("/api/documents", headers={"Authorization": f"Bearer {token}"}).json()
        assert len(docs["results"]) == 1


def test_pruned_keys_fall_back_to_the_client_uuid(world: World) -> None:
    from inventory_app.services.retention import prune_all
    from inventory_app.settings import Settings

    body = _receipt(world)
    assert world.post("/api/documents", body, key="old").status_code == 201
    report = prune_all(
        world.db,
        Settings(database_url=world.url, change_retention_days=-1, idempotency_retention_hours=-1),
    )
    assert report.idempotency_records >= 1 and report.changes >= 1
    r = world.post("/api/documents", body, key="old")
    assert r.status_code == 200 and "idempotent-replayed" not in r.headers
    assert world.balance(world.central, world.products[0]) == 5
    assert world.get("/api/changes?since=0").status_code == 410


def test_key_in_flight_is_409_with_retry_after(world: World) -> None:
    import datetime as dt
    import hashlib
    import json

    from inventory_app.services import idempotency

    body = json.dumps(_receipt(world)).encode()
    principal = hashlib.sha256(f"Bearer {world.tokens['clerk']}".encode()).hexdigest()
    request_hash = hashlib.sha256(b"POST /api/documents?\n" + body).hexdigest()
    with world.db.write() as s:  # another worker has claimed the key and is still running
        decision = idempotency.begin(
            s,
            principal,
            "busy",
            request_hash,
            retention=dt.timedelta(days=1),
            inflight_timeout=dt.timedelta(minutes=5),
        )
        assert decision.action == "proceed"
    headers = {**world.headers(key="busy"), "content-type": "application/json"}
    r = world.client.post("/api/documents", content=body, headers=headers)
    assert r.status_code == 409
    assert r.headers["retry-after"] == "1"
    assert r.json()["type"].endswith("/idempotency-key-in-flight")
    assert world.balance(world.central, world.products[0]) == 0
    # a different body with the same key is still a 422, even while in flight
    other = world.client.post(
        "/api/documents", content=body.replace(b'"qty": 5', b'"qty": 6'), headers=headers
    )
    assert other.status_code == 422
