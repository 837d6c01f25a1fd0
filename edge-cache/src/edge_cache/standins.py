"""Stand-ins with the interfaces of `health.OriginHealth` and `auth.CredentialVerifier`: an
origin that is always considered online (tests that need no prober) and no credential checks."""

from __future__ import annotations

import hmac
import time

from edge_cache.messages import Request


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

    async def wait_online(self) -> None:
        return None  # always online

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

    async def revoke(self, digest: str) -> bool:
        return False  # no credential checks: nothing to revoke

    def is_admin(self, request: Request) -> bool:
        if not self.admin_token:
            return False
        given = request.header("authorization") or ""
        return hmac.compare_digest(given.encode(), f"Bearer {self.admin_token}".encode())
