"""The change feed `/api/changes` (contracts §2), with long-poll."""

from __future__ import annotations

import time
from typing import Annotated

import anyio
from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from inventory_app.api.deps import ALL_ROLES, get_db, get_settings, refuse_nul_params, require
from inventory_app.api.http import IMMUTABLE, PROBLEM_RESPONSES, PUBLIC_STALE, json_response
from inventory_app.db import Database
from inventory_app.schemas import ChangeOut, ChangesOut, Problem
from inventory_app.services.auth import Principal
from inventory_app.services.changes import Change, list_changes
from inventory_app.settings import Settings

router = APIRouter(prefix="/api", tags=["changes"], responses=PROBLEM_RESPONSES,
                   dependencies=[Depends(refuse_nul_params)])
POLL_INTERVAL_S = 0.1


@router.get("/changes", responses={200: {"model": ChangesOut}, 410: {"model": Problem}})
async def changes(
    request: Request,
    since: Annotated[int | None, Query(ge=0, le=2**62)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 500,
    feed: Annotated[str, Query(pattern="^(normal|longpoll)$")] = "normal",
    timeout: Annotated[int, Query(ge=0, le=600_000)] = 30_000,  # noqa: ASYNC109
    _p: Principal = Depends(require(*ALL_ROLES)),
    db: Database = Depends(get_db),
    settings: Settings = Depends(get_settings),
) -> Response:
    """Changes after `since`; `410` when `since` is older than retention.

    With `feed=longpoll` the request waits up to `timeout` ms for the first change.
    """

    def fetch() -> tuple[list[Change], int]:
        with db.read() as session:
            return list_changes(session, since, limit)

    results, last = await anyio.to_thread.run_sync(fetch)
    if feed == "longpoll" and since is not None and not results:
        deadline = time.monotonic() + min(timeout, settings.longpoll_max_timeout_ms) / 1000
        while not results and time.monotonic() < deadline:
            if await request.is_disconnected():
                break
            await anyio.sleep(min(POLL_INTERVAL_S, max(deadline - time.monotonic(), 0)))
            results, last = await anyio.to_thread.run_sync(fetch)
    items = [ChangeOut(seq=c.seq, entity=c.entity, id=c.id, op=c.op, paths=c.paths)
             for c in results]
    cache = IMMUTABLE if len(items) == limit else PUBLIC_STALE
    if since is None or feed == "longpoll":
        cache = "no-store" if feed == "longpoll" else PUBLIC_STALE
    return json_response({"results": items, "last_seq": last}, cache=cache)
