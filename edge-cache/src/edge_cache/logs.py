"""Structured logging: one JSON object per line on stderr.

`configure_logging(level)` installs a JSON formatter on the root logger (record `extra` fields
are included). `AccessLog` writes the one-line-per-request log cheaply: lines are buffered and
written every 100 ms (or at 256 lines), so the hit path never blocks on stderr.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
import time
from typing import Any, TextIO

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}

# Query parameters whose values are credentials: never written to a log line.
SECRET_PARAMS = frozenset({
    "token", "access_token", "id_token", "refresh_token", "auth", "auth_token", "authorization",
    "api_key", "apikey", "key", "secret", "client_secret", "password", "passwd", "pwd",
    "session", "sessionid", "session_id", "sig", "signature", "x-amz-signature", "code",
    "jwt", "bearer", "csrf", "csrf_token",
})


def redact_target(target: str) -> str:
    """The request target with credential query values replaced by `REDACTED`."""
    path, sep, query = target.partition("?")
    if not sep:
        return target
    parts = []
    for part in query.split("&"):
        name, eq, _ = part.partition("=")
        if eq and name.lower().replace("%5f", "_") in SECRET_PARAMS:
            part = f"{name}=REDACTED"
        parts.append(part)
    return path + "?" + "&".join(parts)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": getattr(record, "event", None) or "log",
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in out:
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


def configure_logging(level: str = "info", stream: TextIO | None = None) -> None:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


def _quoted(value: str) -> str:
    """A JSON string literal; the common case (printable ASCII, no quotes) skips json.dumps."""
    if value.isascii() and value.isprintable() and '"' not in value and "\\" not in value:
        return f'"{value}"'
    return json.dumps(value)


class AccessLog:
    def __init__(self, enabled: bool = True, stream: TextIO | None = None) -> None:
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self._lines: list[str] = []
        self._task: asyncio.Task[None] | None = None

    def record(
        self,
        method: str,
        target: str,
        status: int,
        cache: str,
        size: int,
        started: float,
        client: str,
    ) -> None:
        if not self.enabled:
            return
        ms = (time.perf_counter() - started) * 1000
        if "?" in target:
            target = redact_target(target)
        cache = cache if cache.replace("-", "").isalpha() else ""
        client = client if client.replace(".", "").replace(":", "").isalnum() else ""
        self._lines.append(
            f'{{"ts": {time.time():.3f}, "event": "request", "method": {_quoted(method)}, '
            f'"target": {_quoted(target)}, "status": {status}, "cache": "{cache}", '
            f'"bytes": {size}, "ms": {ms:.3f}, "client": "{client}"}}'
        )
        if len(self._lines) >= 256:
            self.flush()

    def flush(self) -> None:
        if self._lines:
            lines, self._lines = self._lines, []
            with contextlib.suppress(OSError, ValueError):
                self.stream.write("\n".join(lines) + "\n")
                self.stream.flush()

    def start(self) -> None:
        if self.enabled and self._task is None:
            self._task = asyncio.create_task(self._run(), name="edge-access-log")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(0.1)
            self.flush()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self.flush()
