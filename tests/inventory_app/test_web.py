"""Web UI tests: sign-in, roles, every page in English and Chinese, form posts, CSRF.

In-process (Starlette TestClient) against the real app from ``create_app`` on a SQLite file
created by the Alembic migrations, with a small seed written through the services.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from inventory_app.db import Database
from inventory_app.i18n import catalogue, choose_locale, negotiate, normalise_locale
from inventory_app.main import create_app
from inventory_app.migrate import upgrade
from inventory_app.services import auth
from inventory_app.settings import Settings

from tests.inventory_app.test_web_support import (
    PASSWORDS,
    Seed,
    balance,
    client_id_field,
    csrf_of,
    new_client_id,
    seed_small,
    session_csrf,
)

WebWorld = tuple[TestClient, Database, Seed]
ZH = {"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.5"}
EN = {"Accept-Language": "en-US,en;q=0.9"}


@pytest.fixture(scope="module")
def web_world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebWorld]:
    data_dir = tmp_path_factory.mktemp("web")
    url = f"sqlite:///{data_dir / 'inventory.db'}"
    upgrade(url)
    settings = Settings(database_url=url, data_dir=data_dir, log_requests=False)
    app = create_app(settings)
    with TestClient(app, base_url="http://testserver") as client:
        db: Database = app.state.db
        seed = seed_small(db)
        yield client, db, seed


def login(client: TestClient, role: str) -> TestClient:
    """A fresh client (own cookie jar) signed in as ``role``."""
    fresh = TestClient(client.app, base_url="http://testserver")
    page = fresh.get("/login")
    response = fresh.post(
        "/login",
        data={
            "username": role,
            "password": PASSWORDS[role],
            "csrf_token": csrf_of(page.text),
            "next": "/",
        },
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return fresh


@pytest.fixture(scope="module")
def clerk(web_world: WebWorld) -> TestClient:
    return login(web_world[0], "clerk")


@pytest.fixture(scope="module")
def viewer(web_world: WebWorld) -> TestClient:
    return login(web_world[0], "viewer")


def pages(seed: Seed) -> list[str]:
    return [
        "/",
        "/products",
        "/products?q=tea",
        f"/products/{seed.tea}",
        "/stock",
        f"/stock?warehouse_id={seed.shop}",
        "/ledger",
        f"/ledger?warehouse_id={seed.shop}&product_id={seed.tea}",
        "/documents/purchase",
        "/documents/sale",
        "/documents/transfer",
        f"/documents/stocktake?warehouse_id={seed.shop}",
    ]


# ---- languages --------------------------------------------------------------------------------
def test_catalogues_have_the_same_keys_and_cover_every_used_key() -> None:
    en, zh = catalogue("en"), catalogue("zh-CN")
    assert set(en) == set(zh)
    untranslated = [k for k in en if zh[k] == en[k] and not re.fullmatch(r"[\W\d_A-Z]*", en[k])]
    assert untranslated == []
    package = resources.files("inventory_app")
    sources = [p.read_text("utf-8") for p in package.joinpath("templates").iterdir()]
    web_dir = Path(str(package.joinpath("web")))
    sources += [p.read_text("utf-8") for p in web_dir.glob("*.py")]
    used = set()
    for text in sources:
        used |= set(re.findall(r"""\bt\(\s*["']([a-z_]+\.[a-z_.]+)["']""", text))
        used |= set(re.findall(r'"((?:nav|form|error|tile|flash|col)\.[a-z_.]+)"', text))
    used = {k for k in used if not k.endswith((".", ".html"))}
    missing = sorted(k for k in used if k not in en)
    assert missing == []
    js = package.joinpath("static", "app.js").read_text("utf-8")
    js_keys = set(re.findall(r'msg\("((?:js|error)\.[a-z_]+)"', js))
    assert js_keys and js_keys <= set(en)
    assert "js.insufficient" in js_keys
    for slug in ("csrf", "forbidden", "not_found"):
        assert f"error.{slug}.title" in en and f"error.{slug}.detail" in en


def test_locale_negotiation() -> None:
    assert negotiate("zh-CN,zh;q=0.9,en;q=0.8") == "zh-CN"
    assert negotiate("en-GB,zh;q=0.5") == "en"
    assert negotiate("fr, zh-Hans;q=0.4") == "zh-CN"
    assert negotiate("zh-TW") == "en"
    assert negotiate("") == "en"
    assert negotiate("de;q=1, en;q=0") == "en"
    assert normalise_locale("zh_CN") == "zh-CN"
    assert choose_locale("en", "zh-CN", "zh") == "en"
    assert choose_locale(None, "zh-CN", "en") == "zh-CN"
    assert choose_locale("xx", None, "zh") == "zh-CN"


# ---- sign-in and roles ------------------------------------------------------------------------
def test_every_page_needs_a_sign_in(web_world: WebWorld) -> None:
    client, _db, seed = web_world
    anonymous = TestClient(client.app, base_url="http://testserver")
    for path in pages(seed):
        response = anonymous.get(path, follow_redirects=False)
        assert response.status_code == 303, path
        assert response.headers["location"].startswith("/login?next=")
        assert "Accept-Language" in response.headers["vary"]
    response = anonymous.post("/documents/sale", data={"warehouse_id": "1"}, follow_redirects=False)
    assert response.status_code == 303


def test_login_page_and_failures(web_world: WebWorld) -> None:
    client, _db, _seed = web_world
    anonymous = TestClient(client.app, base_url="http://testserver")
    page = anonymous.get("/login", headers=ZH)
    assert page.status_code == 200
    assert "登录" in page.text and 'lang="zh-Hans-CN"' in page.text
    assert "Accept-Language" in page.headers["vary"]
    assert "no-store" in page.headers["cache-control"]
    wrong = anonymous.post(
        "/login",
        data={"username": "clerk", "password": "nope", "csrf_token": csrf_of(page.text)},
        headers=ZH,
    )
    assert wrong.status_code == 401
    assert "用户名或密码错误" in wrong.text
    assert "inventory_session" not in wrong.cookies
    forged = TestClient(client.app, base_url="http://testserver").post(
        "/login", data={"username": "clerk", "password": PASSWORDS["clerk"], "csrf_token": "x"}
    )
    assert forged.status_code == 403
    assert "inventory_session" not in forged.cookies


def test_session_cookie_flags_and_logout(web_world: WebWorld) -> None:
    client, _db, _seed = web_world
    fresh = TestClient(client.app, base_url="http://testserver")
    page = fresh.get("/login?next=/stock")
    response = fresh.post(
        "/login",
        data={
            "username": "admin",
            "password": PASSWORDS["admin"],
            "csrf_token": csrf_of(page.text),
            "next": "/stock",
        },
        follow_redirects=False,
    )
    assert response.status_code == 303 and response.headers["location"] == "/stock"
    cookie = response.headers["set-cookie"].lower()
    assert "inventory_session=" in cookie and "httponly" in cookie and "samesite=strict" in cookie
    dashboard = fresh.get("/")
    assert dashboard.status_code == 200
    token = session_csrf(fresh)
    assert fresh.post("/logout", data={"csrf_token": "bad"}).status_code == 403
    out = fresh.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/login"
    # The session token was revoked, not only forgotten by the browser.
    session_value = response.cookies.get("inventory_session")
    again = TestClient(
        client.app, base_url="http://testserver", cookies={"inventory_session": session_value or ""}
    )
    assert again.get("/", follow_redirects=False).status_code == 303


def test_open_redirect_is_refused(web_world: WebWorld) -> None:
    client, _db, _seed = web_world
    fresh = TestClient(client.app, base_url="http://testserver")
    page = fresh.get("/login")
    response = fresh.post(
        "/login",
        data={
            "username": "viewer",
            "password": PASSWORDS["viewer"],
            "csrf_token": csrf_of(page.text),
            "next": "//evil.example/",
        },
        follow_redirects=False,
    )
    assert response.headers["location"] == "/"


def test_viewer_sees_no_forms_and_cannot_post(web_world: WebWorld, viewer: TestClient) -> None:
    _client, db, seed = web_world
    dashboard = viewer.get("/")
    assert dashboard.status_code == 200
    assert re.search(r'<a href="/documents/sale\?lang=en"[^>]* data-needs-post>', dashboard.text)
    assert viewer.get("/documents/sale").status_code == 403
    assert "no-store" in viewer.get("/documents/sale").headers["cache-control"]
    assert viewer.get("/documents/stocktake").status_code == 403
    before = balance(db, seed.shop, seed.tea)
    response = viewer.post(
        "/documents/sale",
        data={
            "csrf_token": session_csrf(viewer),
            "warehouse_id": str(seed.shop),
            "product_id": str(seed.tea),
            "qty": "1",
        },
    )
    assert response.status_code == 403
    assert balance(db, seed.shop, seed.tea) == before


def test_clerk_nav_has_the_forms(clerk: TestClient, viewer: TestClient) -> None:
    # The page is the same HTML for every user (a cache shares it): the form links are marked,
    # and the page's script hides them from roles that cannot post (the server refuses anyway).
    page = clerk.get("/")
    for href in (
        "/documents/purchase",
        "/documents/sale",
        "/documents/transfer",
        "/documents/stocktake",
    ):
        assert re.search(rf'<a href="{href}\?lang=en"[^>]* data-needs-post>', page.text), href
    assert viewer.get("/").text == page.text


# ---- pages in both languages ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("headers", "lang", "words"),
    [(EN, "en", ["Dashboard", "Log out"]), (ZH, "zh-Hans-CN", ["概览", "退出登录"])],
)
def test_every_page_renders_in_both_languages(
    web_world: WebWorld,
    clerk: TestClient,
    headers: dict[str, str],
    lang: str,
    words: list[str],
) -> None:
    _client, _db, seed = web_world
    for path in pages(seed):
        response = clerk.get(path, headers=headers)
        assert response.status_code == 200, (path, response.text[:500])
        assert response.headers["content-type"].startswith("text/html")
        # A page names its language in its URL (a redirect adds it), so it varies on nothing
        # else and a shared cache may keep it (DESIGN §3 rule 7).
        assert f"lang={response.headers['content-language']}" in str(response.url)
        assert "vary" not in response.headers
        assert response.headers["cache-control"] == "public, max-age=0, stale-if-error=604800"
        assert f'<html lang="{lang}">' in response.text
        for word in words:
            assert word in response.text, (path, word)
        other = ["概览", "退出登录"] if lang == "en" else ["Dashboard", "Log out"]
        for word in other:
            assert word not in response.text, (path, word)


def test_dashboard_lists_low_stock(clerk: TestClient) -> None:
    page = clerk.get("/", headers=ZH)
    assert "库存预警" in page.text
    assert "CUP-01" in page.text and "Paper cup" in page.text


def test_language_switch_is_remembered(web_world: WebWorld) -> None:
    # Pages carry their language in the URL and every link keeps it (the switch no longer sets a
    # cookie on a page: a shared page sets no cookie). A remembered choice (the cookie set by
    # the sign-in page's switch, or by the page script on a switch) picks the language of a
    # URL that names none.
    client, _db, _seed = web_world
    user = login(client, "clerk")
    switched = user.get("/stock?lang=zh-CN", headers=EN)
    assert switched.status_code == 200 and "各仓库存" in switched.text
    assert switched.headers["content-language"] == "zh-CN"
    assert "set-cookie" not in switched.headers
    assert 'href="/ledger?lang=zh-CN"' in switched.text
    later = user.get("/ledger?lang=zh-CN", headers=EN)
    assert "库存流水" in later.text
    back = user.get("/stock?lang=en")
    assert "Stock by warehouse" in back.text
    assert 'href="/stock?lang=zh-CN"' in back.text
    bare = user.get("/stock", headers=EN, follow_redirects=False)
    assert bare.status_code == 303 and bare.headers["location"] == "/stock?lang=en"
    user.cookies.set("inventory_lang", "zh-CN")
    remembered = user.get("/stock", headers=EN, follow_redirects=False)
    assert remembered.headers["location"] == "/stock?lang=zh-CN"
    assert "no-store" in remembered.headers["cache-control"]
    signin = TestClient(client.app, base_url="http://testserver").get("/login?lang=zh-CN")
    assert "inventory_lang=zh-CN" in signin.headers["set-cookie"]


def test_product_search_and_pagination(clerk: TestClient, web_world: WebWorld) -> None:
    _client, _db, seed = web_world
    found = clerk.get("/products?q=tea")
    assert "TEA-01" in found.text and "CUP-01" not in found.text
    none = clerk.get("/products?q=no-such-thing")
    assert "No products found." in none.text
    detail = clerk.get(f"/products/{seed.tea}")
    assert "Shop One" in detail.text and "Central" in detail.text
    assert clerk.get("/products/999999").status_code == 404
    assert clerk.get("/products/abc").status_code == 404
    assert clerk.get("/products?after=zzz").status_code == 200


def test_pagination_of_products_stock_and_ledger(
    clerk: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from inventory_app.web import pages as web_pages

    monkeypatch.setattr(web_pages, "PAGE_SIZE", 2)
    for path, row_marker in (
        ("/products", 'href="/products/'),
        ("/stock", "data-stock-row="),
        ("/ledger", '<td class="num">'),
    ):
        seen: list[str] = []
        url: str | None = path
        for _ in range(20):
            assert url is not None
            response = clerk.get(url)
            assert response.status_code == 200, (url, response.text[:300])
            body = (
                response.text.split("<tbody>")[1].split("</tbody>")[0]
                if "<tbody>" in response.text
                else ""
            )
            seen.append(body)
            found = re.search(r'<a href="([^"]+)" rel="next">', response.text)
            url = found.group(1).replace("&amp;", "&") if found else None
            if url is None:
                break
        assert len(seen) >= 2, path
        assert url is None, f"{path} paging did not end"
        assert all(row_marker in body for body in seen[:-1]), path


def test_static_assets_are_local_and_immutable(clerk: TestClient) -> None:
    page = clerk.get("/")
    css = re.search(r'href="(/static/app\.css\?v=[0-9a-f]+)"', page.text)
    js = re.search(r'src="(/static/app\.js\?v=[0-9a-f]+)"', page.text)
    assert css and js
    assert "http://" not in page.text.split("<main>")[0].replace("http://testserver", "")
    response = clerk.get(css.group(1))
    assert response.status_code == 200 and "immutable" in response.headers["cache-control"]
    assert (
        clerk.get(css.group(1), headers={"If-None-Match": response.headers["etag"]}).status_code
        == 304
    )
    assert clerk.get(js.group(1)).headers["content-type"].startswith("text/javascript")
    assert clerk.get("/static/../settings.py").status_code == 404


# ---- posting documents through the forms ------------------------------------------------------
def form_page(client: TestClient, path: str, headers: dict[str, str] | None = None) -> str:
    response = client.get(path, headers=headers or EN)
    assert response.status_code == 200
    return response.text


def test_sale_form_posts_and_changes_stock(web_world: WebWorld, clerk: TestClient) -> None:
    _client, db, seed = web_world
    before = balance(db, seed.shop, seed.tea)
    html = form_page(clerk, "/documents/sale?lang=zh-CN")
    assert client_id_field(html) == ""  # a shared page: the script draws the document's UUID
    data = {
        "csrf_token": session_csrf(clerk),
        "client_id": new_client_id(),
        "warehouse_id": str(seed.shop),
        "partner_id": str(seed.customer),
        "product_id": [str(seed.tea), "", ""],
        "qty": ["3", "", ""],
        "unit_price": ["12.50", "", ""],
    }
    response = clerk.post("/documents/sale?lang=zh-CN", data=data, follow_redirects=False)
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert re.fullmatch(r"/documents/sale\?posted=SI[\w-]+&lang=zh-CN", location), location
    assert balance(db, seed.shop, seed.tea) == before - 3
    shown = clerk.get(location)
    assert "已过账" in shown.text and "SI" in shown.text
    # Posting the same form again (double click, back button, edge replay) posts nothing new.
    again = clerk.post("/documents/sale", data=data, follow_redirects=False)
    assert again.status_code == 303
    assert balance(db, seed.shop, seed.tea) == before - 3
    ledger = clerk.get(f"/ledger?warehouse_id={seed.shop}&product_id={seed.tea}")
    assert "-3" in ledger.text


def test_purchase_form_posts(web_world: WebWorld, clerk: TestClient) -> None:
    _client, db, seed = web_world
    before = balance(db, seed.central, seed.pen)
    form_page(clerk, "/documents/purchase")
    response = clerk.post(
        "/documents/purchase",
        data={
            "csrf_token": session_csrf(clerk),
            "client_id": new_client_id(),
            "warehouse_id": str(seed.central),
            "partner_id": str(seed.supplier),
            "product_id": [str(seed.pen), str(seed.cup)],
            "qty": ["25", "4"],
            "unit_price": ["0.80", ""],
        },
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    assert balance(db, seed.central, seed.pen) == before + 25


def test_transfer_form_posts(web_world: WebWorld, clerk: TestClient) -> None:
    _client, db, seed = web_world
    src, dst = balance(db, seed.central, seed.tea), balance(db, seed.shop, seed.tea)
    form_page(clerk, "/documents/transfer")
    response = clerk.post(
        "/documents/transfer",
        data={
            "csrf_token": session_csrf(clerk),
            "client_id": new_client_id(),
            "warehouse_id": str(seed.central),
            "to_warehouse_id": str(seed.shop),
            "product_id": [str(seed.tea)],
            "qty": ["10"],
        },
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    assert balance(db, seed.central, seed.tea) == src - 10
    assert balance(db, seed.shop, seed.tea) == dst + 10


def test_stocktake_posts_the_difference(web_world: WebWorld, clerk: TestClient) -> None:
    _client, db, seed = web_world
    html = form_page(clerk, f"/documents/stocktake?warehouse_id={seed.shop}", ZH)
    assert "实盘数量" in html and "PEN-01" in html
    expected = balance(db, seed.shop, seed.pen)
    assert f'name="expected_qty" value="{expected}"' in html
    # A sale happens after the count sheet was printed: the count still posts only the
    # difference counted - expected, so the sale is not undone.
    form_page(clerk, "/documents/sale")
    clerk.post(
        "/documents/sale",
        data={
            "csrf_token": session_csrf(clerk),
            "client_id": new_client_id(),
            "warehouse_id": str(seed.shop),
            "product_id": [str(seed.pen)],
            "qty": ["2"],
        },
    )
    products = re.findall(r'name="product_id" value="(\d+)"', html)
    counted = ["" for _ in products]
    counted[products.index(str(seed.pen))] = str(expected - 5)
    expected_values = re.findall(r'name="expected_qty" value="(-?\d+)"', html)
    response = clerk.post(
        "/documents/stocktake",
        data={
            "csrf_token": session_csrf(clerk),
            "client_id": new_client_id(),
            "warehouse_id": str(seed.shop),
            "product_id": products,
            "expected_qty": expected_values,
            "counted_qty": counted,
        },
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    assert balance(db, seed.shop, seed.pen) == expected - 2 - 5


@pytest.mark.parametrize(
    ("path", "fields", "message_en", "message_zh"),
    [
        ("/documents/sale", {"qty": ["abc"]}, "Enter a whole number.", "请输入整数。"),
        ("/documents/sale", {"qty": ["-4"]}, "greater than zero", "数量必须大于零"),
        ("/documents/sale", {"qty": ["0"]}, "greater than zero", "数量必须大于零"),
        ("/documents/sale", {"warehouse_id": ""}, "This field is required.", "此项必填。"),
        ("/documents/sale", {"warehouse_id": "99999"}, "Unknown warehouse.", "仓库不存在。"),
        ("/documents/sale", {"product_id": ["99999"]}, "Unknown product.", "商品不存在。"),
        (
            "/documents/sale",
            {"product_id": [""], "qty": [""]},
            "Add at least one line",
            "请至少填写一行",
        ),
        (
            "/documents/sale",
            {"qty": ["100000"]},
            "Not enough stock of Green tea",
            "Green tea 库存不足",
        ),
        ("/documents/sale", {"unit_price": ["cheap"]}, "Enter a price", "请输入零或正数的价格"),
        (
            "/documents/transfer",
            {"to_warehouse_id": "SAME"},
            "Choose a different warehouse",
            "调入仓库不能与调出仓库相同",
        ),
    ],
)
def test_bad_form_input_shows_a_clear_error(
    web_world: WebWorld,
    clerk: TestClient,
    path: str,
    fields: dict[str, object],
    message_en: str,
    message_zh: str,
) -> None:
    _client, db, seed = web_world
    before = balance(db, seed.shop, seed.tea)
    for headers, message in ((EN, message_en), (ZH, message_zh)):
        form_page(clerk, path)
        data: dict[str, object] = {
            "csrf_token": session_csrf(clerk),
            "client_id": new_client_id(),
            "warehouse_id": str(seed.shop),
            "product_id": [str(seed.tea)],
            "qty": ["1"],
        }
        if path.endswith("transfer"):
            data["to_warehouse_id"] = str(seed.central)
        data.update(fields)
        if data.get("to_warehouse_id") == "SAME":
            data["to_warehouse_id"] = data["warehouse_id"]
        response = clerk.post(path, data=data, headers=headers, follow_redirects=False)
        assert response.status_code == 422, response.text[:300]
        assert message in response.text
        assert (
            'aria-invalid="true"' in response.text
            or "Add at least" in message
            or "请至少" in message
            or "stock" in message
            or "库存" in message
        )
    assert balance(db, seed.shop, seed.tea) == before


def test_bad_stocktake_input(web_world: WebWorld, clerk: TestClient) -> None:
    _client, _db, seed = web_world
    form_page(clerk, f"/documents/stocktake?warehouse_id={seed.shop}")
    for counted, message in (
        ("-1", "Enter zero or more."),
        ("x", "Enter a whole number."),
        ("", "Enter the counted quantity"),
    ):
        response = clerk.post(
            "/documents/stocktake",
            data={
                "csrf_token": session_csrf(clerk),
                "client_id": new_client_id(),
                "warehouse_id": str(seed.shop),
                "product_id": [str(seed.tea)],
                "expected_qty": ["5"],
                "counted_qty": [counted],
            },
        )
        assert response.status_code == 422
        assert message in response.text


# ---- CSRF -------------------------------------------------------------------------------------
def test_form_posts_without_the_csrf_token_are_refused(
    web_world: WebWorld, clerk: TestClient
) -> None:
    _client, db, seed = web_world
    before = balance(db, seed.shop, seed.tea)
    form_page(clerk, "/documents/sale")
    base = {
        "client_id": new_client_id(),
        "warehouse_id": str(seed.shop),
        "product_id": [str(seed.tea)],
        "qty": ["1"],
    }
    missing = clerk.post("/documents/sale", data=base)
    assert missing.status_code == 403 and "Form expired" in missing.text
    wrong = clerk.post("/documents/sale", data={**base, "csrf_token": "0" * 64}, headers=ZH)
    assert wrong.status_code == 403 and "表单已失效" in wrong.text
    other_user = login(web_world[0], "admin")
    foreign = session_csrf(other_user)
    assert clerk.post("/documents/sale", data={**base, "csrf_token": foreign}).status_code == 403
    cross = clerk.post(
        "/documents/sale",
        data={**base, "csrf_token": session_csrf(clerk)},
        headers={"Sec-Fetch-Site": "cross-site"},
    )
    assert cross.status_code == 403
    assert balance(db, seed.shop, seed.tea) == before


def test_pages_carry_the_js_messages(clerk: TestClient) -> None:
    page = clerk.get("/documents/sale", headers=ZH)
    blob = re.search(
        r'<script type="application/json" id="ui-messages">(.*?)</script>', page.text, re.S
    )
    assert blob
    messages = json.loads(blob.group(1))
    assert messages["js.queued"] == "已排队，联网后将自动同步。"
    assert 'data-document-type="sales_issue"' in page.text


def test_form_post_without_a_token_needs_the_browsers_same_origin_label(
    web_world: WebWorld, clerk: TestClient
) -> None:
    # Shared pages carry no CSRF token; a browser without JavaScript posts none. Such a post is
    # accepted only when the browser itself says Sec-Fetch-Site: same-origin.
    _client, db, seed = web_world
    before = balance(db, seed.shop, seed.pen)
    base = {"warehouse_id": str(seed.shop), "product_id": [str(seed.pen)], "qty": ["1"]}
    for site in ("same-site", "cross-site", "none", ""):
        headers = {"Sec-Fetch-Site": site} if site else {}
        refused = clerk.post("/documents/sale", data=base, headers=headers)
        assert refused.status_code == 403, site
    assert balance(db, seed.shop, seed.pen) == before
    posted = clerk.post(
        "/documents/sale", data=base, headers={"Sec-Fetch-Site": "same-origin"},
        follow_redirects=False,
    )
    assert posted.status_code == 303, posted.text[:300]
    assert balance(db, seed.shop, seed.pen) == before - 1
    # A wrong token is refused even with the label.
    wrong = clerk.post(
        "/documents/sale", data={**base, "csrf_token": "0" * 64},
        headers={"Sec-Fetch-Site": "same-origin"},
    )
    assert wrong.status_code == 403
    assert balance(db, seed.shop, seed.pen) == before - 1


# ---- pages a cache may share ------------------------------------------------------------------
def test_pages_are_the_same_for_every_user_with_strong_etags(
    web_world: WebWorld, clerk: TestClient
) -> None:
    client, db, seed = web_world
    admin = login(client, "admin")
    with db.write() as s:
        device = auth.create_token(s, role="device", name="edge SHOP1", warehouse_id=seed.shop)
    for path in pages(seed):
        mine = clerk.get(path)
        assert mine.status_code == 200, path
        url = str(mine.url).removeprefix("http://testserver")
        assert mine.headers["cache-control"] == "public, max-age=0, stale-if-error=604800"
        assert "set-cookie" not in mine.headers
        etag = mine.headers["etag"]
        assert etag.startswith('"') and not etag.startswith("W/"), etag
        # Nothing of the session in the HTML: no CSRF token, no session token, no document UUID.
        assert session_csrf(clerk) not in mine.text
        assert str(clerk.cookies.get("inventory_session")) not in mine.text
        theirs = admin.get(url)
        assert theirs.text == mine.text and theirs.headers["etag"] == etag, url
        # A device token (an edge warming its copy) reads the same page.
        warmed = TestClient(client.app, base_url="http://testserver").get(
            url, headers={"Authorization": f"Bearer {device}"}
        )
        assert warmed.status_code == 200 and warmed.headers["etag"] == etag, url
        again = clerk.get(url, headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.content == b"", url
        assert again.headers["etag"] == etag
        assert "public" in again.headers["cache-control"]


def test_bare_page_urls_redirect_to_their_language(clerk: TestClient) -> None:
    bare = clerk.get("/products?q=tea", headers=ZH, follow_redirects=False)
    assert bare.status_code == 303
    assert bare.headers["location"] == "/products?q=tea&lang=zh-CN"
    # Chosen by Accept-Language alone, the redirect may be shared like the page it names.
    assert bare.headers["vary"] == "Accept-Language"
    assert "public" in bare.headers["cache-control"]
    anonymous = TestClient(clerk.app, base_url="http://testserver")
    assert anonymous.get("/?lang=en", follow_redirects=False).headers["location"].startswith(
        "/login?next="
    )


def test_sign_in_cookies_carry_the_per_user_parts(web_world: WebWorld) -> None:
    client, _db, _seed = web_world
    fresh = TestClient(client.app, base_url="http://testserver")
    page = fresh.get("/login")
    response = fresh.post(
        "/login",
        data={
            "username": "clerk", "password": PASSWORDS["clerk"], "csrf_token": csrf_of(page.text)
        },
        follow_redirects=False,
    )
    cookies = {c.split("=", 1)[0]: c.lower() for c in response.headers.get_list("set-cookie")}
    assert "httponly" in cookies["inventory_session"]
    for name in ("inventory_csrf", "inventory_user"):
        assert "httponly" not in cookies[name] and "samesite=strict" in cookies[name], name
    raw = str(fresh.cookies.get("inventory_user"))
    shown = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    assert shown == {"n": "clerk", "r": "clerk"}
    me = fresh.get("/web/me")
    assert me.json() == {"signed_in": True, "name": "clerk", "role": "clerk", "can_post": True}
    assert me.headers["cache-control"] == "private, no-store"
    out = fresh.post("/logout", data={"csrf_token": session_csrf(fresh)}, follow_redirects=False)
    assert out.status_code == 303
    cleared = " ".join(out.headers.get_list("set-cookie"))
    for name in ("inventory_session", "inventory_csrf", "inventory_user"):
        assert f'{name}="";' in cleared or f"{name}=;" in cleared, name
    assert TestClient(client.app, base_url="http://testserver").get("/web/me").status_code == 401


def test_a_device_token_reads_pages_but_cannot_post_forms(web_world: WebWorld) -> None:
    client, db, seed = web_world
    with db.write() as s:
        device = auth.create_token(s, role="device", name="edge SHOP1b", warehouse_id=seed.shop)
    edge = TestClient(
        client.app, base_url="http://testserver", headers={"Authorization": f"Bearer {device}"}
    )
    assert edge.get("/documents/sale?lang=en").status_code == 200
    before = balance(db, seed.shop, seed.tea)
    posted = edge.post(
        "/documents/sale",
        data={"warehouse_id": str(seed.shop), "product_id": [str(seed.tea)], "qty": ["1"]},
        headers={"Sec-Fetch-Site": "same-origin"}, follow_redirects=False,
    )
    assert posted.status_code == 303 and posted.headers["location"].startswith("/login")
    assert balance(db, seed.shop, seed.tea) == before


def test_a_queued_form_post_replayed_by_an_edge_posts_once_and_an_oversell_is_reviewed(
    web_world: WebWorld, clerk: TestClient
) -> None:
    # Without JavaScript the form has no client UUID: the edge's Idempotency-Key (kept for the
    # replay) names the document, so a replay sent twice posts once. A sale replayed from an
    # edge that oversells is accepted and flagged, and the dashboard lists it for review.
    _client, db, seed = web_world
    with db.write() as s:
        device = auth.create_token(s, role="device", name="edge SHOP1c", warehouse_id=seed.shop)
    have = balance(db, seed.shop, seed.cup)
    replay = {
        "Sec-Fetch-Site": "same-origin",
        "Idempotency-Key": new_client_id(),
        "X-Edge-Device-Authorization": f"Bearer {device}",
        "X-Edge-Queued-At": "2026-01-01T10:00:00Z",
    }
    data = {"warehouse_id": str(seed.shop), "product_id": [str(seed.cup)], "qty": [str(have + 4)]}
    for _ in range(2):
        response = clerk.post("/documents/sale", data=data, headers=replay, follow_redirects=False)
        assert response.status_code == 303, response.text[:300]
    assert balance(db, seed.shop, seed.cup) == have - (have + 4)
    after = balance(db, seed.shop, seed.cup)
    for headers, word, detail in (
        (EN, "oversold", f"the balance went to {after}."), (ZH, "超卖", f"结存变为 {after}。")
    ):
        dashboard = clerk.get("/", headers=headers)
        rows = re.findall(r"<tr data-review=.*?</tr>", dashboard.text, re.S)
        assert any(
            word in row and detail in row and "Paper cup" in row and "edge SHOP1c" in row
            for row in rows
        ), rows


def test_a_replay_dated_in_the_future_is_listed_for_review_in_both_languages(
    web_world: WebWorld, clerk: TestClient
) -> None:
    # An edge whose clock is ahead: the sale is kept, dated at the cloud's receive time, and
    # the dashboard says why it is listed, in the clerk's language.
    _client, db, seed = web_world
    with db.write() as s:
        device = auth.create_token(s, role="device", name="edge SHOP1d", warehouse_id=seed.shop)
    replay = {
        "Sec-Fetch-Site": "same-origin",
        "Idempotency-Key": new_client_id(),
        "X-Edge-Device-Authorization": f"Bearer {device}",
        "X-Edge-Queued-At": "2999-01-01T10:00:00Z",
    }
    data = {"warehouse_id": str(seed.shop), "product_id": [str(seed.cup)], "qty": ["1"]}
    response = clerk.post("/documents/sale", data=data, headers=replay, follow_redirects=False)
    assert response.status_code == 303, response.text[:300]
    for headers, word, detail in (
        (EN, "clock skew", "receive time was used"),
        (ZH, "时钟偏差", "已改用云端接收时间"),
    ):
        dashboard = clerk.get("/", headers=headers)
        rows = re.findall(r"<tr data-review=.*?</tr>", dashboard.text, re.S)
        assert any(word in row and detail in row and "review.clock_skew" not in row
                   for row in rows), rows
