"""Idempotency survives a crash of the app: a real `inventory-app serve` process is killed with
SIGKILL (by its fault hook, `INVENTORY_FAULT_EXIT_AT=<point>:<key>`) at each step of an
idempotent write — after the key's claim, after the work, before the commit, after the commit.
The retry with the same key goes to another app process on the same database (as after a
restart, or to another replica): it is applied exactly once (ledger count) and at once — never
`409 in flight` — because the claim, the work and the stored response commit together.

The five processes start in parallel (one start costs seconds on a loaded machine); each one is
armed for the fault of the step it is the first to see."""

from __future__ import annotations

import signal
import subprocess
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from inventory_app.db import Database

from tests.inventory_app.api_support import seed_world
from tests.support.inventory import LiveServer

pytestmark = pytest.mark.slow  # five app processes per database (seconds each to start)
POINTS = ("after-claim", "after-work", "before-commit", "after-commit")


def _fault_env(index: int) -> dict[str, str]:
    if index >= len(POINTS):
        return {}
    return {"INVENTORY_FAULT_EXIT_AT": f"{POINTS[index]}:sale-{POINTS[index]}"}


def _start_all(db_url: str) -> list[LiveServer]:
    with ThreadPoolExecutor(len(POINTS) + 1) as pool:
        futures = [pool.submit(LiveServer, db_url, _fault_env(i)) for i in range(len(POINTS) + 1)]
        servers: list[LiveServer] = []
        errors: list[BaseException] = []
        for future in futures:
            try:
                servers.append(future.result())
            except Exception as exc:  # stop what started, then report
                errors.append(exc)
    if errors:
        for server in servers:
            server.stop()
        raise errors[0]
    return servers


def _wait_killed(server: LiveServer) -> int | None:
    assert server.proc is not None
    try:
        return server.proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        return None


def test_a_killed_app_applies_each_retried_sale_exactly_once(db_url: str) -> None:
    db = Database(db_url)
    seeded: dict[str, Any] = seed_world(db)
    db.dispose()
    auth = {"Authorization": f"Bearer {seeded['tokens']['clerk']}"}
    wh, product = seeded["shop"], seeded["products"][0]
    sales = {
        point: {"id": str(uuid.uuid4()), "type": "sales_issue", "warehouse_id": wh,
                "lines": [{"product_id": product, "qty": 1}]}
        for point in POINTS
    }
    servers = _start_all(db_url)
    try:
        with httpx.Client(base_url=servers[0].base, headers=auth, timeout=30) as client:
            r = client.post("/api/documents", headers={"Idempotency-Key": "stock-in"}, json={
                "id": str(uuid.uuid4()), "type": "purchase_receipt", "warehouse_id": wh,
                "lines": [{"product_id": product, "qty": 10}]})
            assert r.status_code == 201, r.text
        for index, point in enumerate(POINTS):
            victim, survivor = servers[index], servers[index + 1]
            key = {"Idempotency-Key": f"sale-{point}"}
            with httpx.Client(base_url=victim.base, headers=auth, timeout=30) as client, \
                    pytest.raises(httpx.TransportError):
                client.post("/api/documents", headers=key, json=sales[point])
            assert _wait_killed(victim) == -signal.SIGKILL, f"{point}: {victim.output()[-800:]}"
            with httpx.Client(base_url=survivor.base, headers=auth, timeout=30) as client:
                retry = client.post("/api/documents", headers=key, json=sales[point])
                assert retry.status_code == 201, f"{point}: {retry.status_code} {retry.text}"
                replayed = retry.headers.get("idempotent-replayed") == "true"
                # only a crash after the commit leaves something behind: the stored response
                assert replayed == (point == "after-commit"), point
                again = client.post("/api/documents", headers=key, json=sales[point])
                assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true"
                assert again.content == retry.content
                ledger = client.get(
                    f"/api/ledger?document_id={sales[point]['id']}").json()["results"]
                assert [m["delta"] for m in ledger] == [-1], point
        with httpx.Client(base_url=servers[-1].base, headers=auth, timeout=30) as client:
            bal = client.get(f"/api/warehouses/{wh}/stock/{product}").json()
            assert bal["qty"] == 10 - len(POINTS)
            docs = client.get("/api/documents?limit=100").json()["results"]
            assert sorted(d["id"] for d in docs if d["type"] == "sales_issue") == sorted(
                s["id"] for s in sales.values())
            movements = client.get(f"/api/ledger?warehouse_id={wh}&limit=100").json()["results"]
            assert len(movements) == 1 + len(POINTS)
    finally:
        for server in servers:
            server.stop()
