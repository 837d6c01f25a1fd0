"""Local credential verification from the origin's token-digest list (contracts §3)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from edge_cache.auth import CredentialVerifier
from edge_cache.messages import Request
from edge_cache.origin_client import OriginClient

from tests.support.origins import LedgerOrigin
from tests.support.sidecar import Sidecar
from tests.support.waiting import wait_until

DEVICE = "device-secret"


@pytest.fixture
async def origin() -> AsyncIterator[LedgerOrigin]:
    o = LedgerOrigin(DEVICE)
    o.tokens = {"tok-clerk": None, "tok-old": "2001-01-01T00:00:00Z",
                "tok-later": "2999-01-01T00:00:00+00:00"}
    await o.start()
    yield o
    await o.close()


@pytest.fixture
async def client(origin: LedgerOrigin) -> AsyncIterator[OriginClient]:
    async with OriginClient(origin.url, timeout=5.0) as c:
        yield c


def verifier(client: OriginClient, data_dir: Path, online: bool = True,
             **kw: object) -> CredentialVerifier:
    return CredentialVerifier(
        enabled=True, origin=client, device_token=DEVICE, admin_token="adm",
        data_dir=data_dir, public_paths=("/login", "/static/"), is_online=lambda: online,
        min_refresh_gap=0.0, **kw,  # type: ignore[arg-type]
    )


def bearer(token: str, path: str = "/items/1") -> Request:
    return Request("GET", path, [("Authorization", f"Bearer {token}")])


def test_no_mode_means_plain_proxy() -> None:
    v = CredentialVerifier(enabled=False)
    assert v.verify(Request("GET", "/anything"))
    assert not v.is_admin(Request("GET", "/", [("Authorization", "Bearer x")]))


async def test_digest_list_accepts_listed_unexpired_tokens(
    origin: LedgerOrigin, client: OriginClient, tmp_path: Path
) -> None:
    v = verifier(client, tmp_path)
    assert await v.refresh()
    assert v.verify(bearer("tok-clerk")) and v.verify(bearer("tok-later"))
    assert not v.verify(bearer("tok-old"))  # listed but expired
    assert not v.verify(Request("GET", "/items/1"))  # no credential
    assert not v.verify(Request("GET", "/items/1", [("Authorization", "Basic dG9rLWNsZXJr")]))
    cookie = Request("GET", "/items/1", [("Cookie", "lang=en; inventory_session=tok-clerk")])
    assert v.verify(cookie)
    assert v.verify(Request("GET", "/login")) and v.verify(Request("GET", "/static/app.css"))
    assert not v.verify(Request("GET", "/loginx"))
    assert v.is_admin(bearer("adm")) and not v.is_admin(bearer("tok-clerk"))


async def test_list_survives_restart_while_offline(
    origin: LedgerOrigin, client: OriginClient, tmp_path: Path
) -> None:
    first = verifier(client, tmp_path)
    assert await first.refresh()
    await origin.set_mode("refuse")
    again = verifier(client, tmp_path, online=False)  # a restart with the cloud unreachable
    assert again.verify(bearer("tok-clerk"))
    assert not again.verify(bearer("tok-unknown"))
    assert not await again.authorize(bearer("tok-unknown"))  # offline: no refresh attempted
    await origin.set_mode("ok")


async def test_unknown_token_refreshes_once_before_refusing(
    origin: LedgerOrigin, client: OriginClient, tmp_path: Path
) -> None:
    v = verifier(client, tmp_path)
    assert await v.refresh()
    origin.tokens["tok-new"] = None  # issued at the cloud after the last sync
    before = origin.digest_requests
    assert await v.authorize(bearer("tok-new"))
    assert origin.digest_requests == before + 1
    assert not await v.authorize(bearer("tok-forged"))
    origin.tokens["tok-newer"] = None
    assert not v.verify(bearer("tok-newer"))  # the synchronous check refuses at once ...
    await wait_until(lambda: v.verify(bearer("tok-newer")))  # ... and its refresh lands


async def test_forged_token_flood_shares_refreshes(
    origin: LedgerOrigin, client: OriginClient, tmp_path: Path
) -> None:
    v = CredentialVerifier(enabled=True, origin=client, device_token=DEVICE,
                           data_dir=tmp_path, min_refresh_gap=0.3)
    assert await v.refresh()
    before = origin.digest_requests
    results = await asyncio.gather(*(v.authorize(bearer(f"forged-{i}")) for i in range(20)))
    assert not any(results)
    assert origin.digest_requests - before <= 2  # one refresh per gap, shared by all waiters
    origin.tokens["tok-just-issued"] = None  # right after the flood: still one refresh away
    assert await v.authorize(bearer("tok-just-issued"))


async def test_wrong_device_token_keeps_the_old_list(
    origin: LedgerOrigin, client: OriginClient, tmp_path: Path
) -> None:
    good = verifier(client, tmp_path)
    assert await good.refresh()
    bad = CredentialVerifier(enabled=True, origin=client, device_token="wrong",
                             data_dir=tmp_path)
    assert not await bad.refresh()
    assert bad.last_error == "HTTP 401 from /api/auth/token-digests"
    assert bad.verify(bearer("tok-clerk"))  # loaded from disk, not replaced


async def test_sidecar_refuses_offline_as_online(origin: LedgerOrigin, tmp_path: Path) -> None:
    origin.put_item("1", "secret stock")
    edge = Sidecar(origin.url, tmp_path / "edge", EDGE_CACHE_DEVICE_TOKEN=DEVICE,
                   EDGE_CACHE_AUTH_REQUIRED="on")
    await edge.start()
    good = {"Authorization": "Bearer tok-clerk"}
    bad = {"Authorization": "Bearer tok-forged"}
    try:
        async with aiohttp.ClientSession() as s:
            await wait_until(lambda: (tmp_path / "edge" / "token-digests.json").exists())
            async with s.get(edge.url + "/items/1", headers=good) as resp:
                assert resp.status == 200
            async with s.get(edge.url + "/items/1", headers=bad) as resp:
                assert resp.status == 401
                assert resp.headers["Content-Type"].startswith("application/problem+json")
                assert json.loads(await resp.read())["status"] == 401
            async with s.get(edge.url + "/items/1") as resp:
                assert resp.status == 401
            origin.tokens["tok-fresh"] = None  # e.g. a new sign-in at the cloud
            async with s.get(edge.url + "/items/1",
                             headers={"Authorization": "Bearer tok-fresh"}) as resp:
                assert resp.status == 200  # one digest refresh before refusing
            await origin.set_mode("refuse")
            await edge.wait_state(s, "offline")
            async with s.get(edge.url + "/items/1", headers=good) as resp:
                assert resp.status == 200 and resp.headers["X-Edge-Cache"] == "OFFLINE-HIT"
            for headers in (bad, {}):
                async with s.get(edge.url + "/items/1", headers=headers) as resp:
                    assert resp.status == 401
                async with s.post(edge.url + "/stock/a", json={"delta": 1},
                                  headers=headers) as resp:
                    assert resp.status == 401  # nothing queued for a stranger
            async with s.post(edge.url + "/stock/a", json={"delta": 1}, headers=good) as resp:
                assert resp.status == 202
            # a restart while the cloud is still unreachable keeps the synced list
            assert await edge.stop() == 0
            await edge.start()
            async with s.get(edge.url + "/items/1", headers=good) as resp:
                assert resp.status == 200
            async with s.get(edge.url + "/items/1", headers=bad) as resp:
                assert resp.status == 401
            await origin.set_mode("ok")
            await edge.wait_drained(s)
            assert origin.stock == {"a": 1}
    finally:
        await origin.set_mode("ok")
        await edge.stop()
