"""A shop's working day in a real browser through a real edge, with the link to the cloud cut.

A real local lab (edgelab's `LocalTarget`: `inventory-app serve` on SQLite with demo data, the
lab's WAN link emulator, one `edge-cache` with the lab's route policy, which warms the day's
pages), Debian's Chromium driven by Playwright, the link cut with the lab's own emulator
(blackhole: packets vanish, nothing answers). In English and in Chinese:

sign in (with and without JavaScript) → the edge warms the pages → cut the link → reload every
page of the day (also ones this browser never opened) → post a sale with JavaScript (an
oversell: accepted from an edge and flagged) and one without → "queued, will sync" with the
number of changes waiting → restore the link → each sale is in the cloud exactly once, the
pages show the synced stock and the dashboard's review list shows the oversell.

Screenshots for a person to look at: build/screenshots/shop-offline-<lang>-<step>.png.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from edgelab.process import wait_until
from edgelab.targets.local import LocalTarget
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.edgelab.lab_fixtures import lab_settings

pytestmark = [pytest.mark.browser, pytest.mark.slow]

SCREENSHOTS = Path(__file__).resolve().parents[2] / "build" / "screenshots"
EDGE = "shop-1"
WAREHOUSE = "SHOP-1"


@dataclass(frozen=True)
class Words:
    """What the clerk reads, per language."""

    lang: str
    locale: str
    dashboard: str
    products: str
    stock: str
    ledger: str
    purchase: str
    sale: str
    transfer: str
    stocktake: str
    offline: str
    queued: str
    waiting: str
    oversold: str
    posted_flash: str
    edge_queued: str  # the edge's own 202 page (no JavaScript)
    edge_waiting: str
    back: str


EN = Words("en", "en-US", "Dashboard", "Products", "Stock by warehouse", "Stock ledger",
           "Receive goods (purchase receipt)", "Sell (sales issue)",
           "Transfer between warehouses", "Stocktake", "Offline", "Queued, will sync",
           "Changes waiting to sync: {n}", "oversold", "posted", "queued, will sync",
           r"Changes waiting to sync: \d+", "Back")
ZH = Words("zh-CN", "zh-CN", "概览", "商品", "各仓库存", "库存流水", "采购入库单", "销售出库单",
           "调拨单", "盘点单", "离线", "已排队", "等待同步的更改：{n} 项", "超卖", "已过账",
           "已排队，将自动同步", r"等待同步的更改：\d+ 项", "返回")


class Lab:
    """The running lab and the cloud-side facts the test checks (admin API, straight to the
    cloud, never through the edge)."""

    def __init__(self, target: LocalTarget) -> None:
        self.target = target
        endpoints = target.endpoints()
        self.edge = endpoints.edges[EDGE]
        self.cloud = endpoints.cloud
        tokens = target.tokens()
        self.api = httpx.Client(base_url=self.cloud, timeout=30.0,
                                headers={"Authorization": f"Bearer {tokens.admin}"})
        self.edge_admin = httpx.Client(
            base_url=self.edge, timeout=10.0,
            headers={"Authorization": f"Bearer {tokens.edge_admin}"})
        self.link = target.link(EDGE)
        found = [w for w in self.api.get("/api/warehouses").json()["results"]
                 if w["code"] == WAREHOUSE]
        self.shop = int(found[0]["id"])

    def status(self) -> dict[str, Any]:
        data: dict[str, Any] = self.edge_admin.get("/_edge/status").json()
        return data

    def balance(self, product_id: int) -> int:
        r = self.api.get(f"/api/warehouses/{self.shop}/stock/{product_id}")
        r.raise_for_status()
        return int(r.json()["qty"])

    def sales(self, product_id: int) -> list[dict[str, Any]]:
        """Ledger rows of sales of one product in the shop (every page)."""
        rows: list[dict[str, Any]] = []
        url: str | None = "/api/ledger"
        params: dict[str, int] | None = {"warehouse_id": self.shop, "product_id": product_id,
                                         "limit": 500}
        while url:
            r = self.api.get(url, params=params)
            r.raise_for_status()
            body = r.json()
            rows += [m for m in body["results"] if m["document_type"] == "sales_issue"]
            url, params = body.get("next"), None
        return rows

    def stocked_products(self) -> list[tuple[int, int]]:
        r = self.api.get("/api/stock", params={"warehouse_id": self.shop, "limit": 500})
        r.raise_for_status()
        return [(int(b["product_id"]), int(b["qty"])) for b in r.json()["results"]
                if int(b["qty"]) > 3]

    def cached(self, target: str) -> bool:
        """Whether the edge holds a copy of `target` (asked with the device token)."""
        r = httpx.get(self.edge + target, timeout=10.0, headers={
            "Authorization": f"Bearer {self.target.tokens().devices[EDGE]}",
            "Cache-Control": "only-if-cached, max-stale=604800"})
        return r.status_code == 200

    def cut(self) -> None:
        self.link.down("blackhole")
        wait_until(lambda: self.status()["state"] == "offline", timeout_s=60.0,
                   what="the edge to declare the cloud offline", interval_s=0.2)

    def restore(self) -> None:
        self.link.up()
        wait_until(lambda: self.status()["state"] == "online", timeout_s=60.0,
                   what="the edge to come back online", interval_s=0.2)
        wait_until(lambda: self.status()["outbox_depth"] == 0, timeout_s=90.0,
                   what="the outbox to drain", interval_s=0.2)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    target = LocalTarget(lab_settings(tmp_path_factory.mktemp("shop-offline") / "lab", edges=1))
    target.up()
    try:
        yield Lab(target)
    finally:
        target.link(EDGE).up()
        target.down()


def signed_in(browser: Browser, lab: Lab, words: Words, *, javascript: bool) -> BrowserContext:
    context = browser.new_context(locale=words.locale, java_script_enabled=javascript,
                                  viewport={"width": 1280, "height": 900})
    context.set_default_timeout(30_000)
    page = context.new_page()
    page.goto(lab.edge + "/login")
    page.fill("#username", "clerk")
    page.fill("#password", "clerk")
    page.click("button[type=submit]")
    expect(page).to_have_url(re.compile(rf"/\?lang={re.escape(words.lang)}$"))
    expect(page.locator("h1")).to_have_text(words.dashboard)
    page.close()
    return context


def shot(page: Page, words: Words, step: str, shots: list[str]) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    name = f"shop-offline-{words.lang}-{step}.png"
    page.screenshot(path=str(SCREENSHOTS / name), full_page=True)
    shots.append(name)


def open_offline(page: Page, url: str, heading: str) -> None:
    response = page.goto(url)
    assert response is not None and response.status == 200, (url, response and response.status)
    assert response.headers.get("x-edge-cache") == "OFFLINE-HIT", (url, response.headers)
    expect(page.locator("h1")).to_contain_text(heading)


@pytest.mark.parametrize("words", [EN, ZH], ids=["en", "zh-CN"])
def test_a_shop_day_with_the_cloud_cut_off(lab: Lab, browser: Browser, words: Words) -> None:
    shots: list[str] = []
    lang = words.lang
    # Two products the shop has in stock, both on the first page of the products list.
    stocked = lab.stocked_products()
    assert len(stocked) >= 2, stocked
    (over, over_qty), (plain, _plain_qty) = stocked[0], stocked[1]
    shop_stock = f"/stock?warehouse_id={lab.shop}&lang={lang}"
    product_page = f"/products/{over}?lang={lang}"
    day = [
        (f"/?lang={lang}", words.dashboard),
        (f"/products?lang={lang}", words.products),
        (product_page, ""),
        (shop_stock, words.stock),
        (f"/ledger?lang={lang}", words.ledger),
        (f"/documents/purchase?lang={lang}", words.purchase),
        (f"/documents/sale?lang={lang}", words.sale),
        (f"/documents/transfer?lang={lang}", words.transfer),
        (f"/documents/stocktake?warehouse_id={lab.shop}&lang={lang}", words.stocktake),
    ]
    with_js = signed_in(browser, lab, words, javascript=True)
    without_js = signed_in(browser, lab, words, javascript=False)
    try:
        # The browser opened only the dashboard; the edge warmed the rest of the day.
        for url, _heading in day:
            wait_until(partial(lab.cached, url), timeout_s=60.0, what=f"the edge to warm {url}",
                       interval_s=0.2)
        before_over, before_plain = lab.balance(over), lab.balance(plain)
        sales_before = {p: len(lab.sales(p)) for p in (over, plain)}

        lab.cut()
        page = with_js.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        # The clerk opens the edge's bare address: its redirect to the page in the browser's
        # language was kept from the sign-in (shared per Accept-Language), so it works offline.
        response = page.goto(lab.edge + "/")
        assert response is not None and response.headers.get("x-edge-cache") == "OFFLINE-HIT"
        expect(page).to_have_url(re.compile(rf"/\?lang={re.escape(lang)}$"))
        for url, heading in day:
            open_offline(page, lab.edge + url, heading)
            expect(page.locator("[data-edge-status]")).to_have_attribute("data-state", "offline")
            expect(page.locator("[data-edge-status]")).to_contain_text(words.offline)
            expect(page.locator("[data-user]")).to_contain_text("clerk")
            if url == shop_stock:
                shot(page, words, "1-stock-offline", shots)
            if url == product_page:
                shot(page, words, "2-product-offline", shots)

        # A sale with JavaScript: more than the shop has (it happened in the shop: an edge's
        # replay is accepted and flagged for review).
        page.goto(lab.edge + f"/documents/sale?lang={lang}")
        page.select_option("#warehouse_id", str(lab.shop))
        page.locator("tr[data-line] select[name=product_id]").first.select_option(str(over))
        page.locator("tr[data-line] input[name=qty]").first.fill(str(over_qty + 5))
        page.click("form[data-document-form] button[type=submit]")
        status = page.locator("[data-form-status]")
        expect(status).to_have_attribute("data-state", "queued")
        expect(status).to_contain_text(words.queued)
        expect(status).to_contain_text(words.waiting.format(n=1))
        expect(page.locator("[data-edge-status]")).to_contain_text(words.waiting.format(n=1))
        shot(page, words, "3-sale-queued-js", shots)

        # A sale without JavaScript: a plain form post, answered by the edge.
        plain_page = without_js.new_page()
        response = plain_page.goto(lab.edge + f"/documents/sale?lang={lang}")
        assert response is not None and response.headers.get("x-edge-cache") == "OFFLINE-HIT"
        plain_page.select_option("#warehouse_id", str(lab.shop))
        plain_page.locator("tr[data-line] select[name=product_id]").first.select_option(
            str(plain))
        plain_page.locator("tr[data-line] input[name=qty]").first.fill("2")
        with plain_page.expect_response(lambda r: r.request.method == "POST") as posted:
            plain_page.click("form[data-document-form] button[type=submit]")
        assert posted.value.status == 202, posted.value.status
        assert posted.value.headers.get("x-edge-cache") == "QUEUED"
        assert lab.status()["outbox_depth"] == 2
        # The edge's 202 is a page in the clerk's language that says so and links back.
        expect(plain_page.locator("h1")).to_contain_text(words.edge_queued)
        expect(plain_page.locator("body")).to_contain_text(re.compile(words.edge_waiting))
        shot(plain_page, words, "4-sale-queued-nojs", shots)
        plain_page.get_by_role("link", name=words.back).click()
        expect(plain_page).to_have_url(re.compile(rf"/documents/sale\?lang={re.escape(lang)}$"))
        expect(plain_page.locator("h1")).to_have_text(words.sale)
        assert lab.balance(over) == before_over and lab.balance(plain) == before_plain

        lab.restore()
        # Each sale reached the cloud exactly once.
        assert lab.balance(over) == before_over - (over_qty + 5)
        assert lab.balance(plain) == before_plain - 2
        for product in (over, plain):
            new = lab.sales(product)[sales_before[product]:]
            assert len(new) == 1 and new[0]["edge_replay"], new
        assert lab.sales(over)[-1]["negative_after"]  # the oversell, flagged

        # The pages show the synced state (online: revalidated at the cloud through the edge).
        response = page.goto(lab.edge + shop_stock)
        assert response is not None and response.status == 200
        assert response.headers.get("x-edge-cache") != "OFFLINE-HIT"
        qty = page.locator(f'[data-stock-row="{lab.shop}:{plain}"] [data-qty]')
        expect(qty).to_have_text(str(before_plain - 2))
        expect(page.locator("[data-edge-status]")).to_be_hidden()
        page.goto(lab.edge + f"/?lang={lang}")
        review = page.locator("tr[data-review]", has_text=words.oversold).filter(
            has=page.locator(f'a[href^="/products/{over}?"]'))
        expect(review.first).to_be_visible()
        shot(page, words, "5-dashboard-review-synced", shots)
        assert errors == []
    finally:
        with_js.close()
        without_js.close()
        print("screenshots:", ", ".join(shots))
