"""The request path: RFC 9111 shared-cache decisions, coalescing, offline fallback, write routing.

`Proxy.handle(request)` turns one client request into one response; every response carries
`X-Edge-Cache` and `X-Edge-Outbox-Depth` (and `Age` when it comes from the store). The hit path
that the HTTP server can answer without a task lives in `Proxy.fast_hit`.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import hashlib
import json
import logging
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from edge_cache import answers
from edge_cache.answers import problem
from edge_cache.coalescing import Coalescer
from edge_cache.decision import (
    QUEUE,
    SEND,
    Decision,
    after_send,
    decide_read,
    decide_write,
    may_serve_on_error,
    plain_fresh_age,
    request_directives,
)
from edge_cache.directives import EMPTY, CacheControl, parse_cache_control
from edge_cache.entry import GENERATED, CachedResponse, variant_values, vary_fields
from edge_cache.freshness import (
    freshness_lifetime,
    initial_age,
    is_storable,
    parse_http_date,
)
from edge_cache.invalidation import SAFE_METHODS, invalidation
from edge_cache.messages import Headers, Request, Response
from edge_cache.metrics import Metrics
from edge_cache.origin_client import OriginClient, OriginError, forwardable
from edge_cache.outbox import QUEUED, Outbox, OutboxFull, OutboxStorageError
from edge_cache.outbox.entry import entry_size
from edge_cache.owners import OutboxOwners
from edge_cache.parts import AuthLike, HealthLike
from edge_cache.policy import Policies, RoutePolicy
from edge_cache.settings import Settings
from edge_cache.store import CacheStore
from edge_cache.validation import select_for_update, updated_headers

log = logging.getLogger("edge_cache.proxy")

NOT_FORWARDED = ("host", "expect", "content-length")
CONDITIONAL = ("if-none-match", "if-modified-since", "if-match", "if-unmodified-since", "if-range")
ERROR_STATUSES = frozenset({500, 502, 503, 504})  # stale-if-error applies (RFC 5861)
# Gateway answers: a disconnection only on routes with `gateway_errors_mean_offline`. Anywhere
# else an HTTP answer, whatever its status, means the origin is up (DESIGN §4 failure model).
GATEWAY_STATUSES = frozenset({502, 503, 504})
SET_COOKIE = frozenset({"set-cookie", "set-cookie2"})
# Request "field" naming the credential a stored response was fetched with (see `handle`).
# Field names are tokens (RFC 9110 §5.1), so no client can send one with a colon.
CREDENTIAL_FIELD = ":credential"
# The credential of the request being handled (owner of the writes it queues; X-Edge-Pending).
_OWNER: contextvars.ContextVar[str] = contextvars.ContextVar("edge_owner", default="")
# Request fields that need a decision beyond "fresh entry, same variant".
SLOW_PATH_FIELDS = frozenset(
    {"cache-control", "pragma", "range", "if-none-match", "if-modified-since"}
)


def fields_of(headers: Headers) -> dict[str, str]:
    """Lower-cased field name -> combined value."""
    out: dict[str, str] = {}
    for k, v in headers:
        lk = k.lower()
        out[lk] = f"{out[lk]}, {v}" if lk in out else v
    return out


def credential_cookies(cookie: str | None, names: frozenset[str]) -> str:
    """The `name=value` pairs of the credential cookies in a Cookie header, sorted ('' if none).

    RFC 9111 treats Cookie as an ordinary request field (a response that depends on it says
    `Vary: Cookie`); only the cookies named in EDGE_CACHE_CREDENTIAL_COOKIES (and the session
    cookie checked when credentials are verified) make a request credentialed (§3.5).
    """
    if not cookie or not names:
        return ""
    found = []
    for part in cookie.replace(",", ";").split(";"):
        name, sep, value = part.strip().partition("=")
        if sep and name in names and value:
            found.append(f"{name}={value}")
    return "; ".join(sorted(found))


def credential_of(fields: dict[str, str], cookie_names: frozenset[str] = frozenset()) -> str:
    """A digest naming the request's credential ('' when anonymous)."""
    authorization = fields.get("authorization", "")
    cookies = credential_cookies(fields.get("cookie"), cookie_names)
    if not authorization and not cookies:
        return ""
    cred = authorization + "\x00" + cookies
    return hashlib.sha256(cred.encode("utf-8", "surrogateescape")).hexdigest()[:32]


