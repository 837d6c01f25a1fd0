"""Parsed request heads, kept by their exact bytes.

A keep-alive client asks for the same resource with the same bytes again and again: a page
that polls stock levels, a browser reloading, a load balancer's check, a load generator. The
parse of those bytes is the same every time, so the HTTP server keeps it: when a read delivers
bytes it has parsed before, whole, at a message boundary, it takes the kept request and skips
llhttp and the per-header work.

A head is kept the second time it is parsed: a stream of heads that never repeat (a header
that changes on every request) costs a set lookup each, and does not push the repeated heads
out. The first sightings are remembered by hash only; a collision merely keeps a head one
sighting early (the kept parse is found by the whole bytes).

Only what is safe to reuse is kept (`HttpServer` decides, see `Connection.data_received`):
one complete GET or HEAD head, alone in the read that brought it, HTTP/1.1 kept alive, no
body, no `Connection`/`Expect` field, origin-form target. The kept `Request` and fields are
never changed: the fast hit path only reads them, and the full path gets a copy.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from edge_cache.messages import Request

CAPACITY = 512  # distinct heads kept; the oldest goes first
MAX_HEAD_BYTES = 4096  # larger heads are parsed every time
SEEN_LIMIT = 4096  # first sightings remembered (by hash) before the set starts over


@dataclass(frozen=True, slots=True)
class ParsedHead:
    """One parse: the request and its fields (lower-cased name -> combined value)."""

    request: Request
    fields: dict[str, str]

    def fresh_request(self) -> Request:
        """A copy of the request the caller may change."""
        return _bodiless_copy(self.request)


class HeadMemo:
    """Raw head bytes -> their `ParsedHead`, at most `capacity` of them."""

    def __init__(self, capacity: int = CAPACITY, max_head_bytes: int = MAX_HEAD_BYTES) -> None:
        if capacity < 0 or max_head_bytes < 0:
            raise ValueError("capacity and max_head_bytes must be >= 0")
        self.capacity = capacity
        self.max_head_bytes = max_head_bytes
        self._heads: OrderedDict[bytes, ParsedHead] = OrderedDict()
        self._seen: set[int] = set()  # hashes of heads parsed once
        self.reused = 0  # reads answered from a kept parse
        self.get = self._heads.get  # raw -> ParsedHead | None (the mapping's own lookup)

    def __len__(self) -> int:
        return len(self._heads)

    def fits(self, raw: bytes) -> bool:
        """Whether `raw` could be kept: a whole head (ends with the empty line), small enough."""
        return 0 < len(raw) <= self.max_head_bytes and raw.endswith(b"\r\n\r\n")

    def remember(self, raw: bytes, request: Request, fields: dict[str, str]) -> None:
        """`raw` was parsed into `request` and `fields`: note it the first time, keep a copy of
        the parse the second (the caller goes on using its own objects)."""
        if not self.capacity or not self.fits(raw) or request.body:
            return
        heads = self._heads
        if raw in heads:
            return
        seen = self._seen
        key = hash(raw)
        if key not in seen:
            if len(seen) >= SEEN_LIMIT:
                seen.clear()
            seen.add(key)
            return
        seen.discard(key)
        if len(heads) >= self.capacity:
            heads.popitem(last=False)  # the oldest
        heads[raw] = ParsedHead(_bodiless_copy(request), dict(fields))


def _bodiless_copy(request: Request) -> Request:
    """A request of its own with the same method, target and fields (a kept head has no body)."""
    return Request(request.method, request.target, list(request.headers), b"")
