"""Local credential verification (docs/contracts.md §3), so requests are refused offline as online.

Mode `digest-list` (on when `EDGE_CACHE_AUTH_REQUIRED=on`, or `auto` with a device token): the
sidecar syncs `GET <EDGE_CACHE_TOKEN_DIGESTS_PATH>` with its device token every
`EDGE_CACHE_TOKEN_SYNC_INTERVAL` seconds while the origin is ONLINE, keeps the list on disk
(`token-digests.json` in the data dir, written atomically) so it still works offline after a
restart, and accepts a request when sha256(bearer token or session cookie) is listed and not
expired. An unknown token seen while ONLINE triggers a refresh (at most one per
`min_refresh_gap` seconds); `authorize()` waits for that refresh before refusing, `verify()`
(synchronous) refuses at once and lets the refresh land for the client's next attempt.

With no mode configured every request passes (a plain caching proxy). Paths under
`EDGE_CACHE_AUTH_PUBLIC_PATHS` (e.g. the login page and static assets) pass without a credential.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from http.cookies import CookieError, SimpleCookie
from pathlib import Path
from typing import Any

from edge_cache.messages import Request
from edge_cache.origin_client import OriginClient, OriginError

log = logging.getLogger("edge_cache.auth")

DIGESTS_FILE = "token-digests.json"


def _parse_expiry(value: object) -> float | None:
    if value in (None, ""):
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0  # unreadable expiry: treat as expired (fail closed)


@dataclass(frozen=True, slots=True)
class AuthResult:
    """The verdict on one request's credential; `reason` says why (logged when refused)."""

    allowed: bool
    reason: str
    role: str | None = None  # the credential's role from the digest list (None: not known)


