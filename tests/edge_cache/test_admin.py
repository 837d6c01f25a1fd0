"""The `/_edge/*` admin surface, driven in-process through a sidecar from `wiring.build`
against a real origin on a loopback port."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from edge_cache.app import EdgeCache
from edge_cache.messages import Request, Response
from edge_cache.settings import Settings
from edge_cache.wiring import build

from tests.support.origins import LedgerOrigin
from tests.support.waiting import wait_until

ADMIN = {"Authorization": "Bearer adm"}


@pytest.fixture
async def origin() -> AsyncIterator[LedgerOrigin]:
    o = LedgerOrigin()
    await o.start()
    yield o
    await o.close()


async def make_edge(origin: LedgerOrigin, tmp_path: Path, admin_token: str = "adm") -> EdgeCache:
    settings = Settings.from_env({
        "EDGE_CACHE_ORIGIN": origin.url, "EDGE_CACHE_DATA_DIR": str(tmp_path / "edge"),
        "EDGE_CACHE_ADMIN_TOKEN": admin_token, "EDGE_CACHE_PROBE_INTERVAL": "0.2",
        "EDGE_CACHE_PROBE_TIMEOUT": "2",
    })
    edge = build(settings)
    await edge.start()
    await wait_until(edge.health.is_known)  # the prober starts "unknown", as /readyz says
    return edge


@pytest.fixture
async def edge(origin: LedgerOrigin, tmp_path: Path) -> AsyncIterator[EdgeCache]:
    e = await make_edge(origin, tmp_path)
    yield e
    await e.stop()


async def call(edge: EdgeCache, method: str, target: str, body: bytes = b"",
               headers: dict[str, str] | None = None) -> tuple[Response, object]:
    resp = await edge.handle(Request(method, target, list((headers or {}).items()), body))
    payload = json.loads(resp.body) if resp.body else None
    return resp, payload


async def queue_writes(edge: EdgeCache, origin: LedgerOrigin, n: int) -> list[str]:
    await origin.set_mode("refuse")
    await wait_until(lambda: not edge.health.is_online())
    ids = []
    for i in range(n):
        resp, body = await call(edge, "POST", f"/stock/s{i}", b'{"delta": 1}',
                                {"Authorization": "Bearer user-secret",
                                 "Content-Type": "application/json"})
        assert resp.status == 202
        assert isinstance(body, dict)
        ids.append(str(body["id"]))
    return ids


async def test_status_has_the_contract_fields(edge: EdgeCache) -> None:
    resp, body = await call(edge, "GET", "/_edge/status")
    assert resp.status == 200 and isinstance(body, dict)
    for key in ("state", "since", "outbox_depth", "outbox_oldest_age_s", "dead_letters",
                "last_sync", "cache_entries", "cache_bytes", "hits", "misses"):
        assert key in body, key
    assert body["state"] == "online" and body["outbox_depth"] == 0
    resp, _ = await call(edge, "POST", "/_edge/status")
    assert resp.status == 405 and resp.header("Allow") == "GET"
    resp = await edge.handle(Request("GET", "/_edge/nothing-here"))
    assert resp.status == 404


async def test_outbox_views_redact_credentials(edge: EdgeCache, origin: LedgerOrigin) -> None:
    ids = await queue_writes(edge, origin, 3)
    resp, listing = await call(edge, "GET", "/_edge/outbox?state=queued&limit=2", headers=ADMIN)
    assert resp.status == 200 and isinstance(listing, dict)
    assert [e["id"] for e in listing["entries"]] == ids[:2]
    assert listing["depth"] == 3 and listing["next"].endswith(f"after={ids[1]}&state=queued")
    resp, more = await call(edge, "GET", listing["next"], headers=ADMIN)
    assert isinstance(more, dict) and [e["id"] for e in more["entries"]] == ids[2:]
    resp, entry = await call(edge, "GET", f"/_edge/outbox/{ids[0]}", headers=ADMIN)
    assert isinstance(entry, dict)
    assert ["Authorization", "<redacted>"] in entry["headers"]
    assert "user-secret" not in resp.body.decode()
    assert json.loads(entry["body"]) == {"delta": 1}
    resp, _ = await call(edge, "GET", "/_edge/outbox?state=bogus")
    assert resp.status == 400
    resp, _ = await call(edge, "GET", "/_edge/outbox/999999")
    assert resp.status == 404
    await origin.set_mode("ok")


async def test_queued_entries_cannot_be_discarded_or_retried(
    edge: EdgeCache, origin: LedgerOrigin
) -> None:
    ids = await queue_writes(edge, origin, 1)
    resp, _ = await call(edge, "DELETE", f"/_edge/outbox/{ids[0]}", headers=ADMIN)
    assert resp.status == 409
    resp, _ = await call(edge, "POST", f"/_edge/outbox/{ids[0]}/retry", headers=ADMIN)
    assert resp.status == 409
    resp, _ = await call(edge, "POST", "/_edge/outbox/424242/retry", headers=ADMIN)
    assert resp.status == 404
    resp, _ = await call(edge, "DELETE", f"/_edge/outbox/{ids[0]}",
                         headers={"Authorization": "Bearer wrong"})
    assert resp.status == 401
    assert edge.outbox.depth() == 1
    await origin.set_mode("ok")
    await wait_until(lambda: edge.outbox.depth() == 0)
    assert origin.stock == {"s0": 1}


async def test_purge_one_path_or_everything(edge: EdgeCache, origin: LedgerOrigin) -> None:
    for i in range(3):
        origin.put_item(str(i), i)
        resp = await edge.handle(Request("GET", f"/items/{i}"))
        assert resp.status == 200
    assert edge.store.stats()["entries"] == 3
    resp, body = await call(edge, "POST", "/_edge/purge?path=/items/1", headers=ADMIN)
    assert resp.status == 200 and isinstance(body, dict) and body["purged"] == 1
    assert edge.store.stats()["entries"] == 2
    resp, _ = await call(edge, "POST", "/_edge/purge")
    assert resp.status == 401
    resp, body = await call(edge, "POST", "/_edge/purge", headers=ADMIN)
    assert isinstance(body, dict) and body["purged"] == 2 and edge.store.stats()["entries"] == 0


async def test_writes_are_disabled_without_an_admin_token(
    origin: LedgerOrigin, tmp_path: Path
) -> None:
    edge = await make_edge(origin, tmp_path, admin_token="")
    try:
        resp, body = await call(edge, "POST", "/_edge/purge", headers={"Authorization": "Bearer "})
        assert resp.status == 403 and isinstance(body, dict)
        assert body["type"].endswith("/admin-disabled")
    finally:
        await edge.stop()
