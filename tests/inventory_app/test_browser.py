"""Real-browser tests of the web UI: Debian's Chromium driven by Playwright.

A real ``inventory-app serve`` process on a free port with a fresh, migrated and seeded SQLite
database. The "queued" test puts a tiny real aiohttp reverse proxy in front of it that behaves
like the edge cache while the cloud is offline: GETs (and the sign-in) are forwarded, and
``POST /api/documents`` is answered ``202 Accepted`` with ``{"queued": true, ...}``
(docs/contracts.md §4).
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientSession, ClientTimeout, web
from inventory_app.db import Database
from inventory_app.migrate import upgrade
from playwright.sync_api import Browser, Page, expect

from tests.inventory_app.test_web_support import PASSWORDS, Seed, balance, seed_small
from tests.support.inventory import LiveServer
from tests.support.ports import free_port

pytestmark = pytest.mark.browser

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
SCREENSHOTS = Path("/tmp")
HOP_BY_HOP = {
    "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
    "transfer-encoding", "upgrade", "host", "content-length", "content-encoding",
}


class OfflineEdgeProxy:
    """A minimal edge cache with the cloud offline for writes: queues document posts (202)."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.queued: list[dict[str, Any]] = []
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._runner: web.AppRunner | None = None
        self._session: ClientSession | None = None

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        if request.method == "POST" and request.path == "/api/documents":
            entry = {
                "headers": dict(request.headers),
                "body": json.loads(body or b"{}"),
            }
            self.queued.append(entry)
            key = request.headers.get("Idempotency-Key", "")
            outbox_id = str(len(self.queued))
            return web.json_response(
                {"queued": True, "id": outbox_id, "idempotency_key": key,
                 "outbox_depth": len(self.queued)},
                status=202,
                headers={"Location": f"/_edge/outbox/{outbox_id}", "X-Edge-Cache": "QUEUED",
                         "X-Edge-Outbox-Depth": str(len(self.queued))},
            )
        assert self._session is not None
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        async with self._session.request(
            request.method, self.upstream + request.path_qs, headers=headers, data=body,
            allow_redirects=False,
        ) as upstream:
            payload = await upstream.read()
            response = web.Response(status=upstream.status, body=payload)
            for name, value in upstream.headers.items():
                if name.lower() not in HOP_BY_HOP:
                    response.headers.add(name, value)
            response.headers["X-Edge-Cache"] = "BYPASS"
            return response

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)

        async def start() -> None:
            self._session = ClientSession(timeout=ClientTimeout(total=30), auto_decompress=True)
            app = web.Application()
            app.router.add_route("*", "/{tail:.*}", self._handle)
            self._runner = web.AppRunner(app, access_log=None)
            await self._runner.setup()
            await web.TCPSite(self._runner, "127.0.0.1", self.port).start()
            self._ready.set()

        self._loop.run_until_complete(start())
        self._loop.run_forever()

    def start(self) -> None:
        self._thread.start()
        assert self._ready.wait(30), "proxy did not start"

    def stop(self) -> None:
        async def shutdown() -> None:
            if self._session is not None:
                await self._session.close()
            if self._runner is not None:
                await self._runner.cleanup()

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=30)
        self._loop.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, Seed, Database]]:
    data_dir = tmp_path_factory.mktemp("browser")
    url = f"sqlite:///{data_dir / 'inventory.db'}"
    upgrade(url)
    db = Database(url)
    seed = seed_small(db)
    app_server = LiveServer(url, {"INVENTORY_DATA_DIR": str(data_dir)})
    try:
        yield app_server, seed, db
    finally:
        app_server.stop()
        db.dispose()


def sign_in(page: Page, base: str, role: str = "clerk") -> None:
    page.goto(base + "/")
    expect(page).to_have_url(re.compile(r"/login\?next="))
    page.fill("#username", role)
    page.fill("#password", PASSWORDS[role])
    page.click("button[type=submit]")
    expect(page).to_have_url(re.compile(re.escape(base) + r"/\?lang=(en|zh-CN)$"))


