"""One queued write in the outbox."""

from __future__ import annotations

import base64
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from edge_cache.messages import Headers

QUEUED = "queued"
DEAD = "dead"

# Never shown over HTTP: the entry keeps them for the replay, the admin view redacts them.
SECRET_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})


def rfc3339(ts: float) -> str:
    """Epoch seconds as RFC 3339 UTC with milliseconds ("2026-11-23T01:02:03.456Z")."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z"
    )


@dataclass(slots=True)
class OutboxEntry:
    id: int
    method: str
    target: str
    headers: Headers
    body: bytes
    idempotency_key: str
    queued_at: float
    state: str = QUEUED
    attempts: int = 0
    next_attempt_at: float = 0.0
    marks: tuple[str, ...] = field(default_factory=tuple)
    parallel: bool = False
    last_status: int | None = None
    last_body: bytes | None = None
    last_error: str | None = None
    dead_at: float | None = None

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]

    @property
    def location(self) -> str:
        return f"/_edge/outbox/{self.id}"

    @property
    def size(self) -> int:
        return entry_size(self.target, self.headers, self.body)

    def to_json(self, *, with_body: bool = False) -> dict[str, object]:
        """A JSON view for `/_edge/outbox` with credentials redacted."""
        out: dict[str, object] = {
            "id": str(self.id),
            "state": self.state,
            "method": self.method,
            "target": self.target,
            "idempotency_key": self.idempotency_key,
            "queued_at": rfc3339(self.queued_at),
            "age_s": round(max(0.0, time.time() - self.queued_at), 3),
            "attempts": self.attempts,
            "marks": list(self.marks),
            "last_status": self.last_status,
            "last_error": self.last_error,
            "dead_at": rfc3339(self.dead_at) if self.dead_at is not None else None,
            "href": self.location,
        }
        if with_body:
            out["headers"] = [
                [k, "<redacted>" if k.lower() in SECRET_HEADERS else v] for k, v in self.headers
            ]
            out["body"] = _text_or_base64(self.body)
            out["last_body"] = (
                _text_or_base64(self.last_body) if self.last_body is not None else None
            )
        return out


def entry_size(target: str, headers: Headers, body: bytes) -> int:
    return len(target) + sum(len(k) + len(v) + 4 for k, v in headers) + len(body)


def _text_or_base64(data: bytes) -> object:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return {"base64": base64.b64encode(data).decode("ascii")}
