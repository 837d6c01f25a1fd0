"""A write-applying test origin for the offline-half tests (outbox, replay, conflicts).

A real aiohttp server on a loopback port with an in-memory system of record:

* ``GET /healthz``; ``GET /items/<id>`` and ``GET /items`` (JSON, strong ETag,
  ``Cache-Control: public, max-age=0, stale-if-error=604800``);
* ``PUT /items/<id>`` (absolute update; ``If-Match`` → 412 when it does not match);
* ``POST /sales`` ``{"op", "sku", "qty"}`` (a sale: stock -= qty; below zero it is accepted and
  flagged as oversold when ``X-Edge-Device-Authorization`` carries the device token, else 409);
* ``POST /stock/<sku>`` ``{"op", "delta"}`` (a stock adjustment);
* ``GET /changes`` (change feed per contracts §2: ``record_change``, ``change_floor`` → 410,
  ``feed_enabled=False`` → 404); ``GET /long/<id>`` (an item, ``max-age=3600``);
* ``GET /api/auth/token-digests`` (device token; digests of ``tokens``);
* ``GET /stock/<sku>``; ``GET /plain/<x>`` (``public, max-age=0`` without stale-if-error).

Every write needs ``Idempotency-Key`` (400 without). A key seen before returns the stored
response with ``Idempotent-Replayed: true`` (422 when the body differs). ``applied`` logs every
applied operation; ``op_counts`` counts applications per client ``op`` id, so a duplicate shows
even if it arrived under another key.

Fault injection: ``mode`` ok | refuse (port closed) | blackhole (accepts, never answers, never
applies) | 5xx; ``write_delay`` seconds per write; ``drop_after_commit`` the number of upcoming
writes whose response is dropped (connection aborted) after the write was applied;
``write_status`` answers every write with that status without applying it;
``drop_every`` drops the response of every n-th applied write.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.support.origins.digests import digest_list
from tests.support.origins.switchable import SwitchableServer

JSON = "application/json"
CACHEABLE = "public, max-age=0, stale-if-error=604800"


@dataclass
class Applied:
    key: str
    method: str
    path: str
    body: dict[str, Any]
    queued_at: str | None
    device: bool


@dataclass
class Stored:
    fingerprint: str
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


class LedgerOrigin(SwitchableServer):
    def __init__(self, device_token: str = "device-secret") -> None:
        super().__init__()
        self.device_token = device_token
        self.write_delay = 0.0
        self.drop_after_commit = 0
        self.drop_every = 0
        self.write_status: int | None = None  # answer every write with this (no apply)
        self.items: dict[str, dict[str, Any]] = {}
        self.stock: dict[str, int] = {}
        self.oversold: list[dict[str, Any]] = []
        self.applied: list[Applied] = []
        self.op_counts: dict[str, int] = {}
        self.keys: dict[str, Stored] = {}
        self.dropped = 0
        self.requests: list[tuple[str, str]] = []
        self.tokens: dict[str, str | None] = {}  # token -> expires_at (ISO) for the digest list
        self.digest_requests = 0
        self.feed_enabled = True
        self.changes: list[dict[str, Any]] = []  # the change feed at /changes
        self.change_floor = 0  # since < floor -> 410 Gone
        self._changed = asyncio.Event()

    # -- lifecycle --------------------------------------------------------------------------

    # -- data helpers -----------------------------------------------------------------------

    def put_item(self, item_id: str, value: Any) -> str:
        """Change an item at the origin (as another client would); returns its new ETag."""
        current = self.items.get(item_id)
        version = (current["version"] + 1) if current else 1
        self.items[item_id] = {"id": item_id, "value": value, "version": version}
        return f'"v{version}"'

    def etag(self, item_id: str) -> str:
        return f'"v{self.items[item_id]["version"]}"'

    def record_change(self, *paths: str, entity: str = "item", op: str = "upsert") -> int:
        seq = (self.changes[-1]["seq"] if self.changes else 0) + 1
        self.changes.append({"seq": seq, "entity": entity, "id": str(seq), "op": op,
                             "paths": list(paths)})
        self._changed.set()
        self._changed = asyncio.Event()
        return seq

    def duplicates(self) -> dict[str, int]:
        return {op: n for op, n in self.op_counts.items() if n > 1}

    # -- HTTP -------------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if self.mode == "refuse":
            if request.transport is not None:
                request.transport.abort()
            raise web.HTTPServiceUnavailable()
        body = await request.read()
        self.requests.append((request.method, request.path_qs))
        if self.mode == "blackhole":
            await self._release.wait()
            if request.transport is not None:
                request.transport.abort()  # never answer what arrived while blackholed
            raise web.HTTPServiceUnavailable()
        if self.mode == "5xx":
            return web.Response(status=503, text="origin error")
        path = request.path
        if request.method == "GET" and path == "/changes":
            return await self._feed(request)
        if request.method in ("GET", "HEAD"):
            return self._read(path, request)
        if self.write_status is not None:
            return _json(self.write_status, {"title": "scripted failure"}, cache=False)
        return await self._write(request, path, body)

    async def _feed(self, request: web.Request) -> web.Response:
        if not self.feed_enabled:
            return _json(404, {"title": "not found"}, cache=False)
        last = self.changes[-1]["seq"] if self.changes else 0
        since_raw = request.query.get("since")
        if since_raw is None:
            return _json(200, {"results": [], "last_seq": last}, cache=False)
        since, limit = int(since_raw), int(request.query.get("limit", "500"))
        if since < self.change_floor:
            return _json(410, {"title": "Gone", "last_seq": last}, cache=False)
        results = [c for c in self.changes if c["seq"] > since][:limit]
        if not results and request.query.get("feed") == "longpoll":
            wait = int(request.query.get("timeout", "30000")) / 1000
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), wait)
            results = [c for c in self.changes if c["seq"] > since][:limit]
        last = self.changes[-1]["seq"] if self.changes else 0
        return _json(200, {"results": results, "last_seq": last}, cache=False)

    def _read(self, path: str, request: web.Request) -> web.Response:
        if path == "/healthz":
            return web.Response(text="ok", headers={"Cache-Control": "no-store"})
        if path == "/api/auth/token-digests":
            self.digest_requests += 1
            if request.headers.get("Authorization") != f"Bearer {self.device_token}":
                return _json(401, {"title": "device token required"}, cache=False)
            body = digest_list({token: ("clerk", expires)
                                for token, expires in self.tokens.items()})
            return web.Response(body=body, content_type=JSON,
                                headers={"Cache-Control": "no-store"})
        parts = path.strip("/").split("/")
        if parts == ["items"]:
            payload = sorted(self.items.values(), key=lambda i: i["id"])
            return _json(200, payload, etag=_hash_etag(payload))
        if len(parts) == 2 and parts[0] == "items":
            item = self.items.get(parts[1])
            if item is None:
                return _json(404, {"title": "not found"}, cache=False)
            return _json(200, item, etag=f'"v{item["version"]}"')
        if len(parts) == 2 and parts[0] == "long":  # fresh for an hour: only eviction helps
            item = self.items.get(parts[1], {"id": parts[1], "value": None, "version": 0})
            return web.Response(body=json.dumps(item).encode(), content_type=JSON,
                                headers={"Cache-Control": "public, max-age=3600"})
        if len(parts) == 2 and parts[0] == "plain":  # no stale-if-error: route policy decides
            return web.Response(text=f"plain {parts[1]}", headers={
                "Cache-Control": "public, max-age=0", "ETag": f'"{parts[1]}"'})
        if len(parts) == 2 and parts[0] == "stock":
            qty = self.stock.get(parts[1], 0)
            return _json(200, {"sku": parts[1], "qty": qty}, etag=f'"q{qty}"')
        return _json(200, {"path": path}, etag='"static"')

    async def _write(self, request: web.Request, path: str, body: bytes) -> web.StreamResponse:
        key = request.headers.get("Idempotency-Key")
        if not key:
            return _json(400, {"title": "Idempotency-Key required"}, cache=False)
        fingerprint = hashlib.sha256(request.method.encode() + path.encode() + body).hexdigest()
        stored = self.keys.get(key)
        if stored is not None:
            if stored.fingerprint != fingerprint:
                return _json(422, {"title": "key reused with another body"}, cache=False)
            resp = web.Response(status=stored.status, body=stored.body, content_type=JSON)
            resp.headers["Idempotent-Replayed"] = "true"
            return resp
        if self.write_delay:
            await asyncio.sleep(self.write_delay)
        try:
            data = json.loads(body or b"{}")
        except ValueError:
            return _json(400, {"title": "invalid JSON"}, cache=False)
        device = request.headers.get("X-Edge-Device-Authorization") == (
            "Bearer " + self.device_token)
        status, payload = self._apply(request, path, data, device)
        if status >= 400 and status not in (409, 412, 422):
            return _json(status, payload, cache=False)
        if status < 300:
            op = str(data.get("op", key))
            self.op_counts[op] = self.op_counts.get(op, 0) + 1
            self.applied.append(Applied(key, request.method, path, data,
                                        request.headers.get("X-Edge-Queued-At"), device))
        out = json.dumps(payload).encode()
        self.keys[key] = Stored(fingerprint, status, out)
        if status < 300 and self._should_drop():
            self.dropped += 1
            if request.transport is not None:
                request.transport.abort()
            raise web.HTTPServiceUnavailable()  # never reaches the client
        return web.Response(status=status, body=out, content_type=JSON,
                            headers={"Cache-Control": "no-store"})

    def _should_drop(self) -> bool:
        if self.drop_after_commit > 0:
            self.drop_after_commit -= 1
            return True
        return bool(self.drop_every) and len(self.applied) % self.drop_every == 0

    def _apply(
        self, request: web.Request, path: str, data: dict[str, Any], device: bool
    ) -> tuple[int, dict[str, Any]]:
        parts = path.strip("/").split("/")
        if len(parts) == 2 and parts[0] == "items" and request.method in ("PUT", "PATCH"):
            current = self.items.get(parts[1])
            if_match = request.headers.get("If-Match")
            if if_match is not None and (
                current is None or if_match.strip() != f'"v{current["version"]}"'
            ):
                return 412, {"title": "precondition failed", "id": parts[1]}
            self.put_item(parts[1], data.get("value"))
            return 200, self.items[parts[1]]
        if parts == ["items"] and request.method == "POST":
            item_id = str(data.get("id") or len(self.items) + 1)
            self.put_item(item_id, data.get("value"))
            return 201, self.items[item_id]
        if parts == ["sales"] and request.method == "POST":
            sku, qty = str(data["sku"]), int(data["qty"])
            after = self.stock.get(sku, 0) - qty
            if after < 0 and not device:
                return 409, {"title": "insufficient stock", "sku": sku}
            self.stock[sku] = after
            if after < 0:
                self.oversold.append({"sku": sku, "qty": after, "op": data.get("op")})
            return 201, {"sku": sku, "qty": after, "oversold": after < 0}
        if len(parts) == 2 and parts[0] == "stock" and request.method == "POST":
            sku = parts[1]
            self.stock[sku] = self.stock.get(sku, 0) + int(data["delta"])
            return 201, {"sku": sku, "qty": self.stock[sku]}
        return 404, {"title": "no such write route", "path": path}


def _hash_etag(payload: Any) -> str:
    return '"' + hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16] + '"'


def _json(
    status: int, payload: Any, *, etag: str | None = None, cache: bool = True
) -> web.Response:
    headers = {"Cache-Control": CACHEABLE if cache else "no-store"}
    if etag:
        headers["ETag"] = etag
    return web.Response(status=status, body=json.dumps(payload).encode(), content_type=JSON,
                        headers=headers)
