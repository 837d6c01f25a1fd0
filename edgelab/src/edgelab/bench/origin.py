"""A small, fast origin for benchmarks and link tests (a real process, aiohttp).

    python -m edgelab.bench.origin --host 127.0.0.1 --port 8001 [--write-delay-ms 5]

- ``GET /items/{key}``: a ≈1.3 KB JSON document, ``Cache-Control: public, max-age=3600``,
  a strong ``ETag``; ``If-None-Match`` → 304. ``?max_age=N`` makes it
  ``public, max-age=N, stale-if-error=604800`` (entries that go stale quickly).
- ``GET /slow?ms=N``: answers after N ms (for timeouts).
- ``POST /items/{key}`` (any unsafe method on any path): sleeps ``--write-delay-ms`` (a stand-in
  for a database commit), counts the write by ``Idempotency-Key`` and answers 201 with JSON.
- ``GET|POST /status/{code}[?cache=HIT]``: answers `code` (with ``X-Edge-Cache`` if given).
- ``GET /api/warehouses/{w}/stock/{p}``: an inventory-shaped balance with ``qty`` 7.
- ``GET /writes/{idempotency key}``: the body of that write, as received.
- ``GET /stats``: ``{"reads": n, "writes": n, "distinct_writes": n}``; ``/healthz``.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import signal
from typing import Any

from aiohttp import web

PAD = "x" * 1100


def item_body(key: str) -> bytes:
    """The JSON document for `key` (≈1.3 KB)."""
    doc = {
        "id": key,
        "sku": f"SKU-{key}",
        "name": f"Product {key}",
        "category": "benchmark",
        "unit": "pcs",
        "price": "12.50",
        "description": PAD,
    }
    return json.dumps(doc, separators=(",", ":")).encode()


def make_app(write_delay_ms: float = 0.0) -> web.Application:
    stats: dict[str, Any] = {"reads": 0, "writes": 0, "keys": set(), "bodies": {}}
    cache: dict[str, tuple[bytes, str]] = {}

    async def get_item(request: web.Request) -> web.StreamResponse:
        key = request.match_info["key"]
        stats["reads"] += 1
        if key not in cache:
            body = item_body(key)
            cache[key] = (body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"')
        body, etag = cache[key]
        control = "public, max-age=3600"
        if "max_age" in request.query:
            control = f"public, max-age={int(request.query['max_age'])}, stale-if-error=604800"
        headers = {"Cache-Control": control, "ETag": etag}
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers=headers)
        return web.Response(body=body, headers=headers, content_type="application/json")

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(float(request.query.get("ms", "1000")) / 1000.0)
        return web.json_response({"slow": True}, headers={"Cache-Control": "no-store"})

    async def write(request: web.Request) -> web.Response:
        body = await request.read()
        if write_delay_ms:
            await asyncio.sleep(write_delay_ms / 1000.0)
        stats["writes"] += 1
        key = request.headers.get("Idempotency-Key") or hashlib.sha256(body).hexdigest()
        stats["keys"].add(key)
        if len(stats["bodies"]) < 100_000:
            stats["bodies"][key] = body
        return web.json_response(
            {"ok": True, "path": request.path, "idempotency_key": key},
            status=201,
            headers={"Cache-Control": "no-store"},
        )

    async def status(request: web.Request) -> web.Response:
        headers = {"Cache-Control": "no-store"}
        if "cache" in request.query:
            headers["X-Edge-Cache"] = request.query["cache"]
            headers["X-Edge-Outbox-Depth"] = request.query.get("depth", "0")
        code = int(request.match_info["code"])
        return web.json_response({"status": code}, status=code, headers=headers)

    async def stock(request: web.Request) -> web.Response:
        balance = {
            "warehouse_id": int(request.match_info["w"]),
            "product_id": int(request.match_info["p"]),
            "qty": 7,
        }
        return web.json_response(balance, headers={"Cache-Control": "no-store"})

    async def get_stats(request: web.Request) -> web.Response:
        return web.json_response(
            {
                "reads": stats["reads"],
                "writes": stats["writes"],
                "distinct_writes": len(stats["keys"]),
            },
            headers={"Cache-Control": "no-store"},
        )

    async def written(request: web.Request) -> web.Response:
        body = stats["bodies"].get(request.match_info["key"])
        if body is None:
            return web.json_response({"found": False}, status=404)
        return web.Response(body=body, content_type="application/json")

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"}, headers={"Cache-Control": "no-store"})

    app = web.Application()
    app.router.add_get("/items/{key}", get_item)
    app.router.add_get("/slow", slow)
    app.router.add_get("/stats", get_stats)
    app.router.add_get("/writes/{key}", written)
    app.router.add_route("GET", "/status/{code:[0-9]{3}}", status)
    app.router.add_route("POST", "/status/{code:[0-9]{3}}", status)
    app.router.add_get("/api/warehouses/{w:[0-9]+}/stock/{p:[0-9]+}", stock)
    app.router.add_get("/healthz", healthz)
    app.router.add_route("POST", "/{tail:.*}", write)
    app.router.add_route("PUT", "/{tail:.*}", write)
    app.router.add_route("PATCH", "/{tail:.*}", write)
    app.router.add_route("DELETE", "/{tail:.*}", write)
    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m edgelab.bench.origin", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--write-delay-ms", type=float, default=0.0)
    args = parser.parse_args(argv)
    app = make_app(args.write_delay_ms)
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is optional
        asyncio.run(serve(app, args.host, args.port))
    else:
        uvloop.run(serve(app, args.host, args.port))
    return 0


async def serve(app: web.Application, host: str, port: int) -> None:
    """Serve `app` until SIGTERM/SIGINT."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port, backlog=1024).start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()


if __name__ == "__main__":
    raise SystemExit(main())
