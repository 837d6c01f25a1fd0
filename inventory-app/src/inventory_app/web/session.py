"""The signed-in user of a web request (the ``inventory_session`` cookie)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from starlette.requests import Request

from inventory_app.db import Database
from inventory_app.services import auth
from inventory_app.settings import Settings
from inventory_app.web.csrf import csrf_token_for

SESSION_COOKIE: Final = "inventory_session"
POSTING_ROLES: Final = frozenset({"admin", "clerk"})


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
