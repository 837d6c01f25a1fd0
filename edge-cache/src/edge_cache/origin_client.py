"""The one origin client: every request the sidecar sends to its origin goes through it.

Proxying and revalidation (`proxy`), replaying the outbox (`outbox.replay`), the health prober
(`health`), the change feed (`changefeed`) and the token digest list (`auth`) all get this one
object from the wiring (`wiring.build`). It owns:

* the connection pool (aiohttp, keep-alive below common server idle timeouts) and, for the
  prober only, single-use connections: a probe asks "can a new connection be made now?" and
  must never queue behind busy pooled requests;
* deadlines: on connecting and on each read, never on waiting for a pooled connection (a burst
  of misses is not an outage);
* what a failure means (`OriginError.kind`): refused (`connect`), dropped (`reset`) or
  `timeout` *before a status line* are transport failures — the origin may be down; any HTTP
  answer, whatever its status, means the origin is up, and an answer that breaks off or is
  malformed is `broken` (a 502 for that request, never an outage);
* what may be logged: an error never carries a query string's credentials (`logs.redact_target`),
  so it can go into a log line or a 502 body as it is.

`renew()` starts over with new connections (after an outage the kept-alive ones are likely
dead); requests still in flight on the old pool finish first.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

import aiohttp
from yarl import URL

from edge_cache.freshness import HOP_BY_HOP
from edge_cache.logs import redact_target
from edge_cache.messages import Headers, Response
from edge_cache.metrics import Metrics

TRANSPORT = frozenset({"connect", "reset", "timeout"})  # no status line: the origin may be down
DEFINITIVE = frozenset({"connect", "reset"})  # refused or dropped: no need to wait and see
# Below common server idle timeouts (uvicorn: 5 s), so the pool closes an idle connection first.
KEEPALIVE_SECONDS = 4.0


class OriginError(Exception):
    """The origin could not be reached, or its answer could not be used.

    `kind`: "connect" (refused before a connection), "reset" (dropped before a status line),
    "timeout" (no status line within the deadline), "broken" (an answer that is malformed or
    breaks off: the origin is up) or "offline" (the request path gave up: declared OFFLINE).
    `detail` never holds a query string's credentials.
    """

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail

    @property
    def transport(self) -> bool:
        """No HTTP answer arrived: the origin may be down (the prober decides)."""
        return self.kind in TRANSPORT

    @property
    def definitive(self) -> bool:
        """Refused or dropped: proof enough for the prober, without waiting for more probes."""
        return self.kind in DEFINITIVE


def forwardable(headers: Headers, *drop: str) -> Headers:
    """Request or response fields minus hop-by-hop ones (incl. those named in Connection)."""
    named = {
        t.strip().lower() for k, v in headers if k.lower() == "connection" for t in v.split(",")
    }
    skip = HOP_BY_HOP | named | {d.lower() for d in drop}
    return [(k, v) for k, v in headers if k.lower() not in skip]


def unframeable(headers: Headers) -> str | None:
    """A Transfer-Encoding coding other than chunked, or None.

    The client reads chunked only; any other coding (unknown, or gzip as a transfer coding)
    would leave the body encoded once Transfer-Encoding (hop-by-hop) is dropped, so such an
    answer is malformed for this hop: a 502 for that request, never an outage (RFC 9112 §6.1).
    """
    for k, v in headers:
        if k.lower() == "transfer-encoding":
            for coding in v.split(","):
                name = coding.strip().lower()
                if name and name != "chunked":
                    return name
    return None


def classify(exc: BaseException, answered: bool) -> str:
    """The `OriginError.kind` of an exception raised while sending or reading one request."""
    if answered:
        return "broken"  # a status line came: the origin is up, this answer is unusable
    if isinstance(exc, TimeoutError):
        return "timeout"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return "connect"
    if isinstance(exc, aiohttp.ClientResponseError | aiohttp.ClientPayloadError | ValueError):
        return "broken"  # malformed status line or fields (or a URL built from client input)
    return "reset"  # dropped before a status line (disconnected, reset, incomplete)


def _detail(exc: BaseException, kind: str, target: str, deadline: float) -> str:
    if kind == "timeout":
        return f"no answer within {deadline:g}s for {redact_target(target)}"
    if isinstance(exc, aiohttp.ClientConnectorError):
        return f"{type(exc).__name__}: {exc.os_error.strerror or exc.os_error}"
    if isinstance(exc, aiohttp.ClientResponseError):
        return f"{type(exc).__name__}: {exc.message}"  # str(exc) would name the URL
    if isinstance(exc, ValueError) and not isinstance(exc, aiohttp.ClientError):
        return f"{type(exc).__name__} for {redact_target(target)}"  # may quote the URL
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


class OriginClient:
    def __init__(
        self,
        base: str,
        *,
        timeout: float,
        connections: int = 64,
        metrics: Metrics | None = None,
    ) -> None:
        self.base = base.rstrip("/")
        self.timeout = timeout
        self.connections = connections
        self.metrics = metrics
        self.renewals = 0
        self._session: aiohttp.ClientSession | None = None
        self._probes: aiohttp.ClientSession | None = None
        self._busy: dict[aiohttp.ClientSession, int] = {}
        self._retiring: set[aiohttp.ClientSession] = set()
        self._closing: set[asyncio.Task[None]] = set()
        self._closed = False

    # -- lifecycle --------------------------------------------------------------------------

    def _new_session(self, *, single_use: bool = False) -> aiohttp.ClientSession:
        connector = (
            aiohttp.TCPConnector(force_close=True, limit=1)
            if single_use
            else aiohttp.TCPConnector(
                limit=self.connections, keepalive_timeout=KEEPALIVE_SECONDS, ttl_dns_cache=60
            )
        )
        return aiohttp.ClientSession(
            connector=connector,
            auto_decompress=False,
            skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
            timeout=aiohttp.ClientTimeout(total=None),
        )

    def _pool(self) -> aiohttp.ClientSession:
        if self._session is None:
            if self._closed:  # a late request after stop() must not open a pool nobody closes
                raise OriginError("connect", "the origin client is closed")
            self._session = self._new_session()
        return self._session

    async def start(self) -> None:
        self._closed = False
        self._pool()

    def renew(self) -> None:
        """Later requests use new connections; the old pool closes once its requests are done."""
        old, self._session = self._session, None
        self.renewals += 1
        if old is not None:
            self._retiring.add(old)
            self._retire_if_idle(old)

    def _retire_if_idle(self, session: aiohttp.ClientSession) -> None:
        if session in self._retiring and not self._busy.get(session):
            self._retiring.discard(session)
            self._busy.pop(session, None)
            task = asyncio.ensure_future(session.close())
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    async def __aenter__(self) -> OriginClient:
        await self.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        sessions = [s for s in (self._session, self._probes) if s is not None]
        sessions += list(self._retiring)
        self._closed = True
        self._session = self._probes = None
        self._retiring.clear()
        self._busy.clear()
        for session in sessions:
            await session.close()
        for task in list(self._closing):
            with contextlib.suppress(Exception):
                await task

    # -- requests ---------------------------------------------------------------------------

    async def send(
        self,
        method: str,
        target: str,
        headers: Headers,
        body: bytes = b"",
        *,
        deadline: float | None = None,
        measured: bool = True,
    ) -> Response:
        """One request to the origin (`target`: path + query); raises OriginError.

        aiohttp sends an idempotent request once more when its connection is dropped before
        an answer (RFC 9112 §9.3.1), so a pooled connection the origin had just closed is not
        taken for an outage; other methods are sent once. `measured=False` keeps long polls
        out of the latency histogram.
        """
        session = self._pool()
        self._busy[session] = self._busy.get(session, 0) + 1
        started = time.perf_counter()
        try:
            status, raw, payload = await self._exchange(
                session, method, target, headers, body, deadline or self.timeout
            )
        finally:
            left = self._busy.get(session, 1) - 1
            if left > 0:
                self._busy[session] = left
            else:
                self._busy.pop(session, None)
            self._retire_if_idle(session)
        if measured and self.metrics is not None:
            self.metrics.origin_request_seconds.observe(time.perf_counter() - started)
        coding = unframeable(raw)
        if coding is not None:
            self._count("broken")
            raise OriginError("broken", f"transfer coding {coding!r} cannot be forwarded")
        return Response(status, forwardable(raw), payload)

    async def probe(self, path: str, *, deadline: float) -> Response:
        """`GET path` on a new connection (the prober's question); raises OriginError."""
        if self._probes is None:
            if self._closed:
                raise OriginError("connect", "the origin client is closed")
            self._probes = self._new_session(single_use=True)
        headers = [("User-Agent", "edge-cache-prober"), ("Cache-Control", "no-cache")]
        try:
            async with asyncio.timeout(deadline):  # the whole probe, not each step
                status, raw, payload = await self._exchange(
                    self._probes, "GET", path, headers, b"", deadline, count=False
                )
        except TimeoutError as exc:
            raise OriginError("timeout", f"no answer within {deadline:g}s") from exc
        return Response(status, forwardable(raw), payload)

    async def _exchange(
        self,
        session: aiohttp.ClientSession,
        method: str,
        target: str,
        headers: Headers,
        body: bytes,
        deadline: float,
        *,
        count: bool = True,
    ) -> tuple[int, Headers, bytes]:
        answered = False
        try:
            url = URL(self.base + target, encoded=True)
            async with session.request(
                method,
                url,
                headers=headers,
                data=body if body else None,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=deadline,
                                              sock_read=deadline),
            ) as resp:
                answered = True
                payload = await resp.read()
                raw = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in resp.raw_headers]
                return resp.status, raw, payload
        except (aiohttp.ClientError, OSError, TimeoutError, ValueError,
                asyncio.IncompleteReadError) as exc:
            kind = classify(exc, answered)
            if count:
                self._count(kind)
            raise OriginError(kind, _detail(exc, kind, target, deadline)) from exc

    def _count(self, kind: str) -> None:
        if self.metrics is not None:
            self.metrics.origin_errors_total.labels(kind).inc()
