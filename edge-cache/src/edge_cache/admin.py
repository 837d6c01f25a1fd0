"""The sidecar's own HTTP surface under `/_edge/` (docs/contracts.md §4).

* `GET /_edge/status` — JSON for humans and notebooks (state, since, outbox depth and oldest age,
  dead letters, last sync, cache size, hits, misses, plus details under `origin`, `replay`);
* `GET /_edge/outbox[?state=queued|dead][&limit=][&after=]` — queued entries and dead letters
  (without bodies): all of them for the admin token, otherwise only the caller's own (same
  credential; anonymous callers see the anonymous entries);
* `GET /_edge/outbox/<id>` — one entry with its headers (credentials redacted); its body for the
  admin and for the credential that queued it (never for anonymous callers: nothing proves who
  queued an anonymous write); a dead letter's origin answer (`last_body`) for the admin only.
  Another caller's entry answers 404;
* `POST /_edge/outbox/<id>/retry` — put a dead letter back in the queue (admin; one refused
  with a 4xx gets a fresh `Idempotency-Key`, as the origin would repeat its stored refusal);
* `DELETE /_edge/outbox/<id>` — discard a dead letter (admin; queued entries cannot be dropped);
* `POST /_edge/purge[?path=/p]` — drop the whole cache, or every entry for one path (admin).

Writes need `Authorization: Bearer <EDGE_CACHE_ADMIN_TOKEN>`. When credentials are verified
(`auth`), reading the outbox needs a valid credential too; `/_edge/status` stays open.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qs

from edge_cache.messages import Request, Response
from edge_cache.outbox import DEAD, QUEUED, Outbox, OutboxEntry
from edge_cache.parts import AuthLike
from edge_cache.proxy import credential_of, fields_of
from edge_cache.status import EdgeStatus
from edge_cache.store import CacheStore

PROBLEM = "application/problem+json"
_ENTRY = re.compile(r"^/_edge/outbox/(\d+)(/retry)?/?$")


def problem(status: int, slug: str, title: str, detail: str, *extra: tuple[str, str]) -> Response:
    body = {"type": f"https://edgelab.dev/problems/{slug}", "title": title, "status": status,
            "detail": detail}
    return Response(status, [("Content-Type", PROBLEM), ("Cache-Control", "no-store"), *extra],
                    json.dumps(body).encode())


def json_response(status: int, payload: object) -> Response:
    return Response(status, [("Content-Type", "application/json"), ("Cache-Control", "no-store")],
                    json.dumps(payload).encode())


class EdgeAdmin:
    def __init__(
        self,
        *,
        admin_token: str,
        auth: AuthLike,
        outbox: Outbox | None,
        store: CacheStore,
        report: EdgeStatus,
        credential_cookies: frozenset[str],
    ) -> None:
        self.admin_token = admin_token
        self.auth = auth
        self.outbox = outbox
        self.store = store
        self.report = report
        self.credential_cookies = credential_cookies

    # -- access -----------------------------------------------------------------------------

    def _admin_denied(self, request: Request) -> Response | None:
        if not self.admin_token:
            return problem(403, "admin-disabled", "Admin endpoints disabled",
                           "Set EDGE_CACHE_ADMIN_TOKEN to use /_edge/* writes.")
        if not self.auth.is_admin(request):
            return problem(401, "admin-required", "Admin token required",
                           "This endpoint needs Authorization: Bearer <admin token>.",
                           ("WWW-Authenticate", 'Bearer realm="edge-cache-admin"'))
        return None

    def _reader_denied(self, request: Request) -> Response | None:
        auth = self.auth
        if auth.is_admin(request) or auth.verify(request):
            return None
        return problem(401, "unauthorized", "Unauthorized", "A valid credential is required.",
                       ("WWW-Authenticate", 'Bearer realm="edge-cache"'))

    def _owner(self, request: Request) -> str:
        """The caller's credential digest ('' when anonymous), as the proxy names owners."""
        return credential_of(fields_of(request.headers), self.credential_cookies)

    def _entry_owner(self, entry: OutboxEntry) -> str:
        return credential_of(fields_of(entry.headers), self.credential_cookies)

    # -- dispatch ---------------------------------------------------------------------------

    async def handle(self, request: Request) -> Response | None:
        path = request.path.rstrip("/") or "/"
        method = request.method
        if path == "/_edge/status":
            if method not in ("GET", "HEAD"):
                return _not_allowed("GET")
            return json_response(200, self.status())
        if path == "/_edge/purge":
            if method != "POST":
                return _not_allowed("POST")
            return self._purge(request)
        if path == "/_edge/outbox":
            if method not in ("GET", "HEAD"):
                return _not_allowed("GET")
            return await self._list(request)
        match = _ENTRY.match(request.path)
        if match is None:
            return None
        outbox = self.outbox
        if outbox is None:
            return problem(404, "no-outbox", "No outbox", "This sidecar has no outbox.")
        entry_id = int(match.group(1))
        if match.group(2):
            if method != "POST":
                return _not_allowed("POST")
            return await self._retry(request, entry_id)
        if method in ("GET", "HEAD"):
            denied = self._reader_denied(request)
            if denied is not None:
                return denied
            entry = await outbox.get(entry_id)
            admin = self.auth.is_admin(request)
            owner = self._owner(request)
            if entry is None or not (admin or self._entry_owner(entry) == owner):
                # another caller's entry is reported like a missing one: its existence is private
                return problem(404, "no-such-entry", "Not found",
                               f"No outbox entry {entry_id} (replayed entries are removed).")
            view = entry.to_json(with_body=admin or bool(owner))
            if not admin:
                # the origin's answer to a failed replay may quote other users' records
                view.pop("last_body", None)
            return json_response(200, view)
        if method == "DELETE":
            return await self._discard(request, entry_id)
        return _not_allowed("GET, DELETE")

    # -- status -----------------------------------------------------------------------------

    def status(self) -> dict[str, object]:
        return self.report.details()

    # -- outbox -----------------------------------------------------------------------------

    async def _list(self, request: Request) -> Response:
        denied = self._reader_denied(request)
        if denied is not None:
            return denied
        outbox = self.outbox
        query = parse_qs(request.query)
        state = query.get("state", [None])[0]
        if state not in (None, QUEUED, DEAD):
            return problem(400, "bad-state", "Bad state", "state must be queued or dead")
        try:
            limit = min(1000, max(1, int(query.get("limit", ["100"])[0])))
            after = max(0, int(query.get("after", ["0"])[0]))
        except ValueError:
            return problem(400, "bad-query", "Bad query", "limit and after must be integers")
        if outbox is None:
            return json_response(200, {"entries": [], "depth": 0, "dead_letters": 0})
        entries = await outbox.entries(state, limit=limit, after=after)
        shown = entries
        if not self.auth.is_admin(request):
            owner = self._owner(request)
            shown = [e for e in entries if self._entry_owner(e) == owner]  # own entries only
        payload: dict[str, Any] = {
            "entries": [e.to_json() for e in shown],
            "depth": outbox.depth(),
            "dead_letters": outbox.dead_count(),
        }
        if len(entries) == limit:
            nxt = f"/_edge/outbox?limit={limit}&after={entries[-1].id}"
            payload["next"] = nxt + (f"&state={state}" if state else "")
        return json_response(200, payload)

    async def _retry(self, request: Request, entry_id: int) -> Response:
        denied = self._admin_denied(request)
        if denied is not None:
            return denied
        outbox = self.outbox
        assert outbox is not None
        entry = await outbox.retry(entry_id)
        if entry is None:
            if await outbox.get(entry_id) is None:
                return problem(404, "no-such-entry", "Not found", f"No outbox entry {entry_id}.")
            return problem(409, "not-dead", "Not a dead letter",
                           f"Entry {entry_id} is still queued; only dead letters are retried.")
        return json_response(200, entry.to_json())

    async def _discard(self, request: Request, entry_id: int) -> Response:
        denied = self._admin_denied(request)
        if denied is not None:
            return denied
        outbox = self.outbox
        assert outbox is not None
        if await outbox.discard(entry_id):
            return Response(204, [("Cache-Control", "no-store")], b"")
        if await outbox.get(entry_id) is None:
            return problem(404, "no-such-entry", "Not found", f"No outbox entry {entry_id}.")
        return problem(409, "not-dead", "Queued entries cannot be discarded",
                       f"Entry {entry_id} is queued; only dead letters can be discarded.")

    # -- cache ------------------------------------------------------------------------------

    def _purge(self, request: Request) -> Response:
        denied = self._admin_denied(request)
        if denied is not None:
            return denied
        paths = parse_qs(request.query).get("path", [])
        store = self.store
        removed = sum(store.evict_path(p) for p in paths) if paths else store.purge()
        return json_response(200, {"purged": removed, "paths": paths or None})


def _not_allowed(allow: str) -> Response:
    resp = problem(405, "method-not-allowed", "Method not allowed", f"Use {allow}.")
    resp.headers.append(("Allow", allow))
    return resp

