"""Login throttling at the HTTP edge of the app (ASGI middleware around the login form).

`POST /login`: the attempt's user name (form field `username`) and client address make the key
of :class:`~inventory_app.services.login_throttle.LoginThrottle`. A `401` answer counts as a
failure, a `2xx`/`3xx` answer as a success; while the key is blocked the request is refused with
`429` + `Retry-After` (problem+json) before the password is checked.
"""

from __future__ import annotations

import math
import time
from urllib.parse import parse_qs

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from inventory_app.api.problem_handlers import problem_response
from inventory_app.problems import FieldError, ProblemError
from inventory_app.services.login_throttle import LoginThrottle

LOGIN_PATHS = frozenset({"/login"})
MAX_FORM = 64 * 1024


def _username(headers: Headers, body: bytes) -> str:
    if not headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return ""
    try:
        fields = parse_qs(body.decode("utf-8"), max_num_fields=50)
    except (UnicodeDecodeError, ValueError):
        return ""
    return (fields.get("username") or [""])[0][:256]


class LoginGuardMiddleware:
    def __init__(self, app: ASGIApp, throttle: LoginThrottle) -> None:
        self.app = app
        self.throttle = throttle

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (scope["type"] != "http" or scope.get("method") != "POST"
                or scope.get("path") not in LOGIN_PATHS):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            chunks.append(chunk)
            more = bool(message.get("more_body", False)) and size <= MAX_FORM
        body = b"".join(chunks)
        client = (scope.get("client") or ("", 0))[0]
        key = self.throttle.key(_username(Headers(scope=scope), body), client)
        wait = self.throttle.retry_after(key, time.monotonic())
        if wait is not None:
            seconds = max(1, math.ceil(wait))
            response = problem_response(ProblemError(
                429, "too-many-login-attempts", "Too many login attempts",
                f"too many failed logins for this user from this address; retry in {seconds} s",
                [FieldError("username", "temporarily locked after repeated failures")],
                headers={"Retry-After": str(seconds)}))
            await response(scope, receive, send)
            return
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": more}
            return await receive()

        status = 0

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        await self.app(scope, replay, watch)
        if status == 401:
            self.throttle.failed(key, time.monotonic())
        elif 200 <= status < 400:
            self.throttle.succeeded(key)
