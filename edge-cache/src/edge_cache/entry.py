"""A stored response (one variant of one cache key) and the Vary rules that select it (§4.1)."""

from __future__ import annotations

from dataclasses import dataclass, field
from http import HTTPStatus

from edge_cache.directives import CacheControl, parse_cache_control
from edge_cache.messages import Headers

# Fields the cache sets itself when it serves a stored response.
GENERATED = frozenset(
    {
        "age",
        "connection",
        "keep-alive",
        "content-length",
        "transfer-encoding",
        "x-edge-cache",
        "x-edge-outbox-depth",
        "x-edge-pending",
    }
)


def normalize_field(value: str | None) -> str:
    """A request field value normalised for Vary matching: list members trimmed, inner
    whitespace collapsed, joined by ','. Case is kept (credentials are case-sensitive)."""
    if value is None:
        return "\x00"  # absent differs from empty
    return ",".join(" ".join(p.split()) for p in value.split(",") if p.strip())


def vary_fields(vary: str | None) -> tuple[str, ...] | None:
    """Lower-cased field names listed in Vary, sorted; None for `Vary: *`."""
    if not vary:
        return ()
    names = sorted({n.strip().lower() for n in vary.split(",") if n.strip()})
    if "*" in names:
        return None
    return tuple(names)


def variant_values(fields: tuple[str, ...], request_fields: dict[str, str]) -> tuple[str, ...]:
    return tuple(normalize_field(request_fields.get(f)) for f in fields)


def reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


@dataclass(slots=True)
class CachedResponse:
    key: str  # request target: path + "?" + query
    path: str
    vary: tuple[str, ...]
    vary_values: tuple[str, ...]
    status: int
    headers: Headers  # without hop-by-hop and generated fields
    body: bytes
    request_time: float
    response_time: float
    initial_age: float  # corrected_initial_age (§4.2.3)
    lifetime: float  # freshness lifetime in seconds
    cc: CacheControl = field(default_factory=CacheControl)
    etag: str | None = None
    last_modified: str | None = None
    shareable: bool = False  # public / s-maxage / must-revalidate: reusable for credentials
    wire: bytes | None = None  # pre-serialized status line + stored headers, for the hot tier
    last_access: float = 0.0  # as last written to the store (LRU)
    invalid: bool = False  # invalidated (§4.4, change feed): validate before reuse when online
    # the last head the fast hit path sent for it: (Age, outbox depth, end of head, bytes) —
    # the same for every hit within one second while nothing is queued
    hit_head: tuple[int, int, bytes, bytes] | None = field(default=None, compare=False, repr=False)

    @property
    def variant(self) -> str:
        return "\x1f".join(self.vary_values)

    @property
    def size(self) -> int:
        return len(self.body) + sum(len(k) + len(v) + 4 for k, v in self.headers) + 256

    def current_age(self, now: float) -> float:
        return self.initial_age + max(0.0, now - self.response_time)

    def matches(self, request_fields: dict[str, str]) -> bool:
        if not self.vary:
            return True
        return variant_values(self.vary, request_fields) == self.vary_values

    def refresh_derived(self) -> None:
        """Recompute what is derived from the stored headers."""
        cc_values = [v for k, v in self.headers if k.lower() == "cache-control"]
        self.cc = parse_cache_control(", ".join(cc_values) if cc_values else None)
        self.etag = self.header("etag")
        self.last_modified = self.header("last-modified")
        self.shareable = self.cc.public or self.cc.s_maxage is not None or self.cc.must_revalidate
        self.wire = None
        self.hit_head = None

    def header(self, name: str) -> str | None:
        values = [v for k, v in self.headers if k.lower() == name]
        return ", ".join(values) if values else None

    def wire_head(self) -> bytes:
        """`HTTP/1.1 <status>` + stored headers + Content-Length, without the final CRLF."""
        if self.wire is None:
            lines = [f"HTTP/1.1 {self.status} {reason(self.status)}"]
            lines.extend(f"{k}: {v}" for k, v in self.headers)
            if self.status not in (204, 304):
                lines.append(f"Content-Length: {len(self.body)}")
            self.wire = ("\r\n".join(lines) + "\r\n").encode("latin-1", "replace")
        return self.wire