class CredentialVerifier:
    def __init__(
        self,
        *,
        enabled: bool,
        origin: OriginClient | None = None,  # None: nothing to fetch (checks off)
        digests_path: str = "/api/auth/token-digests",
        device_token: str = "",
        admin_token: str = "",
        data_dir: str | os.PathLike[str] | None = None,
        sync_interval: float = 60.0,
        cookie_name: str = "inventory_session",
        public_paths: tuple[str, ...] = (),
        is_online: Callable[[], bool] = lambda: True,
        min_refresh_gap: float = 1.0,
        request_timeout: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.enabled = enabled
        self.origin = origin
        self.digests_path = digests_path
        self.device_token = device_token
        self.admin_token = admin_token
        self.file = Path(data_dir) / DIGESTS_FILE if data_dir is not None else None
        self.sync_interval = sync_interval
        self.cookie_name = cookie_name
        self.public_paths = tuple(p for p in public_paths if p)
        self.is_online = is_online
        self.min_refresh_gap = min_refresh_gap
        self.request_timeout = request_timeout
        self.clock = clock
        self._digests: dict[str, float | None] = {}
        self._roles: dict[str, str] = {}  # digest -> role, as the digest list names it
        # digests the change feed announced as revoked: never accepted again, even from a
        # digest list fetched before the revocation (dropped once a list no longer names them)
        self._revoked: set[str] = set()
        self.generated_at: str | None = None
        self.last_sync_at: float | None = None
        self.last_error: str | None = None
        self.refused = 0
        self._last_refresh_started = -1e9
        self._last_completed_start = -1e9  # start time of the last finished refresh
        self._last_success_start = -1e9  # start time of the last successful refresh
        # how long a request with an unknown token waits for a refresh while ONLINE
        self.refresh_deadline = min_refresh_gap + request_timeout
        self._refresh_task: asyncio.Task[bool] | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        if self.enabled:
            self._load()

    # -- checks -----------------------------------------------------------------------------

    def credential_of(self, request: Request) -> str | None:
        auth = request.header("authorization")
        if auth:
            scheme, _, token = auth.strip().partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
        cookie = request.header("cookie")
        if cookie:
            jar: SimpleCookie = SimpleCookie()
            with contextlib.suppress(CookieError):
                jar.load(cookie.replace(", ", "; "))
            morsel = jar.get(self.cookie_name)
            if morsel is not None and morsel.value:
                return morsel.value
        return None

    def _known(self, token: str) -> bool | None:
        """True: valid; False: listed but expired; None: not listed."""
        digest = hashlib.sha256(token.encode()).hexdigest()
        if digest not in self._digests:
            return None
        expires = self._digests[digest]
        return expires is None or expires > self.clock()

    def _public(self, request: Request) -> bool:
        path = request.path
        return any(path == p or path.startswith(p.rstrip("/") + "/") for p in self.public_paths)

    def accepts(self, request: Request) -> bool:
        """True when the request may pass without waiting: no auth mode, a public path, or a
        listed, unexpired credential. No side effects (the fast hit path asks this)."""
        if not self.enabled or self._public(request):
            return True
        token = self.credential_of(request)
        return token is not None and bool(self._known(token))

    def verify(self, request: Request) -> bool:
        """Synchronous check; an unknown token starts a refresh for the client's next attempt."""
        if self.accepts(request):
            return True
        token = self.credential_of(request)
        if token is not None and self._known(token) is None:
            self._refresh_soon()
        self.refused += 1
        return False

    async def authorize(self, request: Request) -> bool:
        """Like `verify`, but an unknown token seen while ONLINE waits for one refresh."""
        return (await self.check(request)).allowed

    async def check(self, request: Request) -> AuthResult:
        """The verdict on a request's credential, with the reason when it is refused.

        An unknown token seen while ONLINE waits (up to `refresh_deadline` seconds) for a
        digest refresh that started after the request arrived: a token the cloud has just
        issued is accepted on its first request, however slow the event loop is.
        """
        if not self.enabled or self._public(request):
            return AuthResult(True, "open")
        token = self.credential_of(request)
        if token is None:
            return self._refuse(request, "no credential")
        known = self._known(token)
        if known is None:
            if not self.is_online():
                return self._refuse(request, "unknown token, origin offline")
            outcome = await self._refresh_after(time.monotonic())
            known = self._known(token)
            if known is None:
                return self._refuse(request, f"unknown token after {outcome}")
        if not known:
            return self._refuse(request, "expired token")
        return AuthResult(True, "listed", self.role_of(token))

    def role_of(self, token: str) -> str | None:
        """The listed role of a token (admin, clerk, viewer, device), or None."""
        return self._roles.get(hashlib.sha256(token.encode()).hexdigest())

    def _refuse(self, request: Request, reason: str) -> AuthResult:
        self.refused += 1
        log.info("credential refused", extra={
            "event": "auth_refused", "reason": reason, "method": request.method,
            "path": request.path})
        return AuthResult(False, reason)

    def is_admin(self, request: Request) -> bool:
        if not self.admin_token:
            return False
        given = request.header("authorization") or ""
        return hmac.compare_digest(given.strip().encode(), f"Bearer {self.admin_token}".encode())

    def status(self) -> dict[str, Any]:
        return {
            "mode": "digest-list" if self.enabled else "off",
            "digests": len(self._digests),
            "generated_at": self.generated_at,
            "last_sync_at": self.last_sync_at,
            "last_error": self.last_error,
            "refused": self.refused,
        }

    # -- the digest list --------------------------------------------------------------------

    def _load(self) -> None:
        if self.file is None or not self.file.exists():
            return
        try:
            data = json.loads(self.file.read_text(encoding="utf-8"))
            self._apply(data)
            log.info("token digests loaded", extra={
                "event": "auth_digests_loaded", "count": len(self._digests),
                "generated_at": self.generated_at})
        except (OSError, ValueError, TypeError, KeyError) as exc:
            self.last_error = f"cannot read {self.file}: {exc}"
            log.error("token digest file unreadable; refusing credentials until the next sync",
                      extra={"event": "auth_digests_unreadable", "error": str(exc)})

    def _apply(self, data: dict[str, Any]) -> None:
        digests: dict[str, float | None] = {}
        roles: dict[str, str] = {}
        for item in data["digests"]:
            digest = str(item["sha256"]).lower()
            digests[digest] = _parse_expiry(item.get("expires_at"))
            if item.get("role"):
                roles[digest] = str(item["role"])
        self._revoked &= digests.keys()
        for digest in self._revoked:
            digests.pop(digest, None)
            roles.pop(digest, None)
        self._digests = digests
        self._roles = roles
        self.generated_at = data.get("generated_at")

    def _document(self) -> dict[str, Any]:
        """The digest list as held now, in the origin's format (for the file on disk)."""
        return {"generated_at": self.generated_at, "digests": [
            {"sha256": digest, "expires_at": expires, "role": self._roles.get(digest)}
            for digest, expires in self._digests.items()]}

    async def revoke(self, digest: str) -> bool:
        """The change feed says a token was revoked: refuse it from now on, offline too (the
        list on disk is rewritten without it). True when it was listed."""
        digest = digest.strip().lower()
        self._revoked.add(digest)
        listed = self._digests.pop(digest, "absent") != "absent"
        self._roles.pop(digest, None)
        if listed:
            await asyncio.to_thread(self._persist, self._document())
        log.info("token revoked", extra={"event": "auth_revoked", "listed": listed})
        return listed

    def _persist(self, data: dict[str, Any]) -> None:
        if self.file is None:
            return
        self.file.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.file.with_suffix(".tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(data, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.file)

    async def _refresh_after(self, arrived: float) -> str:
        """Wait for a digest refresh that started at or after `arrived` (monotonic time).

        Returns how it ended: "a refresh" (one completed and succeeded), "a failed refresh",
        "going offline" or "the refresh deadline". Refreshes start at most once per
        `min_refresh_gap`; requests with unknown tokens that arrive meanwhile wait for the next
        one and share it, so a flood of forged tokens costs the origin at most one digest
        request per gap. The wait is bounded by a deadline, not by a number of turns.
        """
        deadline = arrived + self.refresh_deadline
        while self._last_completed_start < arrived:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return "the refresh deadline"
            if not self.is_online():
                return "going offline"
            task = self._refresh_task
            if task is None or task.done():
                gap = self._last_refresh_started + self.min_refresh_gap - time.monotonic()
                if gap > 0:
                    await asyncio.sleep(min(gap, remaining))
                    continue
                self._last_refresh_started = time.monotonic()
                task = self._refresh_task = asyncio.get_running_loop().create_task(
                    self.refresh())
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(task), remaining)
        return "a refresh" if self._last_success_start >= arrived else "a failed refresh"

    def _refresh_soon(self) -> asyncio.Task[bool] | None:
        """Start a refresh unless one is running or one started too recently."""
        if self._refresh_task is not None and not self._refresh_task.done():
            return self._refresh_task
        if not self.is_online():
            return None
        now = time.monotonic()
        if now - self._last_refresh_started < self.min_refresh_gap:
            return None
        try:
            self._refresh_task = asyncio.get_running_loop().create_task(self.refresh())
        except RuntimeError:
            return None
        return self._refresh_task

    async def refresh(self) -> bool:
        """Fetch the digest list once; True when it was replaced."""
        started = self._last_refresh_started = time.monotonic()
        ok = False
        try:
            ok = await self._fetch()
            return ok
        finally:
            self._last_completed_start = max(self._last_completed_start, started)
            if ok:
                self._last_success_start = max(self._last_success_start, started)

    async def _fetch(self) -> bool:
        if self.origin is None:
            self.last_error = "no origin client"
            return False
        headers = [("Accept", "application/json"), ("Cache-Control", "no-cache")]
        if self.device_token:
            headers.append(("Authorization", f"Bearer {self.device_token}"))
        try:
            resp = await self.origin.send(
                "GET", self.digests_path, headers, deadline=self.request_timeout
            )
            if resp.status != 200:
                self.last_error = f"HTTP {resp.status} from {self.digests_path}"
                log.error("token digest sync refused", extra={
                    "event": "auth_sync_failed", "status": resp.status})
                return False
            data = json.loads(resp.body)
            self._apply(data)
            await asyncio.to_thread(self._persist, data)
        except (OriginError, OSError, ValueError, TypeError, KeyError) as exc:
            self.last_error = str(exc) if isinstance(exc, OriginError) else (
                f"{type(exc).__name__}: {exc}")
            log.info("token digest sync failed", extra={
                "event": "auth_sync_failed", "error": self.last_error})
            return False
        self.last_sync_at = self.clock()
        self.last_error = None
        log.info("token digests synced", extra={
            "event": "auth_synced", "count": len(self._digests)})
        return True

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        if self.enabled and (self._task is None or self._task.done()):
            self._task = asyncio.create_task(self.run(), name="edge-cache-token-sync")

    async def run(self) -> None:
        self._stopping = False
        while not self._stopping:
            ok = await self.refresh() if self.is_online() else False
            refused = (self.last_error or "").startswith("HTTP ")
            # retry soon after a network failure; an origin that refuses our device
            # token is asked again only at the normal interval
            delay = self.sync_interval if ok or refused else min(self.sync_interval, 2.0)
            await asyncio.sleep(delay)

    async def stop(self) -> None:
        self._stopping = True
        for task in (self._task, self._refresh_task):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._task = None

