"""Per-request JSON log line and Prometheus metrics (ASGI middleware)."""

from __future__ import annotations

import json
import logging
import random
import sys
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from inventory_app import metrics

log = logging.getLogger("inventory_app.access")


class JsonFormatter(logging.Formatter):
    """One JSON object per log line."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
        }
        extra = getattr(record, "fields", None)
        if isinstance(extra, dict):
            data.update(extra)
        if record.exc_info:
            data["exc"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False, default=str)


def configure_logging(level: int = logging.INFO) -> None:
    """Send the app's logs to stderr as JSON lines (idempotent)."""
    root = logging.getLogger("inventory_app")
    if any(getattr(h, "_inventory_json", False) for h in root.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    handler._inventory_json = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    root.propagate = False


class ObservabilityMiddleware:
    """Counts requests by route template and status, times them, logs one JSON line each."""

    def __init__(self, app: ASGIApp, log_requests: bool = True) -> None:
        self.app = app
        self.log_requests = log_requests

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500
        request_id = f"{random.getrandbits(64):016x}"  # a correlation id, not a secret

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            elapsed = time.perf_counter() - start
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            method = scope.get("method", "")
            metrics.REQUESTS.labels(route=template, method=method, status=str(status)).inc()
            metrics.LATENCY.labels(route=template, method=method).observe(elapsed)
            if self.log_requests:
                log.info(
                    "request",
                    extra={"fields": {
                        "request_id": request_id,
                        "method": method,
                        "path": scope.get("path"),
                        "route": template,
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 2),
                        "client": (scope.get("client") or ("", 0))[0],
                    }},
                )
