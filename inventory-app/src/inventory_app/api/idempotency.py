"""`Idempotency-Key` on every POST/PATCH under /api (draft-ietf-httpapi-idempotency-key).

missing → 400; same key + different request → 422; same key still in flight → 409 with
`Retry-After: 1`; a replay returns the stored response with `Idempotent-Replayed: true`.
Keys are scoped per credential (sha256 of the presented token).

One transaction per request: the key's claim (an INSERT of the unique (principal, key) row),
the endpoint's work and the stored response commit together, or not at all, so a crash at any
point leaves nothing behind and the retry runs as if it were the first attempt. The endpoint
reaches that transaction through `Database.read()`/`write()` (bound to the request's context);
the response is held back until the commit succeeded.

Concurrency guard:
- in this process, a registry of the keys in flight answers a second request with the same
  key at once (409, or 422 when its body differs);
- across processes on PostgreSQL, `pg_try_advisory_xact_lock(hash(principal, key))` is held
  by the claiming transaction, so another process answers 409 instead of waiting; the unique
  index on the key row is the final guard (a conflicting INSERT → 409);
- across processes on SQLite, the claim's `BEGIN IMMEDIATE` serialises: the second request
  waits and then replays the stored response.
The claim waits for the database's writer lock in threads of its own capacity limiter, so
requests queued for the lock can never starve the thread pool that the lock holder needs to
finish its request.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import os
import signal
import threading
from dataclasses import dataclass, field

import anyio
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from starlette.datastructures import Headers
from starlette.requests import Request, cookie_parser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from inventory_app import metrics
from inventory_app.api.deps import request_token
from inventory_app.api.problem_handlers import log, problem_response
from inventory_app.db import Database, RequestTransaction
from inventory_app.problems import FieldError, ProblemError
from inventory_app.services import idempotency as store
from inventory_app.services.auth import authenticate
from inventory_app.settings import Settings

METHODS = ("POST", "PATCH")
STORED_STATUSES = frozenset({200, 201, 202, 204, 400, 404, 410, 422})
STORED_HEADERS = ("content-type", "location", "etag", "cache-control")
MAX_KEY_LENGTH = 255
MAX_BODY = 4 * 1024 * 1024
FAULT_POINTS = ("after-claim", "after-work", "before-commit", "after-commit")
CLAIM_THREADS = 16


class ClaimLimiter:
    """The running event loop's limiter for threads that wait for the writer lock (one per
    loop: a test client may run the app on several loops, one after the other)."""

    def __init__(self, threads: int = CLAIM_THREADS) -> None:
        self._threads = threads
        self._loop: asyncio.AbstractEventLoop | None = None
        self._limiter: anyio.CapacityLimiter | None = None

    def get(self) -> anyio.CapacityLimiter:
        loop = asyncio.get_running_loop()
        if self._limiter is None or self._loop is not loop:
            self._loop, self._limiter = loop, anyio.CapacityLimiter(self._threads)
        return self._limiter


def _principal_scope(headers: Headers) -> str:
    auth = headers.get("authorization")
    if auth is None:
        auth = "cookie:" + cookie_parser(headers.get("cookie", "")).get("inventory_session", "")
    return hashlib.sha256(auth.encode("utf-8")).hexdigest()


def advisory_key(principal: str, key: str) -> int:
    """A signed 64-bit lock id for `pg_try_advisory_xact_lock` (a collision only costs a 409)."""
    digest = hashlib.sha256(f"{principal}\n{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@dataclass(frozen=True)
class FaultPoint:
    """Test hook: SIGKILL the process at `point` (for requests with `key`, or any)."""

    point: str
    key: str | None

    @staticmethod
    def parse(raw: str) -> FaultPoint | None:
        raw = raw.strip()
        if not raw:
            return None
        point, _, key = raw.partition(":")
        if point not in FAULT_POINTS:
            raise ValueError(f"unknown fault point {point!r} (one of {', '.join(FAULT_POINTS)})")
        return FaultPoint(point, key or None)

    def hit(self, point: str, key: str) -> None:
        if point == self.point and self.key in (None, key):
            log.warning("fault injection: killing the process", extra={"fields": {
                "point": point}})
            os.kill(os.getpid(), signal.SIGKILL)


@dataclass
class Captured:
    """The endpoint's response, held back until the transaction committed."""

    status: int = 500
    messages: list[Message] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)
    chunks: list[bytes] = field(default_factory=list)

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = int(message["status"])
            for k, v in message.get("headers", []):
                name = k.decode("latin-1").lower()
                if name in STORED_HEADERS:
                    self.headers[name] = v.decode("latin-1")
        elif message["type"] == "http.response.body":
            self.chunks.append(message.get("body", b""))
        self.messages.append(message)


