"""Application factory: `create_app(settings=None)`.

Layout after FastAPI's "bigger applications": routers in `inventory_app.api.routes_*`, shared
dependencies in `inventory_app.api.deps`, services in `inventory_app.services`. The web UI
(`inventory_app.web.router`) is included when that module exists.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
from fastapi import FastAPI

from inventory_app import __version__
from inventory_app.api import (
    openapi_doc,
    problem_handlers,
    routes_auth,
    routes_documents,
    routes_feed,
    routes_health,
    routes_masters,
    routes_stock,
)
from inventory_app.api.etag import ETagMiddleware
from inventory_app.api.idempotency import IdempotencyMiddleware
from inventory_app.api.login_guard import LoginGuardMiddleware
from inventory_app.api.observability import ObservabilityMiddleware, configure_logging
from inventory_app.db import Database
from inventory_app.services.login_throttle import LoginThrottle
from inventory_app.services.retention import prune_all
from inventory_app.settings import Settings

log = logging.getLogger("inventory_app")


async def _maintenance(db: Database, settings: Settings) -> None:
    """Prune old changes and idempotency records every `maintenance_interval_s`."""
    while True:
        await asyncio.sleep(settings.maintenance_interval_s)
        try:
            report = await anyio.to_thread.run_sync(prune_all, db, settings)
            log.info("pruned", extra={"fields": {"changes": report.changes,
                                                 "idempotency_records":
                                                     report.idempotency_records}})
        except Exception:  # keep the loop alive; the next round retries
            log.exception("pruning failed")


def create_app(settings: Settings | None = None, db: Database | None = None) -> FastAPI:
    """Build the ASGI app. The database must already be migrated (`inventory-app migrate`)."""
    settings = settings or Settings()
    configure_logging()
    db = db or Database(settings.resolved_database_url())
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(_maintenance(db, settings))
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            db.dispose()

    app = FastAPI(
        lifespan=lifespan,
        title="EdgeLab inventory app",
        version=__version__,
        description="进销存 system of record with a cache-friendly, replay-safe API "
        "(see docs/contracts.md).",
    )
    app.state.settings = settings
    app.state.db = db
    problem_handlers.install(app)
    # FastAPI tries the routers in this order: the busiest paths (sales and stock reads from
    # the shops) first; no two routers share a path, so the order changes nothing else.
    for module in (routes_health, routes_documents, routes_stock, routes_feed, routes_masters,
                   routes_auth):
        app.include_router(module.router)
    try:
        web = importlib.import_module("inventory_app.web")
    except ModuleNotFoundError as exc:
        if exc.name not in ("inventory_app.web",):
            raise
    else:
        app.include_router(web.router)
    openapi_doc.install(app)
    # innermost first: idempotency sees the raw request, ETag the final body, observability all
    app.add_middleware(IdempotencyMiddleware, db=db, settings=settings)
    app.add_middleware(LoginGuardMiddleware, throttle=LoginThrottle(
        settings.login_max_failures, settings.login_failure_window_s, settings.login_lockout_s))
    app.add_middleware(ETagMiddleware)
    app.add_middleware(ObservabilityMiddleware, log_requests=settings.log_requests)

    return app
