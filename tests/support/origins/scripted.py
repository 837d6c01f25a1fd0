"""A scripted test origin for edge-cache tests: a real aiohttp server on a loopback port.

Shared by everyone who tests the sidecar (core RFC tests and the offline half). Usage::

    origin = ScriptedOrigin(clock=clock)          # clock: () -> float, for the Date header
    await origin.start()                           # picks a free port; origin.url is the base URL
    origin.route("/a", headers={"Cache-Control": "max-age=60"}, body=b"hello")
    origin.route("/b", etag='"v1"', headers={"Cache-Control": "max-age=0"})   # 304 on match
    origin.route("/c", handler=my_fn)              # my_fn(request: web.Request, body) -> Script
    origin.mode = "ok" | "refuse" | "blackhole" | "slow" | "5xx" | "broken"
    await origin.set_mode("refuse")                # closes the listening socket; "ok" reopens
    origin.count("/a")                             # requests seen for a path (any method)
    origin.count("/a", "POST")
    origin.requests                                # list[Seen]: method, target, headers, body

Modes: ``ok`` answers the script; ``refuse`` closes the port (connection refused); ``blackhole``
accepts and never answers; ``slow`` waits ``origin.delay`` seconds first; ``5xx`` answers
``origin.error_status`` (503 by default); ``broken`` writes an invalid HTTP response and closes.

Unscripted paths answer 200 with ``Cache-Control: max-age=60`` and a body naming the path;
unsafe methods on unscripted paths answer 201 echoing the body. Every response carries
``X-Origin-Count`` (the request number for that path) so tests can tell fresh from cached bodies.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from aiohttp import web

from tests.support.origins.digests import digest_list
from tests.support.origins.switchable import SwitchableServer


@dataclass
class Script:
    status: int = 200
    headers: dict[str, str] | list[tuple[str, str]] = field(default_factory=dict)
    body: bytes = b""
    etag: str | None = None
    last_modified: float | None = None  # epoch seconds
    delay: float = 0.0


@dataclass
class Seen:
    method: str
    target: str
    headers: dict[str, str]
    body: bytes


Handler = Callable[[web.Request, bytes], "Script | Awaitable[Script]"]


class ScriptedOrigin(SwitchableServer):
    client_max_size = 64 * 1024 * 1024

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        super().__init__()
        self.clock = clock
        self.delay = 5.0
        self.error_status = 503
        self.scripts: dict[tuple[str, str], Script | Handler] = {}
        self.requests: list[Seen] = []
        self._counts: dict[tuple[str, str], int] = {}

    def route(
        self,
        path: str,
        *,
        method: str = "GET",
        status: int = 200,
        headers: dict[str, str] | list[tuple[str, str]] | None = None,
        body: bytes = b"",
        etag: str | None = None,
        last_modified: float | None = None,
        delay: float = 0.0,
        handler: Handler | None = None,
    ) -> None:
        """Script the answer for `method path` (path may include a query string)."""
        if handler is not None:
            self.scripts[(method, path)] = handler
        else:
            self.scripts[(method, path)] = Script(
                status, headers or {}, body, etag, last_modified, delay
            )

    def count(self, path: str, method: str | None = None) -> int:
        return sum(
            n for (m, p), n in self._counts.items() if p == path and (method is None or m == method)
        )

    def reset_counts(self) -> None:
        self._counts.clear()
        self.requests.clear()

    def _date(self) -> str:
        return email.utils.formatdate(self.clock(), usegmt=True)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if self.mode == "refuse":  # a kept-alive connection from before the port was closed
            if request.transport is not None:
                request.transport.abort()
            raise web.HTTPServiceUnavailable()  # never reaches the client
        body = await request.read()
        path = request.path_qs
        key = (request.method, path)
        if key not in self.scripts and request.method == "HEAD":
            key = ("GET", path)
        if key not in self.scripts and (request.method, request.path) in self.scripts:
            key = (request.method, request.path)
        count_key = (request.method, request.path)
        self._counts[count_key] = self._counts.get(count_key, 0) + 1
        self.requests.append(Seen(request.method, path, dict(request.headers), body))
        n = self._counts[count_key]
        if self.mode == "blackhole":
            await self._release.wait()
        if self.mode == "slow":
            await asyncio.sleep(self.delay)
        if self.mode == "5xx":
            return web.Response(status=self.error_status, text="origin error")
        if self.mode == "broken":
            transport = request.transport
            if transport is not None:
                transport.write(b"HTTP/1.1 2x0 Bogus\r\nContent-Length: zz\r\n\r\ngarbage")
                transport.close()
            raise web.HTTPBadRequest()  # never reaches the client
        entry = self.scripts.get(key)
        if entry is None:
            if request.method in ("GET", "HEAD"):
                script = Script(200, {"Cache-Control": "max-age=60"}, f"path {path}".encode())
            else:
                script = Script(201, {"Content-Type": "application/octet-stream"}, body)
        elif isinstance(entry, Script):
            script = entry
        else:
            result = entry(request, body)
            script = await result if asyncio.iscoroutine(result) else result  # type: ignore[assignment]
        assert isinstance(script, Script)
        if script.delay:
            await asyncio.sleep(script.delay)
        headers: list[tuple[str, str]] = [("Date", self._date()), ("X-Origin-Count", str(n))]
        items = script.headers.items() if isinstance(script.headers, dict) else script.headers
        headers.extend(items)
        if script.etag is not None:
            headers.append(("ETag", script.etag))
        if script.last_modified is not None:
            headers.append(
                ("Last-Modified", email.utils.formatdate(script.last_modified, usegmt=True))
            )
        status = script.status
        payload = script.body
        if status == 200 and request.method in ("GET", "HEAD") and _not_modified(request, script):
            status, payload = 304, b""
            headers = [(k, v) for k, v in headers if k.lower() not in ("content-type",)]
        response = web.Response(status=status, body=payload if status != 304 else None)
        for k, v in headers:
            response.headers.add(k, v)
        return response


def token_digests(roles: dict[str, str]) -> Handler:
    """A handler for the origin's token-digest list (contracts §3): token -> role."""

    def handler(request: web.Request, body: bytes) -> Script:
        return Script(200, {"Content-Type": "application/json", "Cache-Control": "no-store"},
                      digest_list({token: (role, None) for token, role in roles.items()}))

    return handler


def _not_modified(request: web.Request, script: Script) -> bool:
    inm = request.headers.get("If-None-Match")
    if inm is not None:
        if script.etag is None:
            return False
        tags = [t.strip().removeprefix("W/") for t in inm.split(",")]
        return "*" in tags or script.etag.removeprefix("W/") in tags
    ims = request.headers.get("If-Modified-Since")
    if ims is not None and script.last_modified is not None:
        with contextlib.suppress(TypeError, ValueError):
            since = email.utils.parsedate_to_datetime(ims).timestamp()
            return int(script.last_modified) <= since
    return False
