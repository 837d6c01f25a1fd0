"""`Idempotency-Key` on every POST/PATCH under /api (draft-ietf-httpapi-idempotency-key).

missing → 400; same key + different request → 422; same key still in flight → 409 with
`Retry-After: 1`; a replay returns the stored response with `Idempotent-Replayed: true`.
Keys are scoped per credential (sha256 of the presented token).
"""

from __future__ import annotations

import datetime as dt
import hashlib

import anyio
from starlette.datastructures import Headers
from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from inventory_app import metrics
from inventory_app.api.problem_handlers import problem_response
from inventory_app.db import Database
from inventory_app.problems import FieldError, ProblemError
from inventory_app.services import idempotency as store
from inventory_app.settings import Settings

METHODS = ("POST", "PATCH")
STORED_STATUSES = frozenset({200, 201, 202, 204, 400, 404, 410, 422})
STORED_HEADERS = ("content-type", "location", "etag", "cache-control")
MAX_KEY_LENGTH = 255
MAX_BODY = 4 * 1024 * 1024


def _principal_scope(headers: Headers) -> str:
    auth = headers.get("authorization")
    if auth is None:
        auth = "cookie:" + cookie_parser(headers.get("cookie", "")).get("inventory_session", "")
    return hashlib.sha256(auth.encode("utf-8")).hexdigest()


class IdempotencyMiddleware:
    def __init__(self, app: ASGIApp, db: Database, settings: Settings) -> None:
        self.app = app
        self.db = db
        self.retention = dt.timedelta(hours=settings.idempotency_retention_hours)
        self.inflight_timeout = dt.timedelta(seconds=settings.idempotency_inflight_timeout_s)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope.get("method") not in METHODS
            or not str(scope.get("path", "")).startswith("/api/")
        ):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        key = headers.get("idempotency-key")
        if key is None or not key.strip() or len(key) > MAX_KEY_LENGTH:
            await self._problem(scope, send, ProblemError(
                400, "idempotency-key-missing", "Idempotency-Key required",
                "every POST/PATCH needs an Idempotency-Key header (1-255 characters)",
                [FieldError("Idempotency-Key", "missing or too long")]))
            return
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
        principal = _principal_scope(headers)

        def claim() -> store.Decision:
            with self.db.write() as session:
                return store.begin(session, principal, key.strip(), digest.hexdigest(),
                                   retention=self.retention,
                                   inflight_timeout=self.inflight_timeout)

        decision = await anyio.to_thread.run_sync(claim)
        if decision.action == "mismatch":
            await self._problem(scope, send, ProblemError(
                422, "idempotency-key-reused", "Idempotency-Key reused",
                "this Idempotency-Key was used for a different request",
                [FieldError("Idempotency-Key", "already used with a different body")]))
            return
        if decision.action == "in_flight":
            await self._problem(scope, send, ProblemError(
                409, "idempotency-key-in-flight", "Request in progress",
                "a request with this Idempotency-Key is still being processed; retry later",
                [FieldError("Idempotency-Key", "in flight")], headers={"Retry-After": "1"}))
            return
        if decision.action == "replay":
            metrics.IDEMPOTENT_REPLAYS.inc()
            out = [(k.encode(), v.encode()) for k, v in (decision.headers or {}).items()]
            out.append((b"idempotent-replayed", b"true"))
            out.append((b"content-length", str(len(decision.body or b"")).encode()))
            await send({"type": "http.response.start", "status": decision.status or 200,
                        "headers": out})
            await send({"type": "http.response.body", "body": decision.body or b""})
            return

        assert decision.record_id is not None
        record_id = decision.record_id
        delivered = False

        async def replay_receive() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": raw_body, "more_body": False}
            return await receive()

        status = 500
        resp_headers: dict[str, str] = {}
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                for k, v in message.get("headers", []):
                    name = k.decode("latin-1").lower()
                    if name in STORED_HEADERS:
                        resp_headers[name] = v.decode("latin-1")
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, replay_receive, capture)
        finally:
            response_body = b"".join(chunks)

            def complete() -> None:
                with self.db.write() as session:
                    if status in STORED_STATUSES:
                        store.finish(session, record_id, status, resp_headers, response_body)
                    else:
                        store.abandon(session, record_id)

            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(complete)

    async def _problem(self, scope: Scope, send: Send, problem: ProblemError) -> None:
        response = problem_response(problem)
        await response(scope, _empty, send)


async def _empty() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}