@dataclass(slots=True)
class Fetched:
    """What one origin fetch for a cache key produced."""

    response: Response | None = None
    entry: CachedResponse | None = None  # stored (or freshened) entry usable by waiters
    status: str = "MISS"  # MISS | EXPIRED | REVALIDATED
    error: OriginError | None = None
    disconnected: bool = False  # a gateway answer taken as a disconnection (route policy)


class Proxy:
    def __init__(
        self,
        *,
        settings: Settings,
        clock: Callable[[], float],
        metrics: Metrics,
        store: CacheStore,
        origin: OriginClient,
        health: HealthLike,
        outbox: Outbox | None,
        auth: AuthLike,
        policies: Policies,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.metrics = metrics
        self.store = store
        self.origin = origin
        self.health = health
        self.outbox = outbox
        self.auth = auth
        self.policies = policies
        self.coalescer: Coalescer[Fetched] = Coalescer()
        self.background: set[asyncio.Future[object]] = set()
        self.origin_host = self.settings.origin_host
        self.credential_cookies = self.settings.credential_cookie_names
        self.owners = OutboxOwners(self.settings.outbox_share)

    # -- helpers ----------------------------------------------------------------------------

    def _decorate(self, resp: Response, status: str, path: str) -> Response:
        outbox = self.outbox
        depth = outbox.depth() if outbox is not None else 0
        resp.headers.append(("X-Edge-Cache", status))
        resp.headers.append(("X-Edge-Outbox-Depth", str(depth)))
        if depth and outbox is not None:
            pending = self.owners.pending_for(_OWNER.get(), path, outbox)
            if pending:
                resp.headers.append(("X-Edge-Pending", str(pending)))
        self.metrics.by_status[status].inc()
        return resp

    def _serve_entry(
        self,
        entry: CachedResponse,
        req: Request,
        fields: dict[str, str],
        status: str,
        now: float,
    ) -> Response:
        age = int(entry.current_age(now))
        self.store.touch(entry)
        if status in ("HIT", "OFFLINE-HIT", "STALE", "UPDATING", "REVALIDATED"):
            self.store.hits += 1
        headers = list(entry.headers)
        headers.append(("Age", str(age)))
        if self._not_modified(entry, fields):
            headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
            return Response(304, headers, b"")
        if req.method == "HEAD":
            headers.append(("Content-Length", str(len(entry.body))))
            return Response(entry.status, headers, b"")
        return Response(entry.status, headers, entry.body)

    @staticmethod
    def _not_modified(entry: CachedResponse, fields: dict[str, str]) -> bool:
        """RFC 9111 §4.3.2: answer a client's conditional GET/HEAD from the stored response."""
        if entry.status != 200:
            return False
        inm = fields.get("if-none-match")
        if inm is not None:
            if entry.etag is None:
                return False
            tags = {t.strip().removeprefix("W/") for t in inm.split(",")}
            return "*" in tags or entry.etag.strip().removeprefix("W/") in tags
        ims = fields.get("if-modified-since")
        if ims is not None:
            since = parse_http_date(ims)
            modified = parse_http_date(entry.last_modified)
            if modified is None:
                modified = parse_http_date(entry.header("date"))
            return since is not None and modified is not None and modified <= since
        return False

    def _select(
        self, key: str, fields: dict[str, str], credentialed: bool
    ) -> CachedResponse | None:
        for entry in self.store.variants(key):
            if entry.matches(fields) and (not credentialed or entry.shareable):
                return entry
        return None

    def _spawn(self, coro: Awaitable[object]) -> None:
        task = asyncio.ensure_future(coro)
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    def _transport_failed(self, error: OriginError) -> bool:
        """Report a failed origin request; True when it is a transport failure.

        Refused, reset or timed out: the origin may be down, so the prober is asked to look at
        once (it alone decides OFFLINE). A malformed answer ("broken") is a 502 for this request
        and says nothing about the origin's health.
        """
        if error.kind in ("broken", "offline"):
            return error.kind == "offline"
        self.health.suspect(f"{error.kind}: {error.detail}")
        return True

    def _gateway_down(self, status: int, policy: RoutePolicy) -> bool:
        """A 502/503/504 on a route whose policy takes gateway answers as a disconnection."""
        if policy.gateway_errors_mean_offline and status in GATEWAY_STATUSES:
            self.health.suspect(f"origin gateway answered {status}")
            return True
        return False

    def _offline_response(self) -> Response:
        retry = max(1, int(self.settings.probe_interval * self.settings.probe_successes + 0.999))
        return problem(
            503,
            "origin-offline",
            "Origin unreachable",
            "The origin is offline and this resource is not in the edge cache.",
            ("Retry-After", str(retry)),
        )

    # -- entry point --------------------------------------------------------------------------

    async def handle(self, req: Request) -> Response:
        fields = fields_of(req.headers)
        answers.use(fields)  # the edge's own answers: JSON, or a page in the caller's language
        path = req.path
        auth = self.auth
        verdict = await auth.check(req)  # may wait for a token-list refresh online
        allowed, role = verdict.allowed, verdict.role
        credential = credential_of(fields, self.credential_cookies)
        _OWNER.set(credential)
        if credential:
            # A response fetched with a credential is a variant of that credential: without
            # credential checks only the same credential gets it (nothing proves who another
            # caller is); with them, any verified credential may get what the origin marked
            # shareable (§3.5), a request without one never. Not a field a client can send.
            fields[CREDENTIAL_FIELD] = "verified" if self.settings.auth_enabled else credential
        if not allowed:
            resp = problem(
                401,
                "unauthorized",
                "Unauthorized",
                "A valid credential is required.",
                ("WWW-Authenticate", 'Bearer realm="edge-cache"'),
            )
            return self._decorate(resp, "BYPASS", path)
        policy = self.policies.for_request(req.method, path)
        if req.method in ("GET", "HEAD"):
            return await self._read(req, fields, policy)
        if req.method in SAFE_METHODS:
            return await self._pass(req, fields, policy)
        return await self._write(req, fields, policy, role)

    # -- reads --------------------------------------------------------------------------------

    async def _read(self, req: Request, fields: dict[str, str], policy: RoutePolicy) -> Response:
        path = req.path
        req_cc = request_directives(fields)
        online = self.health.is_online()
        ranged = "range" in fields
        credential = credential_of(fields, self.credential_cookies)
        entry = None
        if not (policy.bypass or req_cc.no_store or ranged):
            entry = self._select(req.target, fields, bool(credential))
        now = self.clock()
        decision = decide_read(
            req_cc=req_cc, entry=entry, now=now, online=online, policy=policy, ranged=ranged
        )
        action = decision.action
        if action == "serve":
            assert entry is not None
            if decision.refresh:
                self._spawn(self._background_refresh(req, fields, policy, credential))
            resp = self._serve_entry(entry, req, fields, decision.label, now)
            return self._decorate(resp, decision.label, path)
        if action == "validate":
            return await self._fill(req, fields, policy, credential, entry, req_cc)
        if action == "pass":
            return await self._pass(req, fields, policy)
        if decision.label == "MISS" and (entry is None or decision.refusal == "offline"):
            self.store.misses += 1
        if action == "fetch":
            return await self._fill(req, fields, policy, credential, None, req_cc)
        if decision.refusal == "offline":
            return self._decorate(self._offline_response(), decision.label, path)
        detail = "only-if-cached and no entry" if entry is None else (
            "only-if-cached and no usable entry")
        resp = problem(504, "not-cached", "Not cached", detail)
        return self._decorate(resp, decision.label, path)

    async def _fill(
        self,
        req: Request,
        fields: dict[str, str],
        policy: RoutePolicy,
        credential: str,
        stale: CachedResponse | None,
        req_cc: CacheControl,
    ) -> Response:
        """Fetch or revalidate through the coalescer, then answer this request."""
        path = req.path
        ckey = (req.target, credential)

        def fetch() -> Awaitable[Fetched]:
            return self._fetch(req, fields, policy, credential, stale, req_cc)

        result, waited = await self.coalescer.run(ckey, fetch, self.settings.coalesce_timeout)
        if waited:
            self.metrics.coalesced_total.inc()
            if result is not None and result.entry is not None and (
                result.entry.matches(fields) and (not credential or result.entry.shareable)
            ):
                status = result.status  # what the shared fetch was: MISS/EXPIRED/REVALIDATED
                resp = self._serve_entry(result.entry, req, fields, status, self.clock())
                return self._decorate(resp, status, path)
            failed = result is not None and (
                result.error is not None
                or (result.response is not None and result.response.status in ERROR_STATUSES)
            )
            if not failed:
                # Timed out waiting, or the answer is not reusable for this request.
                return await self._pass(req, fields, policy, status="MISS")
            # The leader's origin failed: decide below exactly as the leader does (stale if
            # allowed), without another origin request.
        if result is None:  # the leader always has a result; keeps the type checker honest
            return await self._pass(req, fields, policy, status="MISS")
        if result.error is not None:
            if stale is not None and may_serve_on_error(
                stale, self.clock(), policy, req_cc, result.error.kind != "broken"
            ):
                resp = self._serve_entry(stale, req, fields, "STALE", self.clock())
                return self._decorate(resp, "STALE", path)
            return self._decorate(self._error_response(result.error), "MISS", path)
        assert result.response is not None
        upstream = result.response
        if (
            upstream.status in ERROR_STATUSES
            and stale is not None
            and may_serve_on_error(stale, self.clock(), policy, req_cc, result.disconnected)
        ):
            resp = self._serve_entry(stale, req, fields, "STALE", self.clock())
            return self._decorate(resp, "STALE", path)
        if result.status == "REVALIDATED" and result.entry is not None:
            resp = self._serve_entry(result.entry, req, fields, result.status, self.clock())
            # the requester's own cookies from the 304 (never stored)
            resp.headers.extend((k, v) for k, v in upstream.headers if k.lower() in SET_COOKIE)
            return self._decorate(resp, result.status, path)
        if result.entry is not None and self._not_modified(result.entry, fields):
            headers = [(k, v) for k, v in upstream.headers if k.lower() != "content-length"]
            return self._decorate(Response(304, headers, b""), result.status, path)
        headers = list(upstream.headers)
        body = upstream.body
        if req.method == "HEAD":
            headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
            headers.append(("Content-Length", str(len(body))))
            body = b""
        return self._decorate(Response(upstream.status, headers, body), result.status, path)

    async def _until_offline(self, call: Awaitable[Response]) -> Response:
        """Await an origin request, but give up as soon as the origin is declared OFFLINE: no
        client request (read or write) keeps waiting on a dead origin."""
        health = self.health
        if not health.can_go_offline:
            return await call
        wait_offline = health.wait_offline
        request = asyncio.ensure_future(call)
        offline = asyncio.ensure_future(wait_offline())
        try:
            await asyncio.wait((request, offline), return_when=asyncio.FIRST_COMPLETED)
        finally:
            offline.cancel()
        if not request.done():
            request.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await request
            raise OriginError("offline", "the origin was declared offline")
        return request.result()

    def _error_response(self, error: OriginError) -> Response:
        if error.kind == "offline":
            return self._offline_response()
        if error.kind == "timeout":
            return problem(504, "origin-timeout", "Origin timeout", error.detail)
        return problem(502, "origin-error", "Bad gateway", error.detail)

    async def _background_refresh(
        self, req: Request, fields: dict[str, str], policy: RoutePolicy, credential: str
    ) -> None:
        """stale-while-revalidate: one coalesced refresh; errors only reach the health state."""
        greq = Request("GET", req.target, list(req.headers), b"")
        entry = self._select(req.target, fields, bool(credential))

        def fetch() -> Awaitable[Fetched]:
            return self._fetch(greq, fields, policy, credential, entry, EMPTY)

        with contextlib.suppress(Exception):
            await self.coalescer.run((req.target, credential), fetch, 0.0)

    async def _fetch(
        self,
        req: Request,
        fields: dict[str, str],
        policy: RoutePolicy,
        credential: str,
        stale: CachedResponse | None,
        req_cc: CacheControl,
    ) -> Fetched:
        """The leader's origin request: GET (HEAD becomes GET), validators from `stale`."""
        headers = forwardable(req.headers, *NOT_FORWARDED, "range", *CONDITIONAL)
        headers.append(("Via", "1.1 edge-cache"))
        if stale is not None:
            if stale.etag:
                headers.append(("If-None-Match", stale.etag))
            if stale.last_modified:
                headers.append(("If-Modified-Since", stale.last_modified))
        request_time = self.clock()
        health = self.health
        try:
            upstream = await self._until_offline(self.origin.send("GET", req.target, headers))
        except OriginError as exc:
            self._transport_failed(exc)
            return Fetched(error=exc, status="EXPIRED" if stale else "MISS")
        response_time = self.clock()
        health.record_success()  # any HTTP answer: the origin is up
        if self._gateway_down(upstream.status, policy):
            return Fetched(
                response=upstream, status="EXPIRED" if stale else "MISS", disconnected=True
            )
        if upstream.status == 304 and stale is not None:
            rfields = fields_of(upstream.headers)
            initial = [e for e in self.store.variants(req.target) if e.matches(fields)]
            if stale not in initial:
                initial.append(stale)
            chosen = select_for_update(initial, rfields.get("etag"), rfields.get("last-modified"))
            for updated in chosen:
                self._freshen(updated, upstream, request_time, response_time, policy)
            if chosen:
                return Fetched(response=upstream, entry=chosen[0], status="REVALIDATED")
            # §4.3.4: the 304 matches no stored response, so it updates none; ask again
            # without validators for the full response.
            fetched = await self._fetch(req, fields, policy, credential, None, req_cc)
            fetched.status = "EXPIRED"
            return fetched
        if (
            upstream.status in ERROR_STATUSES
            and stale is not None
            and may_serve_on_error(stale, self.clock(), policy, req_cc, False)
        ):
            # stale-if-error: the caller serves the stale copy; the error does not replace it
            return Fetched(response=upstream, status="EXPIRED")
        entry = self._maybe_store(
            req, fields, credential, upstream, request_time, response_time, policy, req_cc
        )
        if entry is None and stale is not None and upstream.status < 400:
            self.store.evict_key(req.target)  # the new response replaces the old one
        return Fetched(response=upstream, entry=entry, status="EXPIRED" if stale else "MISS")

    def _maybe_store(
        self,
        req: Request,
        fields: dict[str, str],
        credential: str,
        upstream: Response,
        request_time: float,
        response_time: float,
        policy: RoutePolicy,
        req_cc: CacheControl,
    ) -> CachedResponse | None:
        rfields = fields_of(upstream.headers)
        cc = parse_cache_control(rfields.get("cache-control"))
        vary = vary_fields(rfields.get("vary"))
        if not is_storable(
            status=upstream.status,
            response_cc=cc,
            request_cc=req_cc,
            expires=rfields.get("expires"),
            has_credentials=bool(credential),
            vary_star=vary is None,
        ):
            return None
        assert vary is not None
        if credential:
            vary = (*vary, CREDENTIAL_FIELD)  # see `handle`: the credential is part of the key
        # Set-Cookie does not prevent storing (RFC 9111 §7.3: "a cacheable response with a
        # Set-Cookie header field can be (and often is) used to satisfy subsequent requests"),
        # but a shared cache must never hand one user's cookie to another: the requester gets
        # it from this answer, the stored copy never has it. private="set-cookie" and
        # no-cache="set-cookie" (§5.2.2.4, §5.2.2.7) strip it the same way.
        strip = set(cc.private_fields) | set(cc.no_cache_fields) | GENERATED | SET_COOKIE
        headers = [(k, v) for k, v in upstream.headers if k.lower() not in strip]
        date = parse_http_date(rfields.get("date"))
        entry = CachedResponse(
            key=req.target,
            path=req.path,
            vary=vary,
            vary_values=variant_values(vary, fields),
            status=upstream.status,
            headers=headers,
            body=upstream.body,
            request_time=request_time,
            response_time=response_time,
            initial_age=initial_age(
                age_header=rfields.get("age"),
                date=date,
                request_time=request_time,
                response_time=response_time,
            ),
            lifetime=freshness_lifetime(
                status=upstream.status,
                cc=cc,
                date=date,
                expires=rfields.get("expires"),
                last_modified=rfields.get("last-modified"),
                response_time=response_time,
                heuristic_max=self.settings.heuristic_max,
                ttl_override=policy.ttl,
            ),
        )
        if entry.size > self.settings.max_bytes or not self.store.put(entry):
            return None
        return entry

    def _freshen(
        self,
        entry: CachedResponse,
        upstream: Response,
        request_time: float,
        response_time: float,
        policy: RoutePolicy,
    ) -> None:
        """RFC 9111 §4.3.4: update the stored headers from a 304 (the fields of §3.2)."""
        entry.headers = updated_headers(entry.headers, upstream.headers)
        entry.refresh_derived()
        strip = set(entry.cc.private_fields) | set(entry.cc.no_cache_fields)
        if strip:
            entry.headers = [(k, v) for k, v in entry.headers if k.lower() not in strip]
        rfields = fields_of(entry.headers)
        date = parse_http_date(rfields.get("date"))
        entry.request_time = request_time
        entry.response_time = response_time
        entry.initial_age = initial_age(
            age_header=fields_of(upstream.headers).get("age"),
            date=parse_http_date(fields_of(upstream.headers).get("date")) or date,
            request_time=request_time,
            response_time=response_time,
        )
        entry.lifetime = freshness_lifetime(
            status=entry.status,
            cc=entry.cc,
            date=date,
            expires=rfields.get("expires"),
            last_modified=rfields.get("last-modified"),
            response_time=response_time,
            heuristic_max=self.settings.heuristic_max,
            ttl_override=policy.ttl,
        )
        entry.invalid = False  # validated by the origin
        self.store.update(entry)

    # -- pass-through and writes --------------------------------------------------------------

    async def _pass(
        self,
        req: Request,
        fields: dict[str, str],
        policy: RoutePolicy,
        status: str = "BYPASS",
    ) -> Response:
        """Forward without touching the cache."""
        path = req.path
        if not self.health.is_online():
            return self._decorate(self._offline_response(), status, path)
        headers = forwardable(req.headers, *NOT_FORWARDED)
        headers.append(("Via", "1.1 edge-cache"))
        try:
            upstream = await self._until_offline(
                self.origin.send(req.method, req.target, headers, req.body)
            )
        except OriginError as exc:
            self._transport_failed(exc)
            return self._decorate(self._error_response(exc), status, path)
        self.health.record_success()
        self._gateway_down(upstream.status, policy)
        resp = Response(upstream.status, list(upstream.headers), upstream.body)
        if req.method == "HEAD":
            resp.headers = [(k, v) for k, v in resp.headers if k.lower() != "content-length"]
            length = fields_of(upstream.headers).get("content-length")
            resp.headers.append(("Content-Length", length or "0"))
            resp.body = b""
        return self._decorate(resp, status, path)

    async def _queue(self, req: Request) -> Response:
        """Queue a write in the outbox, unless the caller's share of the outbox is used up."""
        path = req.path
        outbox = self.outbox
        owner = _OWNER.get()
        size = entry_size(req.target, req.headers, req.body)
        if outbox is not None and not self.owners.has_room(owner, size, outbox):
            resp = problem(
                507, "outbox-share-full", "Outbox share used up",
                "This credential has queued its share of the edge's outbox; more writes are "
                "accepted once the origin is back and they are replayed.",
                ("Retry-After", "30"),
            )
            return self._decorate(resp, "BYPASS", path)
        resp = await self._enqueue(req)
        location = resp.header("location") or ""
        if resp.status == 202 and location.startswith("/_edge/outbox/"):
            with contextlib.suppress(ValueError):
                self.owners.add(int(location.rsplit("/", 1)[1]), owner)
            if outbox is not None:
                resp = answers.queued(resp, self.owners.usage(owner, outbox).entries)
        return resp

    async def load_owners(self) -> None:
        """Rebuild the owner index from the queued entries' stored headers (at start)."""
        outbox = self.outbox
        if outbox is None:
            return
        after = 0
        while True:
            page = await outbox.entries(QUEUED, limit=1000, after=after)
            self.owners.load(
                (e.id, credential_of(fields_of(e.headers), self.credential_cookies))
                for e in page
            )
            if len(page) < 1000:
                return
            after = page[-1].id

    def pending_for(self, fields: dict[str, str], path: str) -> int:
        """The caller's own queued writes that mark `path` (X-Edge-Pending)."""
        outbox = self.outbox
        if outbox is None:
            return 0
        owner = credential_of(fields, self.credential_cookies)
        return self.owners.pending_for(owner, path, outbox)

    async def _write(
        self, req: Request, fields: dict[str, str], policy: RoutePolicy, role: str | None = None
    ) -> Response:
        path = req.path
        outbox = self.outbox
        queueable = policy.queue and outbox is not None
        online = self.health.is_online()
        read_only = role is not None and role in self.settings.read_only_roles
        decision = decide_write(
            online=online,
            queueable=queueable,
            # keep order behind queued writes for the same resource
            queued_for_path=online and outbox is not None and outbox.pending_for(path) > 0,
            read_only=read_only,
        )
        if decision is not SEND:
            return await self._not_sent(req, decision, role)
        if queueable and "idempotency-key" not in fields:
            # The same key goes with this attempt and with any replay of it.
            req.headers.append(("Idempotency-Key", _new_key()))
        headers = forwardable(req.headers, *NOT_FORWARDED)
        headers.append(("Via", "1.1 edge-cache"))
        try:
            # Released at once when the origin is declared OFFLINE meanwhile, like reads.
            upstream = await self._until_offline(
                self.origin.send(req.method, req.target, headers, req.body)
            )
        except OriginError as exc:
            # Refused (never sent) or no answer (fate unknown): queued with the same
            # Idempotency-Key this attempt carried, so an origin that honours the key applies
            # it once. One that ignores the key may apply it twice.
            failed = after_send(
                transport_failed=self._transport_failed(exc), queueable=queueable,
                read_only=read_only,
            )
            if failed is not None:
                return await self._not_sent(req, failed, role)
            return self._decorate(self._error_response(exc), "BYPASS", path)
        self.health.record_success()
        if self._gateway_down(upstream.status, policy):
            # the ingress answered: the app was not reached
            failed = after_send(transport_failed=True, queueable=queueable, read_only=read_only)
            if failed is not None:
                return await self._not_sent(req, failed, role)
        self.invalidate_after_write(req, fields, upstream, policy)  # none after an error
        resp = Response(upstream.status, list(upstream.headers), upstream.body)
        return self._decorate(resp, "BYPASS", path)

    async def _not_sent(self, req: Request, decision: Decision, role: str | None) -> Response:
        """Carry out a write decision other than SEND: queue, or refuse."""
        if decision is QUEUE:
            return await self._queue(req)
        if decision.refusal == "forbidden":
            # offline authorization from the digest list: refused now, not a later dead letter
            resp = problem(403, "forbidden", "Forbidden",
                           f"The role {role!r} may not change data.")
            return self._decorate(resp, decision.label, req.path)
        return self._decorate(self._offline_response(), decision.label, req.path)

    def invalidate_after_write(
        self, req: Request, fields: dict[str, str], upstream: Response, policy: RoutePolicy
    ) -> int:
        """RFC 9111 §4.4 after a write the origin answered (the rule in `invalidation`)."""
        return self.store.invalidate(invalidation(
            req.method, req.target, upstream.status, upstream.headers,
            origin_host=self.origin_host, request_host=fields.get("host"),
            affects=policy.affects,
        ))

    async def _enqueue(self, req: Request) -> Response:
        outbox = self.outbox
        assert outbox is not None
        path = req.path
        try:
            entry = await outbox.enqueue(req)
        except OutboxFull:
            resp = problem(
                507,
                "outbox-full",
                "Outbox full",
                "The edge cannot queue more writes until the origin is back.",
                ("Retry-After", "30"),
            )
            return self._decorate(resp, "BYPASS", path)
        except OutboxStorageError:  # disk full / I/O error: not stored
            resp = problem(
                507,
                "outbox-storage-failed",
                "Write not stored",
                "The edge could not store this write (its disk is full or failing), so it "
                "was not queued. Try again later; nothing was recorded.",
                ("Retry-After", "30"),
            )
            return self._decorate(resp, "BYPASS", path)
        body = json.dumps(
            {
                "queued": True,
                "id": str(entry.id),
                "idempotency_key": entry.idempotency_key,
                "outbox_depth": outbox.depth(),
            }
        ).encode()
        resp = Response(
            202,
            [
                ("Content-Type", "application/json"),
                ("Location", f"/_edge/outbox/{entry.id}"),
                ("Idempotency-Key", entry.idempotency_key),
            ],
            body,
        )
        return self._decorate(resp, "QUEUED", path)

    # -- the fast hit path ----------------------------------------------------------------------

    def fast_hit(
        self, req: Request, fields: dict[str, str], end: bytes
    ) -> tuple[bytes, CachedResponse] | None:
        """(the whole answer, the entry it comes from) for a plain GET/HEAD that a fresh stored
        entry answers with no further decision; `end` closes the head (the connection field,
        if any, and the empty line). The HTTP server sends it without a task.

        Returns None whenever anything needs the full path (request directives, conditionals,
        credentials on a non-shareable entry, staleness, offline state, bypass routes...).
        """
        if not SLOW_PATH_FIELDS.isdisjoint(fields):
            return None
        target = req.target
        store = self.store
        variants = store.variants(target)
        if not variants or not self.health.is_online():
            return None
        if not self.auth.accepts(req):
            return None  # the full path decides (and may wait for a token refresh)
        credentialed = "authorization" in fields or (
            "cookie" in fields
            and bool(credential_cookies(fields["cookie"], self.credential_cookies))
        )
        for entry in variants:
            if entry.vary:
                if credentialed and CREDENTIAL_FIELD in entry.vary:
                    # fetched with a credential: keyed by it (see handle); named only here, in
                    # a copy (the caller's fields may be a kept parse, `heads`)
                    fields = {
                        **fields,
                        CREDENTIAL_FIELD: "verified" if self.settings.auth_enabled
                        else credential_of(fields, self.credential_cookies),
                    }
                if not entry.matches(fields):
                    continue
            if credentialed and not entry.shareable:
                return None
            now = self.clock()
            policies = self.policies
            policy = (
                policies.for_request(req.method, target.split("?", 1)[0])
                if policies.routes else policies.default
            )
            # the core's SERVE_HIT rule for a request without directives (decision.py)
            fresh_age = plain_fresh_age(entry, now, policy)
            if fresh_age is None:
                return None
            store.touch(entry, now)
            store.hits += 1
            self.metrics.fast_hits += 1
            age = int(fresh_age)
            memo = entry.hit_head
            outbox = self.outbox
            if (
                memo is not None and memo[0] == age and memo[2] == end and memo[1] == 0
                and (outbox is None or not outbox.depth())
            ):
                head = memo[3]  # the usual case: the same head as the last hit, nothing queued
            else:
                head = self._hit_head(entry, age, fields, req.path, end)
            return (head if req.method == "HEAD" else head + entry.body), entry
        return None

    def _hit_head(
        self, entry: CachedResponse, age: int, fields: dict[str, str], path: str, end: bytes
    ) -> bytes:
        """Status line, stored fields, Age, X-Edge-Cache, X-Edge-Outbox-Depth (and the caller's
        X-Edge-Pending), then `end`. The head of the entry's last hit is sent again while Age,
        depth and `end` are the same (it depends on nothing else)."""
        outbox = self.outbox
        depth = outbox.depth() if outbox is not None else 0
        pending = self.pending_for(fields, path) if depth else 0  # the caller's own
        memo = entry.hit_head
        if (
            memo is not None and memo[0] == age and memo[1] == depth and memo[2] == end
            and not pending
        ):
            return memo[3]
        head = entry.wire_head() + (
            b"Age: %d\r\nX-Edge-Cache: HIT\r\nX-Edge-Outbox-Depth: %d\r\n" % (age, depth)
        )
        if pending:
            return head + b"X-Edge-Pending: %d\r\n%s" % (pending, end)
        head += end
        entry.hit_head = (age, depth, end, head)
        return head


def _new_key() -> str:
    return str(uuid.uuid4())
