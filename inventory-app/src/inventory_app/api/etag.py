"""Strong ETags on every GET response (lists included) and `If-None-Match` → 304."""

from __future__ import annotations

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from inventory_app.api.http import body_etag

_KEEP_ON_304 = (b"etag", b"cache-control", b"vary", b"content-location", b"date", b"expires",
                b"x-request-id")


def _matches(if_none_match: str, etag: str) -> bool:
    value = if_none_match.strip()
    if value == "*":
        return True
    tags = [t.strip() for t in value.split(",")]
    # weak comparison for If-None-Match (RFC 9110 §13.1.2)
    bare = etag.removeprefix("W/")
    return any(t.removeprefix("W/") == bare for t in tags)


class ETagMiddleware:
    """Buffers 200 responses to GET/HEAD, adds `ETag` (hash of the body) when the handler did
    not set one, and answers `304 Not Modified` when `If-None-Match` matches."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") != "GET":
            await self.app(scope, receive, send)
            return
        if_none_match = Headers(scope=scope).get("if-none-match")
        start: Message | None = None
        chunks: list[bytes] = []
        passthrough = False

        async def send_wrapper(message: Message) -> None:
            nonlocal start, passthrough
            if passthrough:
                await send(message)
                return
            if message["type"] == "http.response.start":
                if message["status"] != 200:
                    passthrough = True
                    await send(message)
                    return
                start = message
                return
            if message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if message.get("more_body", False):
                    return
                assert start is not None
                body = b"".join(chunks)
                headers = MutableHeaders(raw=list(start["headers"]))
                etag = headers.get("etag")
                if etag is None:
                    etag = body_etag(body)
                    headers["ETag"] = etag
                if if_none_match is not None and _matches(if_none_match, etag):
                    kept = [(k, v) for k, v in headers.raw if k.lower() in _KEEP_ON_304]
                    await send({"type": "http.response.start", "status": 304, "headers": kept})
                    await send({"type": "http.response.body", "body": b""})
                    return
                await send({**start, "headers": headers.raw})
                await send({"type": "http.response.body", "body": body})
                return
            await send(message)

        await self.app(scope, receive, send_wrapper)
