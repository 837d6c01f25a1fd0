"""RFC 9111 storing rules (§3), freshness lifetime (§4.2.1-2) and age (§4.2.3)."""

from __future__ import annotations

import email.utils
from datetime import UTC

from edge_cache.directives import CacheControl

# Status codes whose caching requirements this cache implements (§3: `must-understand`).
UNDERSTOOD_STATUSES = frozenset(
    {200, 203, 204, 300, 301, 302, 303, 307, 308, 400, 403, 404, 405, 410, 414, 451, 501}
)
# Never stored: a 206 is a part (this cache does not combine parts, §3.3-3.4) and a 304
# only updates a stored response (§4.3.4).
NEVER_STORED = frozenset({206, 304})
# RFC 9110 §15.1: heuristically cacheable by default.
HEURISTIC_STATUSES = frozenset({200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501})
HEURISTIC_FRACTION = 0.1

# Hop-by-hop fields (RFC 9110 §7.6.1) never stored or forwarded.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "proxy-authenticate",
        "proxy-authorization",
    }
)


def parse_http_date(value: str | None) -> float | None:
    """Epoch seconds of an HTTP-date, or None when absent or invalid."""
    if not value:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if parsed is None:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def has_explicit_freshness(cc: CacheControl, expires: str | None) -> bool:
    return cc.s_maxage is not None or cc.max_age is not None or expires is not None


def is_storable(
    *,
    status: int,
    response_cc: CacheControl,
    request_cc: CacheControl,
    expires: str | None,
    has_credentials: bool,
    vary_star: bool,
) -> bool:
    """RFC 9111 §3 for a shared cache, for a GET response (the only method we store).

    Any final status may be stored when the directives allow and the response has explicit
    freshness (or `public`, or a heuristically cacheable status): "the cache understands the
    response status code" is required only for 206/304 and with `must-understand`, which
    limits storing to the statuses whose caching rules this cache implements and then
    overrides `no-store` (§5.2.2.3). `Set-Cookie` does not prevent storing (§7.3): the caller
    strips it from the stored copy.
    """
    if status < 200 or status in NEVER_STORED:
        return False
    if response_cc.must_understand:
        if status not in UNDERSTOOD_STATUSES:
            return False
        no_store = request_cc.no_store
    else:
        no_store = request_cc.no_store or response_cc.no_store
    if no_store or response_cc.private:
        return False
    if vary_star:  # `Vary: *` never matches a later request
        return False
    # §3.5: a shared cache stores a response to an authenticated request only when allowed.
    if has_credentials and not (
        response_cc.public or response_cc.s_maxage is not None or response_cc.must_revalidate
    ):
        return False
    return (
        response_cc.public
        or has_explicit_freshness(response_cc, expires)
        or status in HEURISTIC_STATUSES
    )


def freshness_lifetime(
    *,
    status: int,
    cc: CacheControl,
    date: float | None,
    expires: str | None,
    last_modified: str | None,
    response_time: float,
    heuristic_max: float,
    ttl_override: float | None = None,
) -> float:
    """Seconds the response stays fresh (§4.2.1), the heuristic of §4.2.2 only where allowed."""
    if ttl_override is not None:
        return ttl_override
    if cc.s_maxage is not None:
        return cc.s_maxage
    if cc.max_age is not None:
        return cc.max_age
    if expires is not None:
        exp = parse_http_date(expires)
        if exp is None:
            return 0.0  # invalid Expires means "already expired"
        base = date if date is not None else response_time
        return max(0.0, exp - base)
    if status in HEURISTIC_STATUSES or cc.public:
        lm = parse_http_date(last_modified)
        if lm is not None:
            base = date if date is not None else response_time
            return min(max(0.0, (base - lm) * HEURISTIC_FRACTION), heuristic_max)
    return 0.0


def parse_age(value: str | None) -> float | None:
    """The Age value (§5.1), or None when the field is absent or invalid.

    "a cache encountering a message with a list-based Age field value SHOULD use the first
    member of the field value, discarding subsequent ones. If the field value (after
    discarding additional members ...) is invalid (e.g., it contains something other than a
    non-negative integer), a cache SHOULD ignore the field." Repeated lines arrive combined
    with ", " in order, so the first line's first member counts. Negative numbers, floats,
    parameters and non-ASCII digits are invalid; huge values are capped at 2^31 (§1.2.2).
    """
    if not value:
        return None
    first = value.split(",", 1)[0].strip(" \t")
    if not first or not first.isascii() or not first.isdigit():
        return None
    return min(float(int(first)), 2147483648.0)


def initial_age(
    *, age_header: str | None, date: float | None, request_time: float, response_time: float
) -> float:
    """corrected_initial_age of RFC 9111 §4.2.3."""
    age_value = parse_age(age_header) or 0.0
    apparent_age = max(0.0, response_time - date) if date is not None else 0.0
    response_delay = max(0.0, response_time - request_time)
    return max(apparent_age, age_value + response_delay)
