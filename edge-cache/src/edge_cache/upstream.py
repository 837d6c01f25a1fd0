"""The origin client: pooled keep-alive connections (aiohttp) with a per-request deadline."""

from __future__ import annotations

import asyncio
import time

import aiohttp
from yarl import URL

from edge_cache.freshness import HOP_BY_HOP
from edge_cache.messages import Headers, Response
from edge_cache.metrics import Metrics

IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"})


class OriginError(Exception):
    """The origin could not be reached or sent no usable response.

    `kind`: "connect" (refused/reset before a response), "timeout" (deadline passed) or
    "broken" (the origin sent an invalid response).
    """

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail


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
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        if self._session is None:
            connector = aiohttp.TCPConnector(
                # below common server idle timeouts (uvicorn: 5 s), so we close first
                limit=self.connections,
                keepalive_timeout=4,
                ttl_dns_cache=60,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                auto_decompress=False,
                skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
                timeout=aiohttp.ClientTimeout(total=self.timeout),
            )

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("origin client not started")
        return self._session

    async def send(
        self,
        method: str,
        target: str,
        headers: Headers,
        body: bytes = b"",
        *,
        deadline: float | None = None,
    ) -> Response:
        """One request to the origin; raises OriginError on transport failures."""
        url = URL(self.base + target, encoded=True)
        started = time.perf_counter()
        total = deadline or self.timeout
        try:
            for attempt in (1, 2):
                try:
                    async with self.session.request(
                        method,
                        url,
                        headers=headers,
                        data=body if body else None,
                        allow_redirects=False,
                        # Deadlines on connecting and on each read, not on waiting for a pooled
                        # connection: a burst of misses must not look like an outage.
                        timeout=aiohttp.ClientTimeout(
                            total=None, sock_connect=total, sock_read=total
                        ),
                    ) as resp:
                        payload = await resp.read()
                        raw = [
                            (k.decode("latin-1"), v.decode("latin-1")) for k, v in resp.raw_headers
                        ]
                        status = resp.status
                    break
                except aiohttp.ServerDisconnectedError:
                    # A pooled keep-alive connection the origin had just closed: one retry for
                    # idempotent methods, so an idle-timeout race is not taken for an outage.
                    if attempt == 2 or method not in IDEMPOTENT:
                        raise
                    total = max(0.001, total - (time.perf_counter() - started))
        except TimeoutError as exc:
            self._error("timeout")
            raise OriginError("timeout", f"no answer within {deadline or self.timeout}s") from exc
        except (aiohttp.ClientResponseError, aiohttp.ClientPayloadError) as exc:
            self._error("broken")
            raise OriginError("broken", str(exc) or type(exc).__name__) from exc
        except (aiohttp.ClientError, OSError, asyncio.IncompleteReadError) as exc:
            self._error("connect")
            raise OriginError("connect", str(exc) or type(exc).__name__) from exc
        except ValueError as exc:  # e.g. an invalid URL or header built from client input
            self._error("broken")
            raise OriginError("broken", str(exc)) from exc
        if self.metrics is not None:
            self.metrics.origin_request_seconds.observe(time.perf_counter() - started)
        coding = unframeable(raw)
        if coding is not None:
            self._error("broken")
            raise OriginError("broken", f"transfer coding {coding!r} cannot be forwarded")
        return Response(status, forwardable(raw), payload)

    def _error(self, kind: str) -> None:
        if self.metrics is not None:
            self.metrics.origin_errors_total.labels(kind).inc()
