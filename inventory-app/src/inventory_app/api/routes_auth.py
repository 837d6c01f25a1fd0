"""`/api/me`, `/api/auth/token-digests` (contracts §3) and revocation (admin)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path
from starlette.responses import Response

from inventory_app.api.deps import ADMINS, current_principal, get_db, refuse_nul_params, require
from inventory_app.api.http import NO_STORE, PROBLEM_RESPONSES, json_response
from inventory_app.db import Database
from inventory_app.models import ApiToken, utcnow
from inventory_app.schemas import (
    MeOut,
    Results,
    RevokedOut,
    TokenDigestOut,
    TokenDigestsOut,
    TokenOut,
)
from inventory_app.services import auth
from inventory_app.services.auth import Principal, token_digests

router = APIRouter(prefix="/api", tags=["auth"], responses=PROBLEM_RESPONSES,
                   dependencies=[Depends(refuse_nul_params)])
Admin = Annotated[Principal, Depends(require(*ADMINS))]
Db = Annotated[Database, Depends(get_db)]


def _token_out(row: ApiToken) -> TokenOut:
    return TokenOut.model_validate(row, from_attributes=True)


@router.get("/me", responses={200: {"model": MeOut}})
def me(principal: Principal = Depends(current_principal)) -> Response:
    return json_response(
        MeOut(name=principal.name, role=principal.role, kind=principal.kind,
              user_id=principal.user_id, username=principal.username,
              warehouse_id=principal.warehouse_id),
        cache=NO_STORE,
    )


@router.get("/auth/token-digests", responses={200: {"model": TokenDigestsOut}})
def digests(
    _p: Principal = Depends(require("admin", "device")), db: Database = Depends(get_db)
) -> Response:
    """sha256 digests of every valid token with its role, for edge caches to verify
    credentials offline. A revoked token is dropped at once (and announced in the change feed
    as `{"entity": "token", "id": <sha256>, "op": "delete"}`)."""
    with db.read() as session:
        rows = token_digests(session)
    out = TokenDigestsOut(digests=[TokenDigestOut.model_validate(r) for r in rows],
                          generated_at=utcnow())
    return json_response(out, cache=NO_STORE)


@router.get("/auth/tokens", responses={200: {"model": Results[TokenOut]}})
def list_tokens(_p: Admin, db: Db) -> Response:
    """Every API token, session and device token (without secrets), for revocation."""
    with db.read() as session:
        items = [_token_out(row) for row in auth.list_tokens(session)]
    return json_response({"results": items}, cache=NO_STORE)


@router.post("/auth/tokens/{token_id}/revoke", responses={200: {"model": TokenOut}})
def revoke_token(
    token_id: Annotated[int, Path(ge=1, le=2_147_483_647)], _p: Admin, db: Db
) -> Response:
    """Revoke a token now (revoking twice is a no-op). Edges learn it from the change feed."""
    with db.write() as session:
        out = _token_out(auth.revoke_token(session, token_id))
    return json_response(out, cache=NO_STORE)


@router.post("/users/{username}/end-sessions", responses={200: {"model": RevokedOut}})
def end_sessions(
    username: Annotated[str, Path(min_length=1, max_length=64)], _p: Admin, db: Db
) -> Response:
    """Log a user out everywhere: revoke all of their session tokens."""
    with db.write() as session:
        out = RevokedOut(revoked=[_token_out(r) for r in auth.end_sessions(session, username)])
    return json_response(out, cache=NO_STORE)
