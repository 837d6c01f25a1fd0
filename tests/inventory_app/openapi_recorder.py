"""Records (method, route template, status) of every response the API tests' TestClients see,
so the suite can check that the OpenAPI document lists every status the API really answers."""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

SEEN: set[tuple[str, str, int]] = set()
RAW = "raw:"


class StatusRecorder:
    """ASGI wrapper: remembers the status of each response and the route that answered it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = 0

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        await self.app(scope, receive, watch)
        # answers of middleware (Idempotency-Key rules, replays) carry no route: keep the path
        template = getattr(scope.get("route"), "path_format", None)
        if status:
            SEEN.add((str(scope["method"]).lower(), str(template or RAW + scope["path"]),
                      status))


@cache
def openapi_document() -> dict[str, Any]:
    """The app's OpenAPI document (building it touches no database)."""
    import tempfile

    from inventory_app.main import create_app
    from inventory_app.settings import Settings

    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(Settings(database_url=f"sqlite:///{tmp}/unused.db", log_requests=False))
        spec = app.openapi()
        app.state.db.dispose()
    return spec


def undocumented(seen: set[tuple[str, str, int]], spec: dict[str, Any]
                 ) -> list[tuple[str, str, int]]:
    """Seen (method, path, status) of documented operations whose status is not documented."""
    paths: dict[str, Any] = spec.get("paths", {})
    patterns = [(re.compile("^" + re.sub(r"\\{[^/]+?\\}", "[^/]+", re.escape(t)) + "$"), t)
                for t in paths]
    out = []
    for method, path, status in sorted(seen):
        if path.startswith(RAW):  # match a concrete path to its template
            raw = path.removeprefix(RAW)
            path = next((t for rx, t in patterns if rx.match(raw) and method in paths[t]), raw)
        op = paths.get(path, {}).get(method)
        if op is not None and str(status) not in op.get("responses", {}):
            out.append((method, path, status))
    out = sorted(set(out))
    return out
