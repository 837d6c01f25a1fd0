"""Jinja2 rendering of web pages with the headers every UI response carries.

Two kinds of answer (DESIGN §3 rule 7):

* **shared pages** (every signed-in page): the same HTML for every user, in the language of the
  URL, ``Cache-Control: public, max-age=0, stale-if-error=604800`` and a strong ETag (added by
  the app's ETag middleware, with 304 on ``If-None-Match``). An edge cache may keep one copy,
  revalidate it while the cloud is reachable and serve it stale while it is not. Who is signed
  in, the role and the CSRF token reach the page's script through cookies (``cookies.py``).
* **private answers** (sign-in page, redirects, error pages): ``private, no-store``,
  ``Vary: Accept-Language, Cookie``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any, Final
from urllib.parse import urlencode

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from inventory_app.i18n import LANG_COOKIE, LOCALE_NAMES, SUPPORTED_LOCALES, Translator
from inventory_app.web.locale import request_locale, switched_locale, url_locale

FLASH_COOKIE: Final = "inventory_flash"
PER_USER_CACHE_CONTROL: Final = "private, no-store"
PUBLIC_PAGE_CACHE_CONTROL: Final = "private, no-cache"
SHARED_PAGE_CACHE_CONTROL: Final = "public, max-age=0, stale-if-error=604800"
POSTED_PARAM: Final = "posted"
POSTED_RE: Final = re.compile(r"[A-Za-z0-9-]{1,64}")
CONTENT_SECURITY_POLICY: Final = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
STATIC_FILES: Final = ("app.css", "app.js")


@dataclass(frozen=True)
class NavItem:
    href: str
    label: str
    current: bool
    needs_post: bool = False


@cache
def environment() -> Environment:
    return Environment(
        loader=PackageLoader("inventory_app", "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )


@cache
def static_bytes(name: str) -> bytes:
    if name not in STATIC_FILES:
        raise KeyError(name)
    return resources.files("inventory_app").joinpath("static", name).read_bytes()


@cache
def static_version(name: str) -> str:
    return hashlib.sha256(static_bytes(name)).hexdigest()[:16]


def static_url(name: str) -> str:
    """A content-addressed URL of a static file (served ``immutable``)."""
    return f"/static/{name}?v={static_version(name)}"


def hardening_headers(response: Response) -> None:
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY


def apply_shared_headers(response: Response, locale: str) -> None:
    """Headers of a page any user may be served: it varies on its URL only (no cookie)."""
    response.headers["Cache-Control"] = SHARED_PAGE_CACHE_CONTROL
    response.headers["Content-Language"] = locale
    hardening_headers(response)


def apply_ui_headers(request: Request, response: Response, cache_control: str) -> None:
    """Headers every private UI response carries (language variance, caching, hardening)."""
    response.headers["Vary"] = "Accept-Language, Cookie"
    response.headers["Cache-Control"] = cache_control
    response.headers["Content-Language"] = request_locale(request)
    hardening_headers(response)


def remember_locale(request: Request, response: Response) -> None:
    """Remember a language chosen with ``?lang=`` on the sign-in page (pages carry it in their
    URLs; ``static/app.js`` remembers a switch made on a page)."""
    chosen = switched_locale(request)
    if chosen:
        response.set_cookie(
            LANG_COOKIE, chosen, max_age=365 * 24 * 3600, path="/", samesite="lax", httponly=False
        )


def href_for(locale: str) -> Callable[..., str]:
    """``href("/stock", warehouse_id=2)`` → ``/stock?warehouse_id=2&lang=en``: links of a page
    keep its language. ``lang`` comes last, as in the page's GET forms (hidden field last), so a
    link and the form that asks for the same thing name the same URL (one cache entry)."""

    def href(path: str, **params: object) -> str:
        pairs = [(k, str(v)) for k, v in params.items() if v is not None]
        pairs.append(("lang", locale))
        return f"{path}?{urlencode(pairs)}"

    return href


def posted_flash(request: Request, t: Translator) -> dict[str, str] | None:
    """The "document posted" note of a form page reached by POST/redirect/GET (``?posted=``)."""
    number = request.query_params.get(POSTED_PARAM, "")
    if not POSTED_RE.fullmatch(number):
        return None
    return {"kind": "success", "text": t("flash.posted", number=number)}


def lang_url_for(request: Request, code: str) -> str:
    params = [
        (k, v) for k, v in request.query_params.multi_items() if k not in ("lang", POSTED_PARAM)
    ]
    params.append(("lang", code))
    return f"{request.url.path}?{urlencode(params)}"


def set_flash(response: Response, key: str, **params: object) -> None:
    """Remember a message for the next page (POST/redirect/GET)."""
    raw = json.dumps({"k": key, "p": {k: str(v) for k, v in params.items()}})
    value = base64.urlsafe_b64encode(raw.encode("utf-8")).decode("ascii")
    response.set_cookie(
        FLASH_COOKIE, value, max_age=120, path="/", samesite="strict", httponly=True
    )


def read_flash(request: Request, t: Translator) -> dict[str, str] | None:
    value = request.cookies.get(FLASH_COOKIE)
    if not value:
        return None
    try:
        data = json.loads(base64.urlsafe_b64decode(value.encode("ascii")))
        key = str(data["k"])
        params = {str(k): str(v) for k, v in dict(data.get("p", {})).items()}
    except (ValueError, KeyError, TypeError):
        return None
    if not key.startswith("flash.") or not t.has(key):
        return None
    kind = "queued" if key.endswith("queued") else "success"
    return {"kind": kind, "text": t(key, **params)}


def render(
    request: Request,
    template: str,
    *,
    user: Any = None,
    csrf_token: str = "",
    nav: list[NavItem] | None = None,
    status_code: int = 200,
    cache_control: str = PER_USER_CACHE_CONTROL,
    shared: bool = False,
    **context: Any,
) -> HTMLResponse:
    """Render ``template`` with the standard UI headers.

    ``shared``: a page for any signed-in user, in the URL's language, with no per-user part
    (``user`` only says that someone is signed in; the script shows who).
    """
    locale = (url_locale(request) if shared else None) or request_locale(request)
    t = Translator(locale)
    flash = posted_flash(request, t) if shared else read_flash(request, t)
    html = (
        environment()
        .get_template(template)
        .render(
            t=t,
            locale=t.locale,
            locales=[(code, LOCALE_NAMES[code]) for code in SUPPORTED_LOCALES],
            lang_url=lambda code: lang_url_for(request, code),
            href=href_for(t.locale),
            static_url=static_url,
            user=user,
            csrf_token=csrf_token,
            nav=nav or [],
            flash=flash,
            js_messages={**t.subset("js."), **t.subset("error."), **t.subset("role.")},
            **context,
        )
    )
    response = HTMLResponse(html, status_code=status_code)
    if shared:
        apply_shared_headers(response, t.locale)
        return response
    apply_ui_headers(request, response, cache_control)
    if flash is not None or FLASH_COOKIE in request.cookies:
        response.delete_cookie(FLASH_COOKIE, path="/", samesite="strict", httponly=True)
    return response
