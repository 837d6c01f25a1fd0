"""Table tests of the decision core (edge_cache.decision): no sockets, no clock but a number.

Each row names the RFC 9111 / RFC 5861 / DESIGN §4 text it checks."""

from __future__ import annotations

import pytest
from edge_cache.decision import (
    FETCH,
    PASS,
    QUEUE,
    REFUSE_FORBIDDEN,
    REFUSE_NOT_CACHED,
    REFUSE_OFFLINE,
    REFUSE_OFFLINE_BYPASS,
    SEND,
    SERVE_HIT,
    SERVE_OFFLINE,
    SERVE_STALE,
    SERVE_UPDATING,
    VALIDATE,
    Decision,
    after_send,
    decide_read,
    decide_write,
    may_serve_on_error,
    plain_fresh_age,
    request_directives,
)
from edge_cache.directives import parse_cache_control
from edge_cache.entry import CachedResponse
from edge_cache.policy import RoutePolicy

NOW = 1_000_000.0
POLICY = RoutePolicy(max_offline_stale=3600)


def entry(
    cache_control: str, *, age: float, lifetime: float, invalid: bool = False
) -> CachedResponse:
    e = CachedResponse(
        key="/r", path="/r", vary=(), vary_values=(), status=200,
        headers=[("Cache-Control", cache_control)], body=b"x",
        request_time=NOW - age, response_time=NOW - age, initial_age=0.0, lifetime=lifetime,
        invalid=invalid,
    )
    e.refresh_derived()
    return e


FRESH = entry("max-age=60", age=10, lifetime=60)
STALE10 = entry("max-age=60", age=70, lifetime=60)
SWR = entry("max-age=60, stale-while-revalidate=30", age=70, lifetime=60)
MUST = entry("max-age=60, must-revalidate", age=70, lifetime=60)
SMAX = entry("s-maxage=60", age=70, lifetime=60)
NOCACHE = entry("no-cache, max-age=60", age=10, lifetime=60)
INVALID = entry("max-age=60", age=10, lifetime=60, invalid=True)
OLD = entry("max-age=60", age=60 + 7200, lifetime=60)

READS = [
    # (why, request Cache-Control, entry, online, ranged, expected)
    ("§4.2 fresh: reused", None, FRESH, True, False, SERVE_HIT),
    ("§4.2 stale: validated", None, STALE10, True, False, VALIDATE),
    ("§4 no entry: fetched", None, None, True, False, FETCH),
    ("§5.2.2.4 no-cache response: validated even when fresh", None, NOCACHE, True, False,
     VALIDATE),
    ("§4.4 invalidated: validated before reuse online", None, INVALID, True, False, VALIDATE),
    ("§5.2.1.4 request no-cache: validated", "no-cache", FRESH, True, False, VALIDATE),
    ("§5.2.1.1 request max-age=5 < age 10: validated", "max-age=5", FRESH, True, False,
     VALIDATE),
    ("§5.2.1.3 min-fresh=55 > 50 left: validated", "min-fresh=55", FRESH, True, False,
     VALIDATE),
    ("§5.2.1.2 max-stale=20 covers 10 s: served stale", "max-stale=20", STALE10, True, False,
     SERVE_STALE),
    ("§5.2.1.2 max-stale=5 does not cover 10 s", "max-stale=5", STALE10, True, False,
     VALIDATE),
    ("§5.2.2.2 must-revalidate beats max-stale", "max-stale", MUST, True, False, VALIDATE),
    ("§5.2.2.10 s-maxage implies proxy-revalidate", "max-stale", SMAX, True, False, VALIDATE),
    ("RFC 5861 §3 stale-while-revalidate: served, refreshed", None, SWR, True, False,
     SERVE_UPDATING),
    ("§5.2.1.7 only-if-cached, no entry: 504", "only-if-cached", None, True, False,
     REFUSE_NOT_CACHED),
    ("§5.2.1.7 only-if-cached, stale entry: 504", "only-if-cached", STALE10, True, False,
     REFUSE_NOT_CACHED),
    ("§5.2.1.7 only-if-cached + max-stale: stale served", "only-if-cached, max-stale",
     STALE10, True, False, SERVE_STALE),
    ("§5.2.1.5 request no-store: passed through", "no-store", FRESH, True, False, PASS),
    ("Range: passed through", None, FRESH, True, True, PASS),
    ("§4.2.4 disconnected: stale licensed", None, STALE10, False, False, SERVE_OFFLINE),
    ("§4.2.4 disconnected: invalidated entries still served", None, INVALID, False, False,
     SERVE_OFFLINE),
    ("§4.2.4 disconnected but must-revalidate: not served", None, MUST, False, False,
     REFUSE_OFFLINE),
    ("route cap: 2 h stale > max_offline_stale 1 h", None, OLD, False, False, REFUSE_OFFLINE),
    ("request max-stale=5 lowers the offline cap", "max-stale=5", STALE10, False, False,
     REFUSE_OFFLINE),
    ("disconnected, no entry: 503", None, None, False, False, REFUSE_OFFLINE),
    ("disconnected, bypass: 503", "no-store", FRESH, False, False, REFUSE_OFFLINE_BYPASS),
]


