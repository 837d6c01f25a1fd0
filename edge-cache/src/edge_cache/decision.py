"""The decision core: request + stored entry + clock + origin state -> what to do. No I/O.

`decide_read` answers a GET/HEAD (RFC 9111 §4, §4.2.4, §5.2.1; RFC 5861); `decide_write`
routes an unsafe request (DESIGN §4: send, queue, refuse). `may_serve_on_error` is the
stale-if-error rule. The proxy (full path) and the fast hit path both ask `decide_read`; the
proxy then does the I/O the decision names. Decisions are shared constants: deciding allocates
nothing, so the hit path pays one call.
"""

from __future__ import annotations

from dataclasses import dataclass

from edge_cache.directives import EMPTY, CacheControl, parse_cache_control
from edge_cache.entry import CachedResponse
from edge_cache.policy import RoutePolicy


@dataclass(frozen=True, slots=True)
class Decision:
    action: str  # serve | validate | fetch | pass | queue | send | refuse
    label: str  # the X-Edge-Cache value of the answer
    refusal: str = ""  # for refuse: offline | not-cached | forbidden
    refresh: bool = False  # serve, and refresh in the background (stale-while-revalidate)


SERVE_HIT = Decision("serve", "HIT")
SERVE_STALE = Decision("serve", "STALE")
SERVE_UPDATING = Decision("serve", "UPDATING", refresh=True)
SERVE_OFFLINE = Decision("serve", "OFFLINE-HIT")
VALIDATE = Decision("validate", "EXPIRED")
FETCH = Decision("fetch", "MISS")
PASS = Decision("pass", "BYPASS")
REFUSE_OFFLINE = Decision("refuse", "MISS", "offline")
REFUSE_OFFLINE_BYPASS = Decision("refuse", "BYPASS", "offline")
REFUSE_NOT_CACHED = Decision("refuse", "MISS", "not-cached")
SEND = Decision("send", "BYPASS")
QUEUE = Decision("queue", "QUEUED")
REFUSE_FORBIDDEN = Decision("refuse", "BYPASS", "forbidden")


def request_directives(fields: dict[str, str]) -> CacheControl:
    """The request's Cache-Control; `Pragma: no-cache` counts only without it (§5.4)."""
    value = fields.get("cache-control")
    if value:
        return parse_cache_control(value)
    if value is None and "no-cache" in fields.get("pragma", "").lower():
        return parse_cache_control("no-cache")
    return EMPTY


def acceptable(
    entry: CachedResponse, age: float, staleness: float, req_cc: CacheControl, *, allow_stale: bool
) -> bool:
    """Freshness as modified by the request's max-age, min-fresh and max-stale (§5.2.1)."""
    if req_cc.max_age is not None and age > req_cc.max_age:
        return False
    if req_cc.min_fresh is not None and entry.lifetime - age < req_cc.min_fresh:
        return False
    if staleness < 0:
        return True
    if not allow_stale:
        return False
    if req_cc.max_stale is not None:
        return staleness <= req_cc.max_stale
    return True


def may_serve_disconnected(
    entry: CachedResponse, staleness: float, policy: RoutePolicy, req_cc: CacheControl
) -> bool:
    """§4.2.4: disconnected, a stale answer is licensed, except must-revalidate /
    proxy-revalidate / s-maxage; the route's max_offline_stale caps how stale (a request may
    ask for less with max-stale), whatever the origin's stale-if-error says."""
    if staleness < 0:
        return True
    if entry.cc.revalidate_when_stale:
        return False
    limit = policy.max_offline_stale
    if req_cc.max_stale is not None:
        limit = min(limit, req_cc.max_stale)
    return staleness <= limit


