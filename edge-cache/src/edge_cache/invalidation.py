"""The one invalidation rule (RFC 9111 §4.4), for writes sent at once and for replayed ones.

"A cache MUST invalidate the target URI ... when it receives a non-error status code in
response to an unsafe request method", and "MAY invalidate the URI(s) in the Location and
Content-Location response header fields (if present) when a non-error status code is received
in response to an unsafe request method", but "MUST NOT" when their origin differs from the
target URI's. Pure: request and response in, the cache keys and paths to invalidate out; the
caller applies them to the store (`CacheStore.invalidate`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

from edge_cache.messages import Headers

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
REFERENCES = ("location", "content-location")


@dataclass(frozen=True, slots=True)
class Invalidation:
    """What one write makes stale.

    `keys`: request targets (path + query), every stored variant of each; `paths`: whole paths
    (any query string), from the route's `affects` and, for a replayed write, its marks.
    """

    keys: frozenset[str] = frozenset()
    paths: frozenset[str] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.keys or self.paths)


NOTHING = Invalidation()


def invalidation(
    method: str,
    target: str,
    status: int,
    response_headers: Headers,
    *,
    origin_host: str,
    request_host: str | None = None,
    affects: Iterable[str] = (),
) -> Invalidation:
    """The keys and paths a response to `method target` invalidates.

    Nothing for a safe method or an error status (anything outside 2xx/3xx). Otherwise the
    target, the Location and Content-Location references resolved against it (RFC 3986 §5)
    when they name the origin's host or the Host the request was sent with, and `affects`.
    """
    if method in SAFE_METHODS or not 200 <= status < 400:  # method names are case-sensitive
        return NOTHING
    base = f"http://{origin_host}{target if target.startswith('/') else '/' + target}"
    hosts = {origin_host.lower()}
    if request_host:
        hosts.add(request_host.strip().lower())
    keys = {target}
    for name, value in response_headers:
        if name.lower() not in REFERENCES or not value.strip():
            continue
        key = _same_origin_key(base, value.strip(), hosts)
        if key is not None:
            keys.add(key)
    return Invalidation(frozenset(keys), frozenset(p for p in affects if p))


def _same_origin_key(base: str, reference: str, hosts: set[str]) -> str | None:
    """The cache key (path + query) a reference names on one of `hosts`, or None."""
    try:
        parts = urlsplit(urljoin(base, reference))
        netloc = parts.netloc.lower()
    except ValueError:  # e.g. an invalid IPv6 literal or port: names nothing we can match
        return None
    if parts.scheme not in ("http", "https") or netloc not in hosts:
        return None
    path = parts.path or "/"
    return f"{path}?{parts.query}" if parts.query else path
