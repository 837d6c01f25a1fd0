"""`/healthz`, `/readyz`, `/metrics` (no authentication)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import select
from starlette.responses import Response

from inventory_app import metrics
from inventory_app.api.deps import get_db
from inventory_app.api.http import json_response
from inventory_app.db import Database
from inventory_app.models import Counter

router = APIRouter(tags=["health"])


@router.get("/healthz")
def healthz() -> Response:
    """Liveness: the process answers."""
    return json_response({"status": "ok"}, cache="no-store")


@router.get("/readyz")
def readyz(db: Database = Depends(get_db)) -> Response:
    """Readiness: the database answers and is migrated."""
    try:
        with db.read() as session:
            session.execute(select(Counter.value).limit(1)).all()
    except Exception as exc:  # any database failure means "not ready"
        return json_response({"status": "unavailable", "detail": type(exc).__name__},
                             status=503, cache="no-store", headers={"Retry-After": "1"})
    return json_response({"status": "ready"}, cache="no-store")


@router.get("/metrics")
def metrics_endpoint() -> Response:
    return Response(generate_latest(metrics.REGISTRY), media_type=CONTENT_TYPE_LATEST,
                    headers={"Cache-Control": "no-store"})
