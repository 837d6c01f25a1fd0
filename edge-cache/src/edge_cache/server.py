"""The client-facing HTTP/1.1 server: an `asyncio.Protocol` on httptools (llhttp).

* keep-alive and pipelining: requests on one connection are answered strictly in order, one at
  a time; reading pauses while more than `PIPELINE_MAX` requests wait;
* limits: request line + headers over `max_header_bytes` -> 431, body over `max_body_bytes`
  -> 413 (from Content-Length before reading, or while reading a chunked body), malformed -> 400;
  each of these closes the connection;
* fresh hits are answered synchronously from pre-serialized bytes (`Proxy.fast_hit`: no task,
  no Response object); everything else runs `EdgeCache.handle` in a task.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import logging
import socket
import time
from collections import deque
from typing import Any

import httptools

from edge_cache.app import EdgeCache
from edge_cache.entry import CachedResponse, reason
from edge_cache.heads import HeadMemo, ParsedHead
from edge_cache.logs import AccessLog
from edge_cache.messages import Request, Response

log = logging.getLogger("edge_cache.server")

PIPELINE_MAX = 32
IDLE_TIMEOUT = 75.0  # seconds a connection may stay silent (keep-alive idle or a stalled request)
NO_BODY_STATUSES = frozenset({204, 304})
_date_cache: list[Any] = [0, b""]
_FAST_METHODS = frozenset({"GET", "HEAD"})
_METHODS = {m.encode(): m for m in ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")}
# what ends the head of a fast-path answer: keep-alive (HTTP/1.1), keep-alive confirmed for
# HTTP/1.0, or the last answer on the connection
_END_OF_HEAD = b"\r\n"
_KEEP_ALIVE_10 = b"Connection: keep-alive\r\n\r\n"
_CLOSE = b"Connection: close\r\n\r\n"


def http_date() -> bytes:
    now = int(time.time())
    if _date_cache[0] != now:
        _date_cache[0] = now
        _date_cache[1] = email.utils.formatdate(now, usegmt=True).encode()
    value: bytes = _date_cache[1]
    return value


def serialize(
    resp: Response, head_request: bool, keep_alive: bool, http10: bool = False
) -> bytes:
    lines = [b"HTTP/1.1 %d %s" % (resp.status, reason(resp.status).encode())]
    has_date = False
    length: bytes | None = None
    for k, v in resp.headers:
        lk = k.lower()
        if lk == "content-length":
            length = v.encode("latin-1", "replace")
            continue
        if lk in ("connection", "keep-alive", "transfer-encoding"):
            continue
        if lk == "date":
            has_date = True
        lines.append(k.encode("latin-1", "replace") + b": " + v.encode("latin-1", "replace"))
    if not has_date:
        lines.append(b"Date: " + http_date())
    body = resp.body
    if resp.status in NO_BODY_STATUSES or 100 <= resp.status < 200:
        body = b""
        if resp.status == 304 and length is not None:
            lines.append(b"Content-Length: " + length)
    elif head_request:
        lines.append(b"Content-Length: " + (length if length is not None else b"%d" % len(body)))
        body = b""
    else:
        lines.append(b"Content-Length: %d" % len(body))
    if not keep_alive:
        lines.append(b"Connection: close")
    elif http10:
        lines.append(b"Connection: keep-alive")
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


class _Reject(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status


class _Pending:
    __slots__ = ("fields", "http10", "keep_alive", "request", "started")

    def __init__(
        self, request: Request, fields: dict[str, str], keep_alive: bool, started: float
    ) -> None:
        self.request = request
        self.fields = fields
        self.keep_alive = keep_alive
        self.http10 = False
        self.started = started


class HttpServer:
    def __init__(self, edge: EdgeCache, access_log: AccessLog) -> None:
        self.edge = edge
        self.access_log = access_log
        self.connections: set[Connection] = set()
        self.server: asyncio.Server | None = None
        self.max_header = edge.settings.max_header_bytes
        self.max_body = edge.settings.max_body_bytes
        self.closing = False
        self.inflight = 0
        self.tasks: set[asyncio.Future[None]] = set()
        self.idle_timeout = IDLE_TIMEOUT
        self._sweeper: asyncio.Future[None] | None = None
        self.fast_hit = edge.proxy.fast_hit  # the task-free hit path (looked up once)
        self.heads = HeadMemo()  # heads parsed before, by their bytes (shared by connections)

    async def start(self, host: str, port: int) -> asyncio.Server:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(
            lambda: Connection(self), host, port, reuse_address=True, backlog=1024
        )
        self._sweeper = asyncio.ensure_future(self._sweep())
        return self.server

    async def _sweep(self) -> None:
        """Close connections that stayed silent for IDLE_TIMEOUT (slow or stuck clients)."""
        while not self.closing:
            await asyncio.sleep(min(1.0, self.idle_timeout / 3))
            now = time.monotonic()
            limit = now - self.idle_timeout
            for conn in list(self.connections):
                if conn.active:  # read or written since the last sweep (no clock per request)
                    conn.active = False
                    conn.last_active = now
                elif conn.last_active < limit and not conn.busy:
                    conn.abort()

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.sockets[0].getsockname()[1])

    async def shutdown(self, grace: float = 10.0) -> None:
        """Stop accepting, let in-flight requests finish (up to `grace` s), close connections."""
        self.closing = True
        if self._sweeper is not None:
            self._sweeper.cancel()
        if self.server is not None:
            self.server.close()
        for conn in list(self.connections):
            conn.close_when_idle()
        deadline = time.monotonic() + grace
        while self.connections and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.02)
        for conn in list(self.connections):
            conn.abort()
        if self.server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.server.wait_closed(), 1.0)


class Connection(asyncio.Protocol):
    def __init__(self, server: HttpServer) -> None:
        self.server = server
        self.edge = server.edge
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpRequestParser(self)
        self.queue: deque[_Pending] = deque()
        self.busy = False
        self.closed = False
        self.close_after = False
        self.paused = False
        self.write_paused = False
        self.last_active = time.monotonic()  # as of the last sweep that saw it active
        self.active = False
        self.client = ""
        self.timed = server.access_log.enabled  # the request log gives each request's time
        self.fast_hit = server.fast_hit
        self.heads = server.heads
        self._kept = server.heads.get  # looked up once: the lookup runs on every read
        self._kept_max = server.heads.max_head_bytes
        # the parser has consumed whole messages only (no request begun): a read may be
        # answered from a kept parse (`heads`) without feeding the parser
        self.at_boundary = True
        self._may_keep = False  # this read may become a kept head (a whole one, small)
        # the parse to keep: this read's first message, while it is the only one completed
        self._keep: tuple[Request, dict[str, str]] | None = None
        self._started = 0.0
        self._new_message()

    # -- transport callbacks ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        peer = transport.get_extra_info("peername")
        self.client = str(peer[0]) if peer else ""
        self.server.connections.add(self)
        if self.server.closing:
            self.close_after = True

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.server.connections.discard(self)

    def pause_writing(self) -> None:
        """The client reads slower than we answer: stop reading and answering until it drains."""
        self.write_paused = True
        if self.transport is not None and not self.paused:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        self.write_paused = False
        if self.transport is not None and not self.paused:
            self.transport.resume_reading()
        self._dispatch()

    def data_received(self, data: bytes) -> None:
        self.active = True
        if self.close_after and not self.busy and not self.queue:
            return
        if self.at_boundary and len(data) <= self._kept_max:
            kept = self._kept(data)
            if kept is not None and not (
                self.queue or self.busy or self.closed or self.write_paused or self.paused
                or self.server.closing
            ):
                self.heads.reused += 1
                if self.timed:
                    self._answer(
                        kept.request, kept.fields, True, False, time.perf_counter(), kept
                    )
                else:
                    self._answer_now(kept.request, kept.fields, 0.0, kept)
                return
            self._may_keep = True
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._fail(400, "protocol upgrades are not supported")
        except httptools.HttpParserCallbackError as exc:
            cause = exc.__context__ if isinstance(exc.__context__, _Reject) else None
            if cause is not None:
                self._fail(cause.status, str(cause))
            else:
                log.exception("request parsing callback failed")
                self._fail(400, "malformed request")
        except httptools.HttpParserError:
            self._fail(400, "malformed request")
        else:
            # no request begun: nothing of one was read, past whole messages (only the
            # method, which comes before the target, could be; it cannot end a read with CRLF)
            self.at_boundary = not self._url and data.endswith(b"\r\n")
            keep = self._keep
            if keep is not None and self.at_boundary:
                self.heads.remember(data, keep[0], keep[1])
        self._may_keep = False
        self._keep = None

    def _fail(self, status: int, detail: str) -> None:
        """Answer a protocol error after the responses already owed, then close."""
        self.queue.clear()
        self.close_after = True
        if self.busy:
            # The in-flight response goes first; the error is dropped with the connection.
            return
        headers = [("Content-Type", "text/plain"), ("X-Edge-Cache", "BYPASS")]
        resp = Response(status, headers, (detail + "\n").encode())
        self._write(serialize(resp, False, False))
        self.edge.metrics.by_status["NONE"].inc()
        self._close()

    # -- parser callbacks ---------------------------------------------------------------------

    def _new_message(self) -> None:
        """Fresh state for the next request on this connection (no on_message_begin callback:
        one Python call less per request)."""
        self._url = b""
        self._headers: list[tuple[str, str]] = []
        self._fields: dict[str, str] = {}
        self._body: list[bytes] = []
        self._header_bytes = 0
        self._body_bytes = 0

    def on_url(self, url: bytes) -> None:
        if self.timed and not self._url:
            self._started = time.perf_counter()  # the request line begins
        self._header_bytes += len(url)
        if self._header_bytes > self.server.max_header:
            raise _Reject(414 if len(url) > self.server.max_header else 431, "request too large")
        self._url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        self._header_bytes += len(name) + len(value) + 4
        if self._header_bytes > self.server.max_header:
            raise _Reject(431, "request header fields too large")
        k = name.decode("latin-1")
        v = value.decode("latin-1").strip()
        self._headers.append((k, v))
        lk = k.lower()
        fields = self._fields
        fields[lk] = f"{fields[lk]}, {v}" if lk in fields else v

    def on_headers_complete(self) -> None:
        length = self._fields.get("content-length")
        if length is not None:
            if not length.isdigit():
                raise _Reject(400, "invalid Content-Length")
            if int(length) > self.server.max_body:
                raise _Reject(413, "request body too large")
        expect = self._fields.get("expect")
        if expect is not None and expect.lower() == "100-continue" and not self.busy:
            self._write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def on_body(self, body: bytes) -> None:
        self._body_bytes += len(body)
        if self._body_bytes > self.server.max_body:
            raise _Reject(413, "request body too large")
        self._body.append(body)

    def on_message_complete(self) -> None:
        target = self._url.decode("latin-1")
        if not target.startswith("/"):
            if target.startswith(("http://", "https://")):
                rest = target.split("://", 1)[1]
                target = "/" + rest.split("/", 1)[1] if "/" in rest else "/"
            else:
                raise _Reject(400, "invalid request target")
        parser = self.parser
        raw_method = parser.get_method()
        method = _METHODS.get(raw_method) or raw_method.decode("ascii", "replace")
        body = b"".join(self._body) if self._body else b""
        fields = self._fields
        request = Request(method, target, self._headers, body)
        self._new_message()
        keep_alive = parser.should_keep_alive()
        # HTTP/1.0 keep-alive must be confirmed explicitly; an HTTP/1.0 request is kept alive
        # only when it sent `Connection: keep-alive`, so the version is asked only then
        http10 = keep_alive and "connection" in fields and parser.get_http_version() == "1.0"
        if self._keep is not None:
            self._keep = None  # a second message in the read: the read is not one head
        elif self._may_keep:
            self._may_keep = False  # only the read's first message may be kept
            if (
                keep_alive and not body and method in _FAST_METHODS
                and "connection" not in fields and "expect" not in fields
                and not target.startswith("/_edge/")
            ):
                self._keep = (request, fields)  # kept if it was the whole read (data_received)
        if not (self.queue or self.busy or self.closed or self.write_paused or self.paused):
            # nothing owed before it on this connection: answer now (the common case)
            if (
                keep_alive and not http10 and not self.timed and method in _FAST_METHODS
                and not self.close_after and not self.server.closing
                and not target.startswith("/_edge/")
            ):
                # a kept-alive request, no request log: _answer's fast path in fewer steps
                self._answer_now(request, fields, self._started)
                return
            self._answer(request, fields, keep_alive, http10, self._started)
            return
        pending = _Pending(request, fields, keep_alive, self._started)
        pending.http10 = http10
        self.queue.append(pending)
        if len(self.queue) > PIPELINE_MAX and self.transport is not None and not self.paused:
            self.paused = True
            self.transport.pause_reading()
        self._dispatch()

    # -- answering ----------------------------------------------------------------------------

    def _fast_answer(self, req: Request, fields: dict[str, str], end: bytes
                     ) -> tuple[bytes, CachedResponse] | None:
        """The fast hit path's whole answer, or None: the full path answers (also when the
        fast path failed, which is logged)."""
        try:
            return self.fast_hit(req, fields, end)
        except Exception:
            log.exception("fast path failed")
            return None

    def _answer_now(
        self, req: Request, fields: dict[str, str], started: float, kept: ParsedHead | None = None
    ) -> None:
        """A kept-alive HTTP/1.1 request with nothing owed before it and no request log: the
        fast hit path's answer, else a task on the full path (with a copy of a kept parse)."""
        fast = self._fast_answer(req, fields, _END_OF_HEAD)
        if fast is not None:
            self.transport.write(fast[0])  # type: ignore[union-attr]
        else:
            self._start(req if kept is None else kept.fresh_request(), True, False, started)

    def _dispatch(self) -> None:
        while self.queue and not self.busy and not self.closed and not self.write_paused:
            item = self.queue.popleft()
            self._answer(item.request, item.fields, item.keep_alive, item.http10, item.started)
        if (
            self.paused
            and len(self.queue) < PIPELINE_MAX // 2
            and self.transport is not None
            and not self.write_paused
            and not self.closed
        ):
            self.paused = False
            self.transport.resume_reading()

    def _answer(
        self,
        req: Request,
        fields: dict[str, str],
        keep_alive: bool,
        http10: bool,
        started: float,
        kept: ParsedHead | None = None,
    ) -> None:
        """Answer `req` at once from the fast hit path, or start a task for the full path
        (the connection is busy until it finishes); `kept` when `req` is a kept parse, which
        the full path gets a copy of."""
        keep_alive = keep_alive and not self.close_after and not self.server.closing
        if req.method in _FAST_METHODS and not req.target.startswith("/_edge/"):
            end = (_KEEP_ALIVE_10 if http10 else _END_OF_HEAD) if keep_alive else _CLOSE
            fast = self._fast_answer(req, fields, end)
            if fast is not None:
                data, entry = fast
                transport = self.transport
                if transport is not None and not self.closed and not transport.is_closing():
                    transport.write(data)
                access_log = self.server.access_log
                if access_log.enabled:
                    access_log.record(
                        req.method, req.target, entry.status, "HIT",
                        0 if req.method == "HEAD" else len(entry.body), started, self.client,
                    )
                if not keep_alive:
                    self._close()
                return
        self._start(req if kept is None else kept.fresh_request(), keep_alive, http10, started)

    def _start(self, req: Request, keep_alive: bool, http10: bool, started: float) -> None:
        """Answer `req` in a task on the full path; the connection is busy until it ends."""
        self.busy = True
        self.server.inflight += 1
        task = asyncio.ensure_future(self._run(req, keep_alive, http10, started))
        self.server.tasks.add(task)
        task.add_done_callback(self.server.tasks.discard)

    async def _run(self, req: Request, keep_alive: bool, http10: bool, started: float) -> None:
        try:
            try:
                resp = await self.edge.handle(req)
            except Exception:
                log.exception("request failed", extra={"event": "request_error"})
                resp = Response(
                    500, [("Content-Type", "text/plain"), ("X-Edge-Cache", "BYPASS")],
                    b"internal error\n",
                )
            keep_alive = keep_alive and not self.close_after and not self.server.closing
            self._write(serialize(resp, req.method == "HEAD", keep_alive, http10))
            cache = next((v for k, v in resp.headers if k == "X-Edge-Cache"), "")
            self.server.access_log.record(
                req.method, req.target, resp.status, cache, len(resp.body), started,
                self.client,
            )
        finally:
            self.busy = False
            self.server.inflight -= 1
        if not keep_alive:
            self._close()
            return
        self._dispatch()

    def _write(self, data: bytes) -> None:
        self.active = True
        if self.transport is not None and not self.closed and not self.transport.is_closing():
            self.transport.write(data)

    def _close(self) -> None:
        self.closed = True
        self.queue.clear()
        if self.transport is not None:
            self.transport.close()

    def close_when_idle(self) -> None:
        self.close_after = True
        if not self.busy and not self.queue:
            self._close()

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()
