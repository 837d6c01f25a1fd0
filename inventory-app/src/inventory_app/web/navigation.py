"""Role-aware navigation, sign-in redirects and error pages shared by every UI route."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from inventory_app.web.locale import translator
from inventory_app.web.rendering import (
    PER_USER_CACHE_CONTROL,
    NavItem,
    apply_ui_headers,
    render,
)
from inventory_app.web.session import WebUser, current_user

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


def nav_for(request: Request, user: WebUser) -> list[NavItem]:
    pages = READ_PAGES + (POST_PAGES if user.can_post else ())
    path = request.url.path
    return [
        NavItem(href, label, path == href or (href != "/" and path.startswith(href + "/")))
        for href, label in pages
    ]


def login_redirect(request: Request) -> Response:
    """303 to the login page, coming back to the current page afterwards."""
    target = request.url.path
    if request.url.query:
        target += "?" + request.url.query
    response = RedirectResponse(f"/login?next={quote(target, safe='')}", status_code=303)
    apply_ui_headers(request, response, PER_USER_CACHE_CONTROL)
    return response


def signed_in(request: Request) -> WebUser | Response:
    """The signed-in user, or the redirect to the login page."""
    user = current_user(request)
    return user if user is not None else login_redirect(request)


def page(
    request: Request, user: WebUser, template: str, status_code: int = 200, **context: Any
) -> HTMLResponse:
    """Render a page for a signed-in user (navigation, CSRF token, per-user caching)."""
    return render(
        request,
        template,
        user=user,
        csrf_token=user.csrf_token,
        nav=nav_for(request, user),
        status_code=status_code,
        can_post=user.can_post,
        **context,
    )


def error_page(
    request: Request, user: WebUser | None, status_code: int, slug: str, **params: object
) -> HTMLResponse:
    """A translated error page (``error.<slug>.title`` / ``.detail``)."""
    t = translator(request)
    title = t(f"error.{slug}.title")
    detail = t(f"error.{slug}.detail", **params)
    if user is not None:
        return page(request, user, "error.html", status_code, title=title, detail=detail)
    return render(request, "error.html", status_code=status_code, title=title, detail=detail)
