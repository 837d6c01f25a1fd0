"""The edge's own answers for people: an HTML page in the request's language when the request
accepts text/html, problem+json otherwise; same status codes and headers either way."""

from __future__ import annotations

import asyncio
import json

import pytest
from edge_cache.answers import back_link, language, wants_html

from tests.support.origins import ScriptedOrigin, token_digests
from tests.support.sidecar_in_process import Sidecar, SidecarFactory
from tests.support.waiting import wait_until

BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,*/*;q=0.8"
PROBES = {"PROBE_INTERVAL": "0.05", "PROBE_TIMEOUT": "2", "ORIGIN_TIMEOUT": "5"}


@pytest.mark.parametrize(
    ("accept", "html"),
    [
        (BROWSER, True),
        (None, False),
        ("*/*", False),
        ("application/json", False),
        ("application/problem+json, text/html;q=0.5", False),
        ("application/json;q=0.5, text/html", True),
        ("text/html;q=0", False),
    ],
)
def test_who_gets_a_page(accept: str | None, html: bool) -> None:
    assert wants_html(accept) is html


@pytest.mark.parametrize(
    ("accept_language", "lang"),
    [
        ("zh-CN,zh;q=0.9,en;q=0.8", "zh-CN"),
        ("en-US,en;q=0.9", "en"),
        ("fr-FR, zh;q=0.5, en;q=0.4", "zh-CN"),
        ("en;q=0.2, zh-Hans;q=0.9", "zh-CN"),
        ("zh;q=0, en", "en"),
        ("fr", "en"),
        (None, "en"),
    ],
)
def test_the_pages_language(accept_language: str | None, lang: str) -> None:
    assert language(accept_language) == lang


def test_back_link_is_the_referer_or_home() -> None:
    assert back_link("http://shop.local/stock?x=1") == "http://shop.local/stock?x=1"
    assert back_link("/stock") == "/stock"
    assert back_link("javascript:alert(1)") == "/"
    assert back_link("//evil.example/") == "/"
    assert back_link(None) == "/"


async def offline(make_sidecar: SidecarFactory, origin: ScriptedOrigin, **env: str) -> Sidecar:
    sidecar = await make_sidecar(health=True, outbox=True, **{**PROBES, **env})
    await origin.set_mode("refuse")
    await wait_until(lambda: not sidecar.edge.health.is_online(), 30.0)
    return sidecar


async def test_offline_503_is_a_page_for_a_browser_and_json_for_an_api(
    make_sidecar: SidecarFactory, origin: ScriptedOrigin
) -> None:
    sidecar = await offline(make_sidecar, origin)
    page = await sidecar.get("/stock", {"Accept": BROWSER, "Accept-Language": "zh-CN,zh;q=0.9"})
    assert page.status == 503 and page.headers["Content-Type"] == "text/html; charset=utf-8"
    text = page.body.decode()
    assert '<html lang="zh-CN">' in text and "暂时离线" in text
    assert page.headers["Retry-After"] and f"{page.headers['Retry-After']} 秒" in text
    english = await sidecar.get("/stock", {"Accept": BROWSER})
    assert '<html lang="en">' in english.body.decode() and "Offline" in english.body.decode()
    api = await sidecar.get("/stock", {"Accept": "application/json"})
    assert api.status == 503 and api.headers["Content-Type"] == "application/problem+json"
    assert json.loads(api.body)["type"].endswith("/origin-offline")
    assert api.headers["Retry-After"] == page.headers["Retry-After"]


async def test_queued_write_page_says_it_will_sync_and_links_back(
    make_sidecar: SidecarFactory, origin: ScriptedOrigin
) -> None:
    sidecar = await offline(make_sidecar, origin)
    headers = {"Accept": BROWSER, "Referer": "http://shop.local/stock?w=1",
               "Content-Type": "application/x-www-form-urlencoded",
               "Authorization": "Bearer clerk"}
    first = await sidecar.request("POST", "/stock/moves", headers, b"qty=1")
    assert (first.status, first.cache) == (202, "QUEUED")
    assert first.headers["Location"].startswith("/_edge/outbox/")
    assert first.headers["Idempotency-Key"]
    text = first.body.decode()
    assert "queued, will sync" in text and "Changes waiting to sync: 1" in text
    assert 'href="http://shop.local/stock?w=1"' in text
    second = await sidecar.request(
        "POST", "/stock/moves", {**headers, "Accept-Language": "zh-CN"}, b"qty=2")
    text = second.body.decode()
    assert "已排队，将自动同步" in text and "等待同步的更改：2 项" in text
    api = await sidecar.request("POST", "/stock/moves", {"Authorization": "Bearer clerk"}, b"{}")
    assert api.status == 202 and json.loads(api.body)["queued"] is True


