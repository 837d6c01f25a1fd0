"""Minimal implementations used when a component of the offline half is not available (or is
switched off): an origin that is always considered online, no credential checks, and a tiny
admin surface. They have the same interface as `health.OriginHealth`, `auth.CredentialVerifier`
and the admin handler, so the wiring does not care which one it got."""

from __future__ import annotations

import hmac
import json
import time

from edge_cache.messages import Request, Response
from edge_cache.parts import EdgeParts


class AlwaysOnline:
    """Origin health without probing: always ONLINE (plain caching-proxy mode)."""

    state = "online"

    def __init__(self) -> None:
        self.since = time.time()

    def is_online(self) -> bool:
        return True

    def record_failure(self, reason: str) -> None:
        pass

    def record_success(self) -> None:
        pass

    def suspect(self, reason: str) -> None:
        pass

    def add_listener(self, listener: object) -> None:
        pass

    def status(self) -> dict[str, object]:
        return {"state": self.state, "since": self.since}

    def start(self) -> None:
        pass

    async def run(self) -> None:
        pass

    async def stop(self) -> None:
        pass


class OpenAccess:
    """No credential checks; admin endpoints need the admin token (when one is set)."""

    def __init__(self, admin_token: str = "") -> None:
        self.admin_token = admin_token

    def verify(self, request: Request) -> bool:
        return True

    def accepts(self, request: Request) -> bool:
        return True

    def is_admin(self, request: Request) -> bool:
        if not self.admin_token:
            return False
        given = request.header("authorization") or ""
        return hmac.compare_digest(given.encode(), f"Bearer {self.admin_token}".encode())


class MinimalAdmin:
    """`GET /_edge/status` and `POST /_edge/purge` only."""

    def __init__(self, edge: EdgeParts) -> None:
        self.edge = edge

    def handle(self, request: Request) -> Response | None:
        if request.path == "/_edge/status" and request.method == "GET":
            body = json.dumps(self.edge.status()).encode()
            return Response(200, [("Content-Type", "application/json")], body)
        if request.path == "/_edge/purge" and request.method == "POST":
            if not self.edge.auth.is_admin(request):
                return Response(401, [("Content-Type", "text/plain")], b"admin token required\n")
            removed = self.edge.store.purge()
            body = json.dumps({"purged": removed}).encode()
            return Response(200, [("Content-Type", "application/json")], body)
        return None
