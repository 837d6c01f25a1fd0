"""RFC 9111 §4.4: unsafe methods invalidate the target URI, Location and Content-Location on
the same host, only after non-error responses; plus route `affects` paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.origins import ScriptedOrigin
from tests.support.sidecar_in_process import Sidecar, SidecarFactory
from tests.support.waiting import wait_until

CACHEABLE = {"Cache-Control": "max-age=600"}
# Invalidation marks stored responses invalid instead of dropping them (RFC 9111 §4.4 allows
# both): the next read must go to the origin, which answers these scripted routes with a full
# 200, so the sidecar reports EXPIRED; while disconnected the kept copy can still be served.
INVALIDATED = "EXPIRED"


async def warm(sidecar: Sidecar, *paths: str) -> None:
    for path in paths:
        await sidecar.get(path)
        assert (await sidecar.get(path)).cache == "HIT", path


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE", "LOCK"])
async def test_unsafe_method_invalidates_target(
    sidecar: Sidecar, origin: ScriptedOrigin, method: str
) -> None:
    origin.route("/items", headers=CACHEABLE)
    origin.route("/items", method=method, status=200, body=b"ok")
    await warm(sidecar, "/items")
    write = await sidecar.request(method, "/items", body=b"{}")
    assert (write.status, write.cache) == (200, "BYPASS")
    again = await sidecar.get("/items")
    assert again.cache == INVALIDATED
    assert origin.count("/items", "GET") == 2


@pytest.mark.parametrize("status", [400, 404, 409, 500, 503])
async def test_error_response_does_not_invalidate(
    sidecar: Sidecar, origin: ScriptedOrigin, status: int
) -> None:
    origin.route("/items", headers=CACHEABLE)
    origin.route("/items", method="POST", status=status)
    await warm(sidecar, "/items")
    write = await sidecar.request("POST", "/items", body=b"{}")
    assert write.status == status
    assert (await sidecar.get("/items")).cache == "HIT"


async def test_location_and_content_location_same_host(
    sidecar: Sidecar, origin: ScriptedOrigin
) -> None:
    for path in ("/a", "/b", "/c", "/d?x=1"):
        origin.route(path, headers=CACHEABLE)
    origin.route(
        "/a",
        method="POST",
        status=201,
        headers=[("Location", "/b"), ("Content-Location", f"{origin.url}/d?x=1")],
    )
    await warm(sidecar, "/a", "/b", "/c", "/d?x=1")
    await sidecar.request("POST", "/a", body=b"{}")
    assert (await sidecar.get("/b")).cache == INVALIDATED
    assert (await sidecar.get("/d?x=1")).cache == INVALIDATED
    assert (await sidecar.get("/c")).cache == "HIT"


async def test_relative_location_resolves_against_target(
    sidecar: Sidecar, origin: ScriptedOrigin
) -> None:
    origin.route("/api/items/7", headers=CACHEABLE)
    origin.route("/api/items/new", method="POST", status=201, headers={"Location": "7"})
    await warm(sidecar, "/api/items/7")
    await sidecar.request("POST", "/api/items/new", body=b"{}")
    assert (await sidecar.get("/api/items/7")).cache == INVALIDATED


async def test_location_on_other_host_is_ignored(
    sidecar: Sidecar, origin: ScriptedOrigin
) -> None:
    origin.route("/b", headers=CACHEABLE)
    origin.route(
        "/a", method="POST", status=201, headers={"Location": "http://elsewhere.example/b"}
    )
    await warm(sidecar, "/b")
    await sidecar.request("POST", "/a", body=b"{}")
    assert (await sidecar.get("/b")).cache == "HIT"


async def test_only_the_exact_target_is_invalidated(
    sidecar: Sidecar, origin: ScriptedOrigin
) -> None:
    origin.route("/list", headers=CACHEABLE)
    origin.route("/list?page=2", headers=CACHEABLE)
    origin.route("/list", method="POST", status=201)
    await warm(sidecar, "/list", "/list?page=2")
    await sidecar.request("POST", "/list", body=b"{}")
    assert (await sidecar.get("/list")).cache == INVALIDATED
    assert (await sidecar.get("/list?page=2")).cache == "HIT"


async def test_all_variants_of_the_target_are_invalidated(
    sidecar: Sidecar, origin: ScriptedOrigin
) -> None:
    origin.route("/v", headers={"Cache-Control": "max-age=600", "Vary": "Accept"})
    origin.route("/v", method="PUT", status=204)
    for accept in ("a/b", "c/d"):
        await sidecar.get("/v", {"Accept": accept})
    await sidecar.request("PUT", "/v", body=b"{}")
    for accept in ("a/b", "c/d"):
        assert (await sidecar.get("/v", {"Accept": accept})).cache == INVALIDATED


async def test_safe_methods_do_not_invalidate(sidecar: Sidecar, origin: ScriptedOrigin) -> None:
    origin.route("/s", headers=CACHEABLE)
    origin.route("/s", method="OPTIONS", status=204)
    await warm(sidecar, "/s")
    reply = await sidecar.request("OPTIONS", "/s")
    assert reply.cache == "BYPASS"
    assert (await sidecar.get("/s")).cache == "HIT"


async def test_route_affects_paths_are_invalidated(
    make_sidecar: SidecarFactory, origin: ScriptedOrigin, tmp_path: Path
) -> None:
    policy = tmp_path / "policy.yaml"
    policy.write_text(
        "routes:\n  - path: /api/documents\n    methods: [POST]\n"
        "    affects: [/api/stock, /api/ledger]\n"
    )
    sidecar = await make_sidecar(POLICY_FILE=str(policy))
    for path in ("/api/stock?warehouse_id=1", "/api/stock", "/api/ledger", "/api/products"):
        origin.route(path, headers=CACHEABLE)
    origin.route("/api/documents", method="POST", status=201)
    await warm(sidecar, "/api/stock?warehouse_id=1", "/api/stock", "/api/ledger", "/api/products")
    await sidecar.request("POST", "/api/documents", body=b"{}")
    assert (await sidecar.get("/api/stock?warehouse_id=1")).cache == INVALIDATED
    assert (await sidecar.get("/api/stock")).cache == INVALIDATED
    assert (await sidecar.get("/api/ledger")).cache == INVALIDATED
    assert (await sidecar.get("/api/products")).cache == "HIT"


async def test_store_evict_path_and_purge(sidecar: Sidecar, origin: ScriptedOrigin) -> None:
    for path in ("/p?a=1", "/p?a=2", "/p", "/q"):
        origin.route(path, headers=CACHEABLE)
        await sidecar.get(path)
    store = sidecar.edge.store
    assert store.evict_path("/p") == 3
    assert (await sidecar.get("/p?a=1")).cache == "MISS"
    assert (await sidecar.get("/q")).cache == "HIT"
    assert store.purge() == 2
    assert store.stats()["entries"] == 0
    assert (await sidecar.get("/q")).cache == "MISS"


async def test_invalidated_entry_is_still_served_while_disconnected(
    make_sidecar: SidecarFactory, origin: ScriptedOrigin
) -> None:
    """A shop that just sold an item can still read that item's stock when the link drops."""
    sidecar = await make_sidecar(health=True, PROBE_INTERVAL="0.05", PROBE_TIMEOUT="3")
    origin.route("/stock/1", headers={"Cache-Control": "public, max-age=0, stale-if-error=60"})
    origin.route("/stock/1", method="POST", status=201)
    await sidecar.get("/stock/1")
    await sidecar.request("POST", "/stock/1", body=b"{}")
    await origin.set_mode("refuse")
    await wait_until(lambda: not sidecar.edge.health.is_online())
    offline = await sidecar.get("/stock/1")
    assert (offline.status, offline.cache) == (200, "OFFLINE-HIT")
    await origin.set_mode("ok")
    await wait_until(lambda: sidecar.edge.health.is_online())
    before = origin.count("/stock/1", "GET")
    online = await sidecar.get("/stock/1")
    assert online.cache == INVALIDATED
    assert origin.count("/stock/1", "GET") == before + 1
