"""`/api/me` and `/api/auth/token-digests` (contracts §3)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from starlette.responses import Response

from inventory_app.api.deps import current_principal, get_db, require
from inventory_app.api.http import NO_STORE, json_response
from inventory_app.db import Database
from inventory_app.models import utcnow
from inventory_app.schemas import MeOut, TokenDigestOut, TokenDigestsOut
from inventory_app.services.auth import Principal, token_digests

router = APIRouter(prefix="/api", tags=["auth"])


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
    """sha256 digests of every valid token, for edge caches to verify credentials offline."""
    with db.read() as session:
        rows = token_digests(session)
    out = TokenDigestsOut(digests=[TokenDigestOut.model_validate(r) for r in rows],
                          generated_at=utcnow())
    return json_response(out, cache=NO_STORE)
