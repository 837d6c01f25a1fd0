"""A document time from a client whose clock is ahead is bounded (DESIGN §3 rule 5): more than
`INVENTORY_MAX_CLOCK_SKEW_S` in the future of the receive time → clamped to the receive time and
flagged for review (reason `clock_skew`); times within the skew and times in the past are kept."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi.testclient import TestClient
from inventory_app.main import create_app
from inventory_app.settings import Settings

from tests.inventory_app.api_support import World


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value.replace("Z", "+00:00"))


def _replayed_sale(world: World, queued_at: dt.datetime, qty: int = 1) -> Any:
    r = world.doc(
        "sales_issue", world.shop, [{"product_id": world.products[1], "qty": qty}],
        extra_headers={
            "X-Edge-Device-Authorization": f"Bearer {world.tokens['device']}",
            "X-Edge-Queued-At": _iso(queued_at),
        },
    )
    assert r.status_code == 201, r.text
    return r.json()


def _reviews(world: World) -> list[tuple[str, str]]:
    return [(x["reason"], x["document_id"]) for x in world.get("/api/reviews").json()["results"]]


def test_edge_time_far_in_the_future_is_clamped_and_flagged(world: World) -> None:
    world.doc("purchase_receipt", world.shop, [{"product_id": world.products[1], "qty": 10}])
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    doc = _replayed_sale(world, before + dt.timedelta(hours=3))
    after = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
    occurred = _parse(doc["occurred_at"])
    assert before <= occurred <= after, doc["occurred_at"]
    assert doc["flagged"] is True
    assert ("clock_skew", doc["id"]) in _reviews(world)
    ledger = world.get(f"/api/ledger?document_id={doc['id']}").json()["results"]
    assert [_parse(m["occurred_at"]) for m in ledger] == [occurred]
    assert world.balance(world.shop, world.products[1]) == 9  # the sale still counts


def test_times_within_the_skew_or_in_the_past_are_kept(world: World) -> None:
    world.doc("purchase_receipt", world.shop, [{"product_id": world.products[1], "qty": 10}])
    soon = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(seconds=60)
    doc = _replayed_sale(world, soon)
    assert _parse(doc["occurred_at"]) == soon and doc["flagged"] is False
    past = soon - dt.timedelta(days=2)
    old = _replayed_sale(world, past)
    assert _parse(old["occurred_at"]) == past and old["flagged"] is False
    assert _reviews(world) == []


def test_online_body_time_in_the_future_is_clamped(world: World) -> None:
    future = dt.datetime.now(dt.UTC) + dt.timedelta(days=30)
    r = world.doc("purchase_receipt", world.shop, [{"product_id": world.products[2], "qty": 4}],
                  occurred_at=_iso(future))
    assert r.status_code == 201, r.text
    doc = r.json()
    assert _parse(doc["occurred_at"]) < future - dt.timedelta(days=29)
    assert doc["flagged"] is True and ("clock_skew", doc["id"]) in _reviews(world)


def test_the_skew_is_configurable(world: World) -> None:
    app = create_app(Settings(database_url=world.url, log_requests=False, max_clock_skew_s=10),
                     db=world.db)
    world.doc("purchase_receipt", world.shop, [{"product_id": world.products[1], "qty": 10}])
    with TestClient(app, raise_server_exceptions=False) as client:
        world.client = client
        soon = dt.datetime.now(dt.UTC).replace(microsecond=0) + dt.timedelta(seconds=60)
        doc = _replayed_sale(world, soon)  # within the default 300 s, beyond the 10 s set here
    assert _parse(doc["occurred_at"]) < soon and doc["flagged"] is True