@pytest.mark.parametrize(("why", "cc", "stored", "online", "ranged", "expected"), READS,
                         ids=[r[0] for r in READS])
def test_read_decisions(why: str, cc: str | None, stored: CachedResponse | None, online: bool,
                        ranged: bool, expected: Decision) -> None:
    fields = {"cache-control": cc} if cc else {}
    got = decide_read(req_cc=request_directives(fields), entry=stored, now=NOW, online=online,
                      policy=POLICY, ranged=ranged)
    assert got is expected, why


def test_bypass_route_and_pragma() -> None:
    bypass = RoutePolicy(bypass=True)
    assert decide_read(req_cc=request_directives({}), entry=FRESH, now=NOW, online=True,
                       policy=bypass) is PASS
    # §5.4: Pragma: no-cache counts only without Cache-Control
    assert request_directives({"pragma": "no-cache"}).no_cache
    assert not request_directives({"pragma": "no-cache", "cache-control": "max-age=9"}).no_cache


ERRORS = [
    # (why, entry, request stale-if-error, transport, allowed)
    ("fresh entries are always usable", FRESH, None, False, True),
    ("an error answer without stale-if-error: no stale", STALE10, None, False, False),
    ("response stale-if-error=60 covers 10 s", entry("max-age=60, stale-if-error=60", age=70,
                                                     lifetime=60), None, False, True),
    ("request stale-if-error=20 covers 10 s", STALE10, "stale-if-error=20", False, True),
    ("request stale-if-error=5 does not", STALE10, "stale-if-error=5", False, False),
    ("a transport failure uses the offline licence", STALE10, None, True, True),
    ("... capped by the route", OLD, None, True, False),
    ("must-revalidate: never stale", MUST, "stale-if-error=999", True, False),
]


@pytest.mark.parametrize(("why", "stored", "req", "transport", "allowed"), ERRORS,
                         ids=[e[0] for e in ERRORS])
def test_stale_if_error(why: str, stored: CachedResponse, req: str | None, transport: bool,
                        allowed: bool) -> None:
    req_cc = parse_cache_control(req)
    assert may_serve_on_error(stored, NOW, POLICY, req_cc, transport) is allowed, why


WRITES = [
    # (why, online, queueable, queued_for_path, read_only, expected)
    ("online: sent", True, True, False, False, SEND),
    ("online, read-only role: the origin decides", True, True, False, True, SEND),
    ("online, writes queued for the path: queued behind them", True, True, True, False, QUEUE),
    ("offline: queued", False, True, False, False, QUEUE),
    ("offline, read-only role: 403 at once", False, True, False, True, REFUSE_FORBIDDEN),
    ("offline, queue: false route: 503", False, False, False, False, REFUSE_OFFLINE_BYPASS),
]


@pytest.mark.parametrize(("why", "online", "queueable", "behind", "read_only", "expected"),
                         WRITES, ids=[w[0] for w in WRITES])
def test_write_decisions(why: str, online: bool, queueable: bool, behind: bool, read_only: bool,
                         expected: Decision) -> None:
    got = decide_write(online=online, queueable=queueable, queued_for_path=behind,
                       read_only=read_only)
    assert got is expected, why


def test_a_failed_send() -> None:
    assert after_send(transport_failed=True, queueable=True, read_only=False) is QUEUE
    assert after_send(transport_failed=True, queueable=True, read_only=True) is REFUSE_FORBIDDEN
    assert after_send(transport_failed=True, queueable=False, read_only=False) is None
    # a malformed answer: the origin answered, so never queued
    assert after_send(transport_failed=False, queueable=True, read_only=False) is None


@pytest.mark.parametrize("stored", [FRESH, STALE10, SWR, MUST, SMAX, NOCACHE, INVALID, OLD],
                         ids=["fresh", "stale", "swr", "must", "smax", "no-cache", "invalid",
                              "old"])
@pytest.mark.parametrize("policy", [POLICY, RoutePolicy(bypass=True)], ids=["route", "bypass"])
def test_the_fast_paths_rule_is_the_cores_hit(stored: CachedResponse, policy: RoutePolicy) -> None:
    # the fast hit path answers exactly what decide_read would serve as HIT without directives
    hit = decide_read(req_cc=request_directives({}), entry=stored, now=NOW, online=True,
                      policy=policy) is SERVE_HIT
    assert (plain_fresh_age(stored, NOW, policy) is not None) is hit
