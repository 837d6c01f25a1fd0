"""Sign-in and sign-out pages (the session token lives in the ``inventory_session`` cookie;
``cookies.py`` lists the cookies a signed-in browser gets)."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from inventory_app.services import auth
from inventory_app.web.cookies import clear_session_cookies, set_session_cookies
from inventory_app.web.csrf import (
    CSRF_FIELD,
    LOGIN_CSRF_COOKIE,
    cross_site,
    login_csrf_valid,
    new_login_csrf,
    post_allowed,
)
from inventory_app.web.forms import FormData, read_form
from inventory_app.web.locale import translator
from inventory_app.web.navigation import error_page
from inventory_app.web.rendering import (
    PER_USER_CACHE_CONTROL,
    PUBLIC_PAGE_CACHE_CONTROL,
    apply_ui_headers,
    remember_locale,
    render,
    set_flash,
)
from inventory_app.web.session import app_settings, current_user, database

router = APIRouter(include_in_schema=False)

MAX_CREDENTIAL_LENGTH = 256


def safe_next(value: str | None) -> str:
    """Only same-site relative paths are followed after sign-in (no open redirect)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return value


def login_page(
    request: Request, *, status_code: int = 200, error: str = "", username: str = ""
) -> Response:
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or new_login_csrf()
    response = render(
        request,
        "login.html",
        status_code=status_code,
        cache_control=PUBLIC_PAGE_CACHE_CONTROL if status_code == 200 else PER_USER_CACHE_CONTROL,
        login_csrf=token,
        next_url=safe_next(request.query_params.get("next")),
        error=error,
        username=username,
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE, token, max_age=3600, path="/login", samesite="strict", httponly=True,
        secure=request.url.scheme == "https",
    )
    remember_locale(request, response)
    # The page embeds a per-browser token: never share it between users.
    response.headers["Cache-Control"] = PER_USER_CACHE_CONTROL
    return response


@router.get("/login")
def login_form(request: Request) -> Response:
    if current_user(request) is not None:
        response = RedirectResponse(safe_next(request.query_params.get("next")), status_code=303)
        apply_ui_headers(request, response, PER_USER_CACHE_CONTROL)
        return response
    return login_page(request)


@router.post("/login")
async def login_submit(request: Request) -> Response:
    form = await read_form(request)
    return await run_in_threadpool(_login_submit, request, form)


def _login_submit(request: Request, form: FormData) -> Response:
    username = form.get("username")[:MAX_CREDENTIAL_LENGTH]
    password = (form.fields.get("password") or [""])[0][:MAX_CREDENTIAL_LENGTH]
    t = translator(request)
    if cross_site(request) or not login_csrf_valid(
        request.cookies.get(LOGIN_CSRF_COOKIE), form.get(CSRF_FIELD)
    ):
        return login_page(request, status_code=403, error=t("login.expired"), username=username)
    token: str | None = None
    principal: auth.Principal | None = None
    if username and password:
        with database(request).write() as session:
            token = auth.login(
                session, username, password, ttl_hours=app_settings(request).session_ttl_hours
            )
            principal = auth.authenticate(session, token) if token is not None else None
    if token is None:
        return login_page(request, status_code=401, error=t("login.failed"), username=username)
    response = RedirectResponse(safe_next(form.get("next")), status_code=303)
    apply_ui_headers(request, response, PER_USER_CACHE_CONTROL)
    role = principal.role if principal is not None else ""
    name = (principal.username or principal.name) if principal is not None else username
    set_session_cookies(
        request, response, token, name, role,
        max_age=int(app_settings(request).session_ttl_hours * 3600),
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/login")
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    form = await read_form(request)
    return await run_in_threadpool(_logout, request, form)


def _logout(request: Request, form: FormData) -> Response:
    user = current_user(request)
    if user is not None:
        if not post_allowed(request, user.token, form.get(CSRF_FIELD)):
            return error_page(request, user, 403, "csrf")
        with database(request).write() as session:
            auth.logout(session, user.token)
    response = RedirectResponse("/login", status_code=303)
    apply_ui_headers(request, response, PER_USER_CACHE_CONTROL)
    clear_session_cookies(response)
    set_flash(response, "flash.logged_out")
    return response


@router.get("/web/me")
def who_am_i(request: Request) -> Response:
    """The signed-in user, for the page's script (``private, no-store``: per-user data).

    Through an edge cache the answer also carries ``X-Edge-Cache`` and ``X-Edge-Outbox-Depth``;
    while the cloud is unreachable the edge answers it ``503`` at once, which the script reads
    as "offline" (pages then come from the edge's copy).
    """
    user = current_user(request)
    headers = {"Cache-Control": "private, no-store", "Vary": "Cookie"}
    if user is None:
        return JSONResponse({"signed_in": False}, status_code=401, headers=headers)
    body = {"signed_in": True, "name": user.name, "role": user.role, "can_post": user.can_post}
    return JSONResponse(body, headers=headers)
