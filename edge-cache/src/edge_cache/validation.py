"""Using a 304 (Not Modified) answer: which stored responses it updates (RFC 9111 §4.3.4) and
which of its header fields replace the stored ones (§3.2). Pure functions, no I/O."""

from __future__ import annotations

from collections.abc import Sequence

from edge_cache.entry import GENERATED, CachedResponse
from edge_cache.freshness import HOP_BY_HOP
from edge_cache.messages import Headers

# §3.2: a 304's fields replace the stored ones "with the following exceptions": fields excepted
# from storage (§3.1: hop-by-hop, Proxy-*), Content-Length, fields the stored response
# depends on and fields "automatically processed and removed by the recipient" (Content-Range).
# Kept as stored: Content-Encoding (the stored bytes are in that coding; §3.2 lets a cache keep
# the fields "necessary to assure integrity of the stored response", and no more), Content-Range
# and the ETag, the identity the 304 was matched on. Everything else is updated, Content-MD5
# included: it is metadata the origin may correct, not a coding of the bytes this cache applied
# (the public cache-tests `update304` suite checks it). Set-Cookie is never stored (see proxy).
NOT_UPDATED = (
    HOP_BY_HOP
    | GENERATED
    | frozenset(
        {
            "content-length",
            "content-encoding",
            "content-range",
            "etag",
            "proxy-authentication-info",
            "set-cookie",
            "set-cookie2",
        }
    )
)


def is_strong(tag: str) -> bool:
    return not tag.strip().startswith("W/")


def _opaque(tag: str) -> str:
    return tag.strip().removeprefix("W/")


def select_for_update(
    stored: Sequence[CachedResponse], etag: str | None, last_modified: str | None
) -> list[CachedResponse]:
    """The stored responses a 304 with these validators updates (§4.3.4, first rule that applies).

    `stored` is the initial set: the responses that could have been chosen for the request.
    1. A strong ETag selects the stored responses with the same strong ETag; if none has it,
       the 304 "MUST NOT" update any of them.
    2. Only weak validators (a weak ETag, or Last-Modified): the most recent stored response
       that matches them (weak comparison).
    3. No validator: the one stored response, if it is the only one and has no validator either.
    """
    if etag and is_strong(etag):
        tag = etag.strip()
        return [e for e in stored if e.etag and is_strong(e.etag) and e.etag.strip() == tag]
    if etag or last_modified:
        matching = [
            e
            for e in stored
            if (etag and e.etag and _opaque(e.etag) == _opaque(etag))
            or (not etag and last_modified and e.last_modified == last_modified)
        ]
        return [max(matching, key=lambda e: e.response_time)] if matching else []
    if len(stored) == 1 and not stored[0].etag and not stored[0].last_modified:
        return [stored[0]]
    return []


def updated_headers(stored: Headers, incoming: Headers) -> Headers:
    """The stored header fields with the 304's fields applied (§3.2)."""
    named = {
        t.strip().lower() for k, v in incoming if k.lower() == "connection" for t in v.split(",")
    }
    skip = NOT_UPDATED | named | {"x-origin-count"}  # a body counter describes stored bytes
    new = [(k, v) for k, v in incoming if k.lower() not in skip]
    replaced = {k.lower() for k, _ in new}
    return [(k, v) for k, v in stored if k.lower() not in replaced] + new
