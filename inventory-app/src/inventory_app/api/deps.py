"""FastAPI dependencies: database, current principal, role checks, edge-replay context."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable

import anyio
from fastapi import Depends, Request

from inventory_app.db import Database
from inventory_app.problems import FieldError, ProblemError, invalid_field
from inventory_app.schemas import NUL_MESSAGE
from inventory_app.services.auth import EdgeReplay, Principal, authenticate
from inventory_app.settings import Settings

SESSION_COOKIE = "inventory_session"

ALL_ROLES = ("admin", "clerk", "viewer", "device")
MASTER_WRITERS = ("admin", "clerk")
ADMINS = ("admin",)
DOCUMENT_WRITERS = ("admin", "clerk", "device")
VOIDERS = ("admin", "clerk")


def database_of(request: Request) -> Database:
    """The app's :class:`Database` (also usable by the web UI)."""
    db: Database = request.app.state.db
    return db


async def get_db(request: Request) -> Database:
    """Dependency: the app's :class:`Database` (async: no thread hop for a lookup)."""
    return database_of(request)


def settings_of(request: Request) -> Settings:
    """The app's :class:`Settings`."""
    settings: Settings = request.app.state.settings
    return settings


async def get_settings(request: Request) -> Settings:
    """Dependency: the app's :class:`Settings`."""
    return settings_of(request)


async def refuse_nul_params(request: Request) -> None:
    """Router dependency: a NUL character in a query or path parameter is a 422 on both
    databases (PostgreSQL cannot compare or store it; SQLite would)."""
    for name, value in request.query_params.multi_items():
        if "\x00" in value:
            raise invalid_field(name, NUL_MESSAGE)
    for name, param in request.path_params.items():
        if isinstance(param, str) and "\x00" in param:
            raise invalid_field(name, NUL_MESSAGE)


def request_token(request: Request) -> str | None:
    """The bearer token of the request, or the `inventory_session` cookie."""
    header = request.headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
        return ""  # present but malformed
    return request.cookies.get(SESSION_COOKIE)


def _unauthorized(detail: str) -> ProblemError:
    return ProblemError(
        401,
        "unauthorized",
        "Unauthorized",
        detail,
        [FieldError("Authorization", detail)],
        headers={"WWW-Authenticate": 'Bearer realm="inventory"'},
    )


def optional_principal(request: Request) -> Principal | None:
    """The principal when a valid credential is present, else None (never raises)."""
    cached = getattr(request.state, "principal", None)
    if cached is not None:
        return cached  # type: ignore[no-any-return,unused-ignore]
    token = request_token(request)
    if not token:
        return None
    with database_of(request).read() as session:
        principal = authenticate(session, token)
    request.state.principal = principal
    return principal


async def current_principal(request: Request) -> Principal:
    """The authenticated principal (Bearer token or session cookie); 401 otherwise.

    Async: when the idempotency layer authenticated the request already (in its claim's
    transaction), no thread is needed."""
    token = request_token(request)
    if token is None:
        raise _unauthorized("missing credentials: send Authorization: Bearer <token>")
    if token == "":
        raise _unauthorized("malformed Authorization header; expected Bearer <token>")
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is None:
        principal = await anyio.to_thread.run_sync(optional_principal, request)
    if principal is None:
        raise _unauthorized("invalid, expired or revoked token")
    return principal


def require(*roles: str) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency that allows only the given roles (403 otherwise)."""

    async def check(principal: Principal = Depends(current_principal)) -> Principal:
        if principal.role not in roles:
            raise ProblemError(
                403,
                "forbidden",
                "Forbidden",
                f"role {principal.role!r} may not do this (needs one of {', '.join(roles)})",
            )
        return principal

    return check


def edge_replay(request: Request) -> EdgeReplay | None:
    """The edge-replay context, when `X-Edge-Device-Authorization` carries a valid device token."""
    header = request.headers.get("x-edge-device-authorization")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    with database_of(request).read() as session:
        device = authenticate(session, token.strip())
    if device is None or not device.is_device:
        return None
    queued_at: dt.datetime | None = None
    raw = request.headers.get("x-edge-queued-at")
    if raw:
        try:
            queued_at = dt.datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
            if queued_at.tzinfo is None:
                queued_at = queued_at.replace(tzinfo=dt.UTC)
            queued_at = queued_at.astimezone(dt.UTC)
        except (ValueError, OverflowError):
            queued_at = None
    return EdgeReplay(device_name=device.name, warehouse_id=device.warehouse_id,
                      queued_at=queued_at)
