"""Serves the UI's stylesheet and script from the package (no CDN, no build step)."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from inventory_app.web.rendering import static_bytes, static_version

router = APIRouter(include_in_schema=False)

_MEDIA_TYPES = {"app.css": "text/css; charset=utf-8", "app.js": "text/javascript; charset=utf-8"}


@router.get("/static/{name}")
def static_file(name: str, request: Request) -> Response:
    """A static file; URLs carry a content hash (``?v=``) so they are cached ``immutable``."""
    if name not in _MEDIA_TYPES:
        return Response(status_code=404, headers={"Cache-Control": "no-store"})
    etag = f'"{static_version(name)}"'
    versioned = request.query_params.get("v") == static_version(name)
    headers = {
        "ETag": etag,
        "Cache-Control": "public, max-age=31536000, immutable"
        if versioned
        else "public, max-age=0, stale-if-error=604800",
        "X-Content-Type-Options": "nosniff",
    }
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(static_bytes(name), media_type=_MEDIA_TYPES[name], headers=headers)
