"""Navigation, sign-in and language redirects and error pages shared by every UI route."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from inventory_app.i18n import LANG_COOKIE
from inventory_app.web.locale import request_locale, translator, url_locale
from inventory_app.web.rendering import (
    PER_USER_CACHE_CONTROL,
    SHARED_PAGE_CACHE_CONTROL,
    NavItem,
    apply_ui_headers,
    hardening_headers,
    href_for,
    render,
)
from inventory_app.web.session import WebUser, current_reader

READ_PAGES = (
    ("/", "nav.dashboard"),
    ("/products", "nav.products"),
    ("/stock", "nav.stock"),
    ("/ledger", "nav.ledger"),
)
POST_PAGES = (
    ("/documents/purchase", "nav.purchase"),
    ("/documents/sale", "nav.sale"),
    ("/documents/transfer", "nav.transfer"),
    ("/documents/stocktake", "nav.stocktake"),
)


def nav_for(request: Request, locale: str) -> list[NavItem]:
    """Every menu entry (the same for every user: the script hides the forms from viewers)."""
    href = href_for(locale)
    path = request.url.path
    items = [(p, label, False) for p, label in READ_PAGES]
    items += [(p, label, True) for p, label in POST_PAGES]
    return [
        NavItem(href(p), label, path == p or (p != "/" and path.startswith(p + "/")), needs_post)
        for p, label, needs_post in items
    ]


def login_redirect(request: Request) -> Response:
    """303 to the login page, coming back to the current page afterwards."""
    target = request.url.path
    if request.url.query:
        target += "?" + request.url.query
    response = RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
    apply_ui_headers(request, response, PER_USER_CACHE_CONTROL)
    return response


def with_lang(request: Request, locale: str) -> str:
    params = [(k, v) for k, v in request.query_params.multi_items() if k != "lang"]
    params.append(("lang", locale))
    return f"{request.url.path}?{urlencode(params)}"


def lang_redirect(request: Request) -> Response:
    """303 from a page URL without ``lang`` to the one with it.

    Chosen by the browser's ``Accept-Language`` only, it may be shared like a page
    (``Vary: Accept-Language``), so a bookmark opens offline too; a remembered choice
    (cookie) makes it private.
    """
    locale = request_locale(request)
    response = RedirectResponse(with_lang(request, locale), status_code=303)
    if LANG_COOKIE in request.cookies:
        apply_ui_headers(request, response, PER_USER_CACHE_CONTROL)
        return response
    response.headers["Vary"] = "Accept-Language"
    response.headers["Cache-Control"] = SHARED_PAGE_CACHE_CONTROL
    response.headers["Content-Language"] = locale
    hardening_headers(response)
    return response


def signed_in(request: Request) -> WebUser | Response:
    """Who may read this page, or the redirect to the login page (or to the page's URL with
    its language)."""
    user = current_reader(request)
    if user is None:
        return login_redirect(request)
    if url_locale(request) is None:
        return lang_redirect(request)
    return user


def page(
    request: Request, user: WebUser, template: str, status_code: int = 200, **context: Any
) -> HTMLResponse:
    """Render a page any signed-in user may be served (navigation, no per-user part)."""
    locale = url_locale(request) or request_locale(request)
    return render(
        request,
        template,
        user=user,
        nav=nav_for(request, locale),
        status_code=status_code,
        shared=status_code == 200,
        **context,
    )


def error_page(
    request: Request, user: WebUser | None, status_code: int, slug: str, **params: object
) -> HTMLResponse:
    """A translated error page (``error.<slug>.title`` / ``.detail``), never shared."""
    t = translator(request)
    title = t(f"error.{slug}.title")
    detail = t(f"error.{slug}.detail", **params)
    nav = nav_for(request, t.locale) if user is not None else None
    return render(
        request, "error.html", user=user, nav=nav, status_code=status_code, title=title,
        detail=detail,
    )
