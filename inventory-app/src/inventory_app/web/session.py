"""The signed-in user of a web request (the ``inventory_session`` cookie, or a bearer token).

Pages are the same for every reader, so a bearer token (e.g. an edge cache's device token,
warming its copy of the shop's pages) may read them too; form posts need a browser session.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from starlette.requests import Request

from inventory_app.db import Database
from inventory_app.services import auth
from inventory_app.settings import Settings
from inventory_app.web.cookies import SESSION_COOKIE
from inventory_app.web.csrf import csrf_token_for

POSTING_ROLES: Final = frozenset({"admin", "clerk"})
# Roles that may open the document forms: people who post, and edge devices that keep a copy
# of them for their clerks (a device posts documents of its own shop through the API).
FORM_READERS: Final = frozenset({"admin", "clerk", "device"})


def database(request: Request) -> Database:
    """The app's database (set up by ``create_app``)."""
    db: Database = request.app.state.db
    return db


def app_settings(request: Request) -> Settings:
    found = getattr(request.app.state, "settings", None)
    return found if isinstance(found, Settings) else Settings()


@dataclass(frozen=True)
class WebUser:
    """A signed-in person: who, what role, and the CSRF token of their session."""

    principal: auth.Principal
    token: str

    @property
    def name(self) -> str:
        return self.principal.username or self.principal.name

    @property
    def role(self) -> str:
        return self.principal.role

    @property
    def can_post(self) -> bool:
        return self.principal.role in POSTING_ROLES

    @property
    def can_open_forms(self) -> bool:
        return self.principal.role in FORM_READERS

    @property
    def csrf_token(self) -> str:
        return csrf_token_for(self.token)


def current_user(request: Request) -> WebUser | None:
    """The user of the session cookie, or None (no cookie, unknown, revoked or expired)."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    with database(request).read() as session:
        principal = auth.authenticate(session, token)
    if principal is None or principal.kind != "session":
        return None
    return WebUser(principal=principal, token=token)


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def current_reader(request: Request) -> WebUser | None:
    """Who may read a page: the session's user, or the holder of a valid bearer token."""
    token = bearer_token(request)
    if token is None:
        return current_user(request)
    with database(request).read() as session:
        principal = auth.authenticate(session, token)
    return WebUser(principal=principal, token=token) if principal is not None else None
