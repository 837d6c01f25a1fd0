"""Users, API tokens, sessions and principals.

Roles: admin, clerk, viewer; device tokens have role `device` and are bound to a warehouse.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import cast

from sqlalchemy import Table, bindparam, select
from sqlalchemy.orm import Session

from inventory_app.models import ROLES, ApiToken, User, Warehouse, utcnow
from inventory_app.problems import invalid_field, not_found
from inventory_app.security import hash_password, new_token, token_digest, verify_password
from inventory_app.services.changes import record_change


@dataclass(frozen=True)
class Principal:
    """Who is making a request."""

    token_id: int
    kind: str  # api | session | device
    role: str  # admin | clerk | viewer | device
    name: str
    user_id: int | None = None
    username: str | None = None
    warehouse_id: int | None = None

    @property
    def is_device(self) -> bool:
        return self.role == "device"


@dataclass(frozen=True)
class EdgeReplay:
    """A request replayed from an edge node's outbox (proved by a valid device token)."""

    device_name: str
    warehouse_id: int | None
    queued_at: dt.datetime | None = None


def create_user(session: Session, username: str, password: str, role: str) -> User:
    """Create a user with a scrypt-hashed password."""
    if role not in ROLES:
        raise invalid_field("role", f"role must be one of {', '.join(ROLES)}")
    if session.scalar(select(User).where(User.username == username)) is not None:
        raise invalid_field("username", f"user {username!r} already exists")
    user = User(username=username, display_name=username, password_hash=hash_password(password),
                role=role)
    session.add(user)
    session.flush()
    return user


def create_token(
    session: Session,
    *,
    role: str,
    name: str,
    kind: str = "api",
    user_id: int | None = None,
    warehouse_code: str | None = None,
    warehouse_id: int | None = None,
    expires_at: dt.datetime | None = None,
) -> str:
    """Create an API token and return it (only its sha256 digest is stored).

    `role="device"` creates a device token, which must be bound to a warehouse.
    """
    if role == "device":
        kind = "device"
    if role not in (*ROLES, "device"):
        raise invalid_field("role", "role must be admin, clerk, viewer or device")
    if warehouse_code is not None:
        wh = session.scalar(select(Warehouse).where(Warehouse.code == warehouse_code))
        if wh is None:
            raise invalid_field("warehouse", f"unknown warehouse code {warehouse_code!r}")
        warehouse_id = wh.id
    elif warehouse_id is not None and session.get(Warehouse, warehouse_id) is None:
        raise invalid_field("warehouse_id", f"unknown warehouse {warehouse_id}")
    if kind == "device" and warehouse_id is None:
        raise invalid_field("warehouse", "a device token must be bound to a warehouse")
    token = new_token()
    session.add(
        ApiToken(
            digest=token_digest(token),
            kind=kind,
            role=role,
            name=name,
            user_id=user_id,
            warehouse_id=warehouse_id,
            expires_at=expires_at,
        )
    )
    session.flush()
    return token


def login(session: Session, username: str, password: str, ttl_hours: float = 12.0) -> str | None:
    """Check username + password; on success create and return a `session` token.

    The web UI stores the returned token in the `inventory_session` cookie.
    Returns None when the credentials are wrong.
    """
    user = session.scalar(select(User).where(User.username == username))
    if user is None or not user.active or not verify_password(password, user.password_hash):
        return None
    return create_token(
        session,
        role=user.role,
        name=f"session:{user.username}",
        kind="session",
        user_id=user.id,
        expires_at=utcnow() + dt.timedelta(hours=ttl_hours),
    )


def logout(session: Session, token: str) -> None:
    """Revoke a session token (and tell edges through the change feed)."""
    row = session.scalar(select(ApiToken).where(ApiToken.digest == token_digest(token)))
    if row is not None:
        _revoke(session, row)


REVOCATION_PATHS = ["/api/auth/token-digests"]


def _revoke(session: Session, row: ApiToken) -> bool:
    """Mark a token revoked and append its tombstone to the change feed (entity `token`,
    id = the token's sha256 digest, op `delete`). False when it was revoked already."""
    if row.revoked_at is not None:
        return False
    row.revoked_at = utcnow()
    record_change(session, "token", row.digest, "delete", REVOCATION_PATHS)
    return True