def may_serve_on_error(
    entry: CachedResponse, now: float, policy: RoutePolicy, req_cc: CacheControl, transport: bool
) -> bool:
    """RFC 5861 stale-if-error for an error answer; a transport failure (or a gateway answer
    the route takes as a disconnection) uses the route's offline licence instead."""
    staleness = entry.current_age(now) - entry.lifetime
    if staleness < 0:
        return True
    if entry.cc.revalidate_when_stale:
        return False
    if transport:
        return staleness <= policy.max_offline_stale
    limits = [s for s in (entry.cc.stale_if_error, req_cc.stale_if_error) if s is not None]
    return any(staleness <= limit for limit in limits)


def plain_fresh_age(entry: CachedResponse, now: float, policy: RoutePolicy) -> float | None:
    """The age of `entry` when a request without directives, online, may reuse it as it is
    (fresh, not invalidated, no `no-cache`, route not bypassed): `decide_read`'s SERVE_HIT for
    such a request, in the fewest steps (the fast hit path asks this). None otherwise."""
    if policy.bypass or entry.invalid or entry.cc.no_cache:
        return None
    age = entry.initial_age + max(0.0, now - entry.response_time)  # current_age (§4.2.3)
    return age if age < entry.lifetime else None


def decide_read(
    *,
    req_cc: CacheControl,
    entry: CachedResponse | None,
    now: float,
    online: bool,
    policy: RoutePolicy,
    ranged: bool = False,
) -> Decision:
    """What to do with a GET/HEAD, given the stored entry selected for it (or None)."""
    if policy.bypass or req_cc.no_store or ranged:
        return PASS if online else REFUSE_OFFLINE_BYPASS
    if (
        req_cc is EMPTY and online and entry is not None
        and plain_fresh_age(entry, now, policy) is not None
    ):
        return SERVE_HIT
    if entry is None:
        if req_cc.only_if_cached:
            return REFUSE_NOT_CACHED
        return FETCH if online else REFUSE_OFFLINE
    age = entry.current_age(now)
    staleness = age - entry.lifetime
    if not online:
        if may_serve_disconnected(entry, staleness, policy, req_cc):
            return SERVE_OFFLINE
        return REFUSE_OFFLINE
    must_validate = req_cc.no_cache or entry.cc.no_cache or entry.invalid
    if not must_validate and acceptable(entry, age, staleness, req_cc, allow_stale=False):
        return SERVE_HIT
    revalidate = entry.cc.revalidate_when_stale
    if req_cc.only_if_cached:
        if (
            req_cc.max_stale is not None
            and not revalidate
            and acceptable(entry, age, staleness, req_cc, allow_stale=True)
        ):
            return SERVE_STALE
        return REFUSE_NOT_CACHED
    if not must_validate and staleness > 0 and not revalidate:
        swr = entry.cc.stale_while_revalidate
        if swr is not None and staleness <= swr and acceptable(
            entry, age, 0.0, req_cc, allow_stale=True
        ):
            return SERVE_UPDATING
        if req_cc.max_stale is not None and acceptable(
            entry, age, staleness, req_cc, allow_stale=True
        ):
            return SERVE_STALE
    return VALIDATE


def decide_write(
    *, online: bool, queueable: bool, queued_for_path: bool, read_only: bool
) -> Decision:
    """Send an unsafe request to the origin, queue it, or refuse it.

    Offline (or with writes for its path still queued: order per resource), a queueable write
    is queued, unless the caller's role may not write (refused at once, never a later dead
    letter). Offline and not queueable: refused. Otherwise it is sent; `after_send` decides
    what a failed attempt becomes.
    """
    if not online or (queueable and queued_for_path):
        if not queueable:
            return REFUSE_OFFLINE_BYPASS
        return REFUSE_FORBIDDEN if read_only else QUEUE
    return SEND


def after_send(*, transport_failed: bool, queueable: bool, read_only: bool) -> Decision | None:
    """A sent write that got no usable answer: queued (same Idempotency-Key) when its fate is
    unknown or it never left, or None to answer the error. A malformed answer
    (`transport_failed=False`) is never queued: the origin did answer."""
    if transport_failed and queueable:
        return REFUSE_FORBIDDEN if read_only else QUEUE
    return None