def stock_qty(page: Page, base: str, seed: Seed, product_id: int) -> int:
    page.goto(f"{base}/stock?warehouse_id={seed.shop}")
    cell = page.locator(f'[data-stock-row="{seed.shop}:{product_id}"] [data-qty]')
    return int(cell.inner_text().strip())


def fill_sale(page: Page, seed: Seed, product_id: int, qty: int) -> None:
    page.select_option("#warehouse_id", str(seed.shop))
    page.locator("tr[data-line] select[name=product_id]").first.select_option(str(product_id))
    page.locator("tr[data-line] input[name=qty]").first.fill(str(qty))


def test_sale_in_the_browser_changes_stock_and_chinese_switch(
    server: tuple[LiveServer, Seed, Database], browser: Browser
) -> None:
    app_server, seed, db = server
    base = app_server.base
    context = browser.new_context(locale="en-US", viewport={"width": 1200, "height": 800})
    context.set_default_timeout(30_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        sign_in(page, base)
        expect(page.locator("h1")).to_have_text("Dashboard")
        expect(page.get_by_text("Paper cup")).to_be_visible()  # low-stock list
        # Who is signed in comes from the display cookie (the page itself is shared).
        expect(page.locator("[data-user]")).to_contain_text("clerk")
        expect(page.locator("[data-user-role]")).to_have_text("Clerk")
        page.screenshot(path=str(SCREENSHOTS / "inventory-dashboard.png"), full_page=True)

        before = stock_qty(page, base, seed, seed.tea)
        assert before == balance(db, seed.shop, seed.tea)
        page.goto(base + "/documents/sale")
        expect(page.locator("form[data-document-form]")).to_have_attribute(
            "data-enhanced", "true"
        )
        fill_sale(page, seed, seed.tea, 2)
        page.screenshot(path=str(SCREENSHOTS / "inventory-sale-form.png"), full_page=True)
        page.click("form[data-document-form] button[type=submit]")
        status = page.locator("[data-form-status]")
        expect(status).to_have_attribute("data-state", "success")
        expect(status).to_contain_text("Posted SI")
        assert stock_qty(page, base, seed, seed.tea) == before - 2

        # Overselling is refused by the API; the problem details are shown.
        page.goto(base + "/documents/sale")
        fill_sale(page, seed, seed.tea, 1_000_000)
        page.click("form[data-document-form] button[type=submit]")
        expect(status).to_have_attribute("data-state", "error")
        expect(status).to_contain_text("Not enough stock of TEA-01 — Green tea")
        assert stock_qty(page, base, seed, seed.tea) == before - 2

        # Switch to Chinese with the language link; the choice is remembered.
        page.click('a[data-lang="zh-CN"]')
        expect(page.locator("h1")).to_have_text("各仓库存")
        assert page.locator("html").get_attribute("lang") == "zh-Hans-CN"
        page.goto(base + "/documents/sale")
        expect(page.locator("h1")).to_have_text("销售出库单")
        expect(page.get_by_role("link", name="库存流水")).to_be_visible()
        # Mistakes are explained in the user's language before anything is sent.
        fill_sale(page, seed, seed.tea, -1)
        page.click("form[data-document-form] button[type=submit]")
        expect(status).to_have_attribute("data-state", "error")
        expect(status).to_contain_text("第 1 行：数量必须大于零。")
        expect(page.locator("tr[data-line] input[name=qty]").first).to_have_attribute(
            "aria-invalid", "true"
        )
        page.screenshot(path=str(SCREENSHOTS / "inventory-sale-form-zh.png"), full_page=True)
        assert stock_qty(page, base, seed, seed.tea) == before - 2
        assert errors == []
    finally:
        context.close()


def test_sale_without_javascript_posts_with_redirect(
    server: tuple[LiveServer, Seed, Database], browser: Browser
) -> None:
    app_server, seed, db = server
    base = app_server.base
    context = browser.new_context(java_script_enabled=False, locale="zh-CN")
    context.set_default_timeout(30_000)
    page = context.new_page()
    try:
        sign_in(page, base)
        before = balance(db, seed.shop, seed.pen)
        page.goto(base + "/documents/sale")
        fill_sale(page, seed, seed.pen, 3)
        page.click("form[data-document-form] button[type=submit]")
        expect(page).to_have_url(re.compile(r"/documents/sale\?posted=SI[\w-]+&lang=zh-CN$"))
        expect(page.locator("[data-flash]")).to_contain_text("已过账")
        assert balance(db, seed.shop, seed.pen) == before - 3
    finally:
        context.close()


def test_form_shows_queued_when_the_edge_answers_202(
    server: tuple[LiveServer, Seed, Database], browser: Browser
) -> None:
    app_server, seed, db = server
    proxy = OfflineEdgeProxy(app_server.base)
    proxy.start()
    context = browser.new_context(locale="en-US")
    context.set_default_timeout(30_000)
    # An edge node is often reached over plain http on a LAN address, where browsers have no
    # crypto.randomUUID (secure contexts only): the script must fall back to getRandomValues.
    context.add_init_script("Object.defineProperty(Crypto.prototype, 'randomUUID', "
                            "{value: undefined, configurable: true});")
    page = context.new_page()
    try:
        base = proxy.base
        assert page.evaluate("typeof crypto.randomUUID") == "undefined"
        sign_in(page, base)
        before = balance(db, seed.shop, seed.tea)
        page.goto(base + "/documents/sale")
        client_id = page.locator("input[name=client_id]").input_value()
        fill_sale(page, seed, seed.tea, 1)
        page.click("form[data-document-form] button[type=submit]")
        status = page.locator("[data-form-status]")
        expect(status).to_have_attribute("data-state", "queued")
        expect(status).to_contain_text("Queued, will sync")
        expect(status).to_contain_text("Changes waiting to sync: 1")
        assert len(proxy.queued) == 1
        sent = proxy.queued[0]
        assert UUID_RE.match(sent["headers"]["Idempotency-Key"])
        assert sent["headers"]["Content-Type"] == "application/json"
        assert sent["headers"]["X-CSRF-Token"]
        assert sent["body"] == {
            "id": client_id, "type": "sales_issue", "warehouse_id": seed.shop, "post": True,
            "lines": [{"product_id": seed.tea, "qty": 1}],
        }
        assert balance(db, seed.shop, seed.tea) == before  # only queued, not posted

        # The next document gets a new client UUID and a new key; Chinese message.
        page.click('a[data-lang="zh-CN"]')
        fill_sale(page, seed, seed.tea, 2)
        page.click("form[data-document-form] button[type=submit]")
        expect(status).to_contain_text("已排队，联网后将自动同步。")
        assert len(proxy.queued) == 2
        second = proxy.queued[1]
        assert second["body"]["id"] != client_id
        assert second["headers"]["Idempotency-Key"] != sent["headers"]["Idempotency-Key"]
    finally:
        context.close()
        proxy.stop()


def test_a_viewer_sees_the_shared_page_without_the_forms(
    server: tuple[LiveServer, Seed, Database], browser: Browser
) -> None:
    # The HTML is the same for every user; the script hides what the role cannot use.
    app_server, _seed, _db = server
    context = browser.new_context(locale="en-US")
    context.set_default_timeout(30_000)
    page = context.new_page()
    try:
        sign_in(page, app_server.base, "viewer")
        expect(page.locator("[data-user-role]")).to_have_text("Viewer")
        expect(page.locator("nav a", has_text="Sell")).to_be_hidden()
        expect(page.locator("nav a", has_text="Ledger")).to_be_visible()
        expect(page.locator(".card[data-needs-post]")).to_be_hidden()
        response = page.goto(app_server.base + "/documents/sale?lang=en")
        assert response is not None and response.status == 403
    finally:
        context.close()