async def test_full_outbox_507_page(make_sidecar: SidecarFactory, origin: ScriptedOrigin) -> None:
    sidecar = await offline(make_sidecar, origin, OUTBOX_MAX_ENTRIES="1")
    assert (await sidecar.request("POST", "/w", {"Accept": BROWSER}, b"1")).status == 202
    full = await sidecar.request("POST", "/w", {"Accept": BROWSER}, b"2")
    assert full.status == 507 and "Too many changes waiting" in full.body.decode()
    assert full.headers["Content-Type"].startswith("text/html")


async def test_401_and_403_pages(make_sidecar: SidecarFactory, origin: ScriptedOrigin) -> None:
    origin.route("/api/auth/token-digests", handler=token_digests({"tok-viewer": "viewer"}))
    sidecar = await make_sidecar(health=True, outbox=True, AUTH_REQUIRED="on",
                                 DEVICE_TOKEN="dev", **PROBES)
    viewer = {"Authorization": "Bearer tok-viewer", "Accept": BROWSER,
              "Accept-Language": "zh-CN"}
    assert (await sidecar.get("/items", viewer)).status == 200
    anonymous = await sidecar.get("/items", {"Accept": BROWSER})
    assert anonymous.status == 401 and "Sign-in required" in anonymous.body.decode()
    assert anonymous.headers["WWW-Authenticate"].startswith("Bearer")
    await origin.set_mode("refuse")
    await wait_until(lambda: not sidecar.edge.health.is_online(), 30.0)
    refused = await sidecar.request("PUT", "/items/1", viewer, b"{}")
    assert refused.status == 403 and "无权操作" in refused.body.decode()


@pytest.mark.browser
@pytest.mark.slow
async def test_a_real_browser_gets_the_pages_in_its_language(
    make_sidecar: SidecarFactory, origin: ScriptedOrigin
) -> None:
    """Debian's Chromium (Playwright) sends its own Accept / Accept-Language headers."""
    from tests.support.browser import chromium

    sidecar = await offline(make_sidecar, origin)
    form = (f'<form method="post" action="{sidecar.url}/stock/moves">'
            '<input name="qty" value="1"><button id="go">go</button></form>')

    def browse() -> dict[str, list[tuple[int, str, str]]]:
        seen: dict[str, list[tuple[int, str, str]]] = {}
        with chromium() as browser:
            for locale in ("en-US", "zh-CN"):
                page = browser.new_context(locale=locale).new_page()
                resp = page.goto(sidecar.url + "/stock")
                assert resp is not None
                got = [(resp.status, page.inner_text("h1"), page.inner_text("body"))]
                page.set_content(form)
                with page.expect_navigation() as nav:
                    page.click("#go")
                posted = nav.value
                assert posted is not None
                got.append((posted.status, page.inner_text("h1"), page.inner_text("body")))
                seen[locale] = got
        return seen

    seen = await asyncio.to_thread(browse)
    (offline_en, queued_en), (offline_zh, queued_zh) = seen["en-US"], seen["zh-CN"]
    assert offline_en[:2] == (503, "Offline")
    assert queued_en[0] == 202 and "queued, will sync" in queued_en[1]
    assert "Changes waiting to sync: 1" in queued_en[2]
    assert offline_zh[:2] == (503, "暂时离线")
    assert queued_zh[0] == 202 and "已排队，将自动同步" in queued_zh[1]
    assert "等待同步的更改：2 项" in queued_zh[2]  # both anonymous writes are "yours"
    assert sidecar.edge.outbox.depth() == 2