class InFlightRegistry:
    """Keys being processed by this process: (principal, key) → request hash."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._keys: dict[tuple[str, str], str] = {}

    def enter(self, ident: tuple[str, str], request_hash: str) -> str | None:
        """Register `ident`; returns the hash of the request already holding it, if any."""
        with self._lock:
            other = self._keys.get(ident)
            if other is None:
                self._keys[ident] = request_hash
            return other

    def leave(self, ident: tuple[str, str]) -> None:
        with self._lock:
            self._keys.pop(ident, None)


def _in_flight() -> ProblemError:
    return ProblemError(
        409, "idempotency-key-in-flight", "Request in progress",
        "a request with this Idempotency-Key is still being processed; retry later",
        [FieldError("Idempotency-Key", "in flight")], headers={"Retry-After": "1"})


def _mismatch() -> ProblemError:
    return ProblemError(
        422, "idempotency-key-reused", "Idempotency-Key reused",
        "this Idempotency-Key was used for a different request",
        [FieldError("Idempotency-Key", "already used with a different body")])


class IdempotencyMiddleware:
    def __init__(self, app: ASGIApp, db: Database, settings: Settings) -> None:
        self.app = app
        self.db = db
        self.retention = dt.timedelta(hours=settings.idempotency_retention_hours)
        self.inflight_timeout = dt.timedelta(seconds=settings.idempotency_inflight_timeout_s)
        self.fault = FaultPoint.parse(settings.fault_exit_at)
        self.registry = InFlightRegistry()
        self.claim_limiter = ClaimLimiter()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope.get("method") not in METHODS
            or not str(scope.get("path", "")).startswith("/api/")
        ):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        raw_key = headers.get("idempotency-key")
        if raw_key is None or not raw_key.strip() or len(raw_key) > MAX_KEY_LENGTH:
            await self._problem(scope, send, ProblemError(
                400, "idempotency-key-missing", "Idempotency-Key required",
                "every POST/PATCH needs an Idempotency-Key header (1-255 characters)",
                [FieldError("Idempotency-Key", "missing or too long")]))
            return
        key = raw_key.strip()
        body = bytearray()
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body.extend(message.get("body", b""))
            more = bool(message.get("more_body", False))
            if len(body) > MAX_BODY:
                await self._problem(scope, send, ProblemError(
                    413, "payload-too-large", "Payload too large", "the body exceeds 4 MiB"))
                return
        raw_body = bytes(body)
        digest = hashlib.sha256()
        digest.update(f"{scope['method']} {scope['path']}?".encode())
        digest.update(scope.get("query_string", b""))
        digest.update(b"\n")
        digest.update(raw_body)
        request_hash = digest.hexdigest()
        principal = _principal_scope(headers)
        ident = (principal, key)
        other = self.registry.enter(ident, request_hash)
        if other is not None:
            problem = _mismatch() if other != request_hash else _in_flight()
            await self._problem(scope, send, problem)
            return
        try:
            await self._once(scope, receive, send, ident, request_hash, raw_body)
        finally:
            self.registry.leave(ident)

    async def _once(self, scope: Scope, receive: Receive, send: Send, ident: tuple[str, str],
                    request_hash: str, raw_body: bytes) -> None:
        principal, key = ident
        tx = self.db.request_transaction()
        try:
            with self.db.bind(tx):
                decision = await anyio.to_thread.run_sync(
                    self._claim, tx, principal, key, request_hash, scope,
                    limiter=self.claim_limiter.get())
                if decision.action != "proceed":
                    await anyio.to_thread.run_sync(tx.close)  # free the writer lock first
                    await self._answer(scope, send, decision)
                    return
                self._fault("after-claim", key)
                delivered = False

                async def replay_receive() -> Message:
                    nonlocal delivered
                    if not delivered:
                        delivered = True
                        return {"type": "http.request", "body": raw_body, "more_body": False}
                    return await receive()

                captured = Captured()
                await self.app(scope, replay_receive, captured)
                self._fault("after-work", key)
                assert decision.record_id is not None
                committed = await anyio.to_thread.run_sync(
                    self._complete, tx, decision.record_id, captured, ident, request_hash)
            if committed:
                self._fault("after-commit", key)
            elif 200 <= captured.status < 300:
                # the work was rolled back: never acknowledge what was not stored
                await self._problem(scope, send, ProblemError(
                    503, "storage-unavailable", "Service unavailable",
                    "the change could not be committed; retry with the same Idempotency-Key",
                    headers={"Retry-After": "1"}))
                return
            for message in captured.messages:
                await send(message)
        finally:
            if not tx.closed:
                with anyio.CancelScope(shield=True):
                    await anyio.to_thread.run_sync(tx.close)

    def _claim(self, tx: RequestTransaction, principal: str, key: str,
               request_hash: str, scope: Scope | None = None) -> store.Decision:
        """Runs in a claim thread: probe, claim the key row, take the writer lock (and, with
        `scope`, authenticate the request in the same transaction for `current_principal`)."""
        session = tx.session
        try:
            decision = store.begin(
                session, principal, key, request_hash, retention=self.retention,
                inflight_timeout=self.inflight_timeout,
                advisory_lock=None if self.db.is_sqlite else advisory_key(principal, key))
        except IntegrityError:  # another transaction inserted the same key row first
            session.rollback()
            return store.Decision("in_flight")
        if decision.action == "proceed":
            tx.lock()
            if scope is not None:
                token = request_token(Request(scope))
                found = authenticate(session, token) if token else None
                if found is not None:
                    scope.setdefault("state", {})["principal"] = found
        return decision

    def _complete(self, tx: RequestTransaction, record_id: int, captured: Captured,
                  ident: tuple[str, str], request_hash: str) -> bool:
        """Store the response (or drop the claim) and commit; False when nothing committed."""
        principal, key = ident
        try:
            if captured.status not in STORED_STATUSES:
                return False  # the claim goes with the work (rolled back): a retry runs again
            if tx.failed:
                # a write block raised: none of its work may commit; store the answer alone
                tx.rollback()
                if 200 <= captured.status < 300:
                    return False  # never acknowledge work that was undone
                again = self._claim(tx, principal, key, request_hash)
                if again.action != "proceed" or again.record_id is None:
                    return False
                record_id = again.record_id
            store.finish(tx.session, record_id, captured.status, captured.headers,
                         b"".join(captured.chunks))
            tx.session.flush()
            self._fault("before-commit", key)
            tx.commit()
            return True
        except SQLAlchemyError as exc:
            log.error("idempotent request not committed", extra={"fields": {
                "error": type(exc).__name__, "status": captured.status}})
            return False
        finally:
            tx.close()

    def _fault(self, point: str, key: str) -> None:
        if self.fault is not None:
            self.fault.hit(point, key)

    async def _answer(self, scope: Scope, send: Send, decision: store.Decision) -> None:
        if decision.action == "mismatch":
            await self._problem(scope, send, _mismatch())
            return
        if decision.action == "in_flight":
            await self._problem(scope, send, _in_flight())
            return
        metrics.IDEMPOTENT_REPLAYS.inc()
        out = [(k.encode(), v.encode()) for k, v in (decision.headers or {}).items()]
        out.append((b"idempotent-replayed", b"true"))
        out.append((b"content-length", str(len(decision.body or b"")).encode()))
        await send({"type": "http.response.start", "status": decision.status or 200,
                    "headers": out})
        await send({"type": "http.response.body", "body": decision.body or b""})

    async def _problem(self, scope: Scope, send: Send, problem: ProblemError) -> None:
        response = problem_response(problem)
        await response(scope, _empty, send)


async def _empty() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}