def list_tokens(session: Session) -> list[ApiToken]:
    """Every token (revoked and expired ones too), oldest first; never the secret."""
    return list(session.scalars(select(ApiToken).order_by(ApiToken.id)).all())


def revoke_token(session: Session, token_id: int) -> ApiToken:
    """Revoke one token by id (revoking twice is a no-op); 404 problem when unknown."""
    row = session.get(ApiToken, token_id)
    if row is None:
        raise not_found("token", token_id)
    _revoke(session, row)
    session.flush()
    return row


def revoke_tokens_named(session: Session, name: str) -> list[ApiToken]:
    """Revoke every live token with this name; returns the ones revoked now."""
    rows = session.scalars(
        select(ApiToken).where(ApiToken.name == name, ApiToken.revoked_at.is_(None))
        .order_by(ApiToken.id)
    ).all()
    revoked = [row for row in rows if _revoke(session, row)]
    session.flush()
    return revoked


def end_sessions(session: Session, username: str) -> list[ApiToken]:
    """Revoke every live session token of a user (they are logged out everywhere, edges
    included once they read the change feed); 404 problem for an unknown user."""
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise not_found("user", username, "username")
    rows = session.scalars(
        select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.kind == "session",
                               ApiToken.revoked_at.is_(None)).order_by(ApiToken.id)
    ).all()
    revoked = [row for row in rows if _revoke(session, row)]
    session.flush()
    return revoked


def _aware(value: dt.datetime | None) -> dt.datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=dt.UTC)
    return value


_TOKENS = cast(Table, ApiToken.__table__)
_USERS = cast(Table, User.__table__)
# Built once (the request path only looks their compiled form up).
_TOKEN_BY_DIGEST = select(
    _TOKENS.c.id, _TOKENS.c.kind, _TOKENS.c.role, _TOKENS.c.name, _TOKENS.c.user_id,
    _TOKENS.c.warehouse_id, _TOKENS.c.expires_at, _TOKENS.c.revoked_at,
).where(_TOKENS.c.digest == bindparam("digest"))
_TOKEN_USER = select(_USERS.c.role, _USERS.c.username, _USERS.c.active).where(
    _USERS.c.id == bindparam("user_id"))


def authenticate(session: Session, token: str) -> Principal | None:
    """The principal of a token, or None when unknown, revoked or expired."""
    if not token or len(token) > 512:
        return None
    conn = session.connection()
    row = conn.execute(_TOKEN_BY_DIGEST, {"digest": token_digest(token)}).first()
    if row is None or row.revoked_at is not None:
        return None
    expires = _aware(row.expires_at)
    if expires is not None and expires <= utcnow():
        return None
    role = row.role
    username = None
    if row.user_id is not None:
        user = conn.execute(_TOKEN_USER, {"user_id": row.user_id}).first()
        if user is None or not user.active:
            return None
        role, username = user.role, user.username
    return Principal(
        token_id=row.id,
        kind=row.kind,
        role=role,
        name=row.name,
        user_id=row.user_id,
        username=username,
        warehouse_id=row.warehouse_id,
    )


def token_digests(session: Session) -> list[dict[str, object]]:
    """Digests of every valid token, for edge caches (contracts §3)."""
    now = utcnow()
    rows = session.scalars(select(ApiToken).where(ApiToken.revoked_at.is_(None)).order_by(
        ApiToken.id)).all()
    users = {u.id: u for u in session.scalars(select(User)).all()}
    out: list[dict[str, object]] = []
    for row in rows:
        expires = _aware(row.expires_at)
        if expires is not None and expires <= now:
            continue
        role = row.role
        if row.user_id is not None:
            user = users.get(row.user_id)
            if user is None or not user.active:
                continue
            role = user.role
        out.append(
            {"sha256": row.digest, "role": role, "warehouse_id": row.warehouse_id,
             "expires_at": expires}
        )
    return out
