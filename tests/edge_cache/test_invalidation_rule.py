"""The one invalidation rule (RFC 9111 §4.4), table-tested without sockets; the proxy (a write
sent at once) and the replayer (a queued write) both apply `invalidation.invalidation`.

§4.4: "A cache MUST invalidate the target URI ... when it receives a non-error status code in
response to an unsafe request method"; it "MAY invalidate the URI(s) in the Location and
Content-Location response header fields"; "However, a cache MUST NOT trigger an invalidation
under these conditions if the origin (Section 4.3.1 of [HTTP]) of the URI to be invalidated
differs from that of the target URI".
"""

from __future__ import annotations

import pytest
from edge_cache.invalidation import NOTHING, Invalidation, invalidation

ORIGIN = "origin.test:8000"


def keys(method: str, target: str, status: int, *headers: tuple[str, str],
         host: str | None = None) -> set[str]:
    return set(invalidation(method, target, status, list(headers), origin_host=ORIGIN,
                            request_host=host).keys)


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS", "TRACE"])
def test_a_safe_method_invalidates_nothing(method: str) -> None:
    assert invalidation(method, "/a", 200, [("Location", "/b")], origin_host=ORIGIN,
                        affects=("/c",)) is NOTHING


@pytest.mark.parametrize("status", [100, 199, 400, 404, 409, 412, 500, 503, 599])
def test_an_error_or_interim_status_invalidates_nothing(status: int) -> None:
    assert not invalidation("POST", "/a", status, [("Location", "/b")], origin_host=ORIGIN,
                            affects=("/c",))


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE", "LOCK", "get"])
@pytest.mark.parametrize("status", [200, 201, 204, 301, 303, 399])
def test_an_unsafe_method_with_a_non_error_status_invalidates_the_target(
    method: str, status: int
) -> None:
    # method names are case-sensitive (RFC 9110 §9.1): "get" is not GET, so not known safe
    assert keys(method, "/list?page=2", status) == {"/list?page=2"}


@pytest.mark.parametrize(
    ("target", "reference", "expected"),
    [
        ("/a", "/b", "/b"),  # absolute path
        ("/api/items/new", "7", "/api/items/7"),  # relative, against the target (RFC 3986 §5)
        ("/api/items/new", "../orders/1", "/api/orders/1"),  # dot segments removed
        ("/a", "/b?x=1#frag", "/b?x=1"),  # the query is part of the key, the fragment is not
        ("/a", f"http://{ORIGIN}/d?x=1", "/d?x=1"),  # absolute URI on the origin
        ("/a", "HTTP://ORIGIN.TEST:8000/e", "/e"),  # scheme and host are case-insensitive
        ("/a", f"https://{ORIGIN}/f", "/f"),  # the edge's origin behind TLS termination
        ("/a", f"//{ORIGIN}/g", "/g"),  # network-path reference
        ("/a", f"http://{ORIGIN}", "/"),  # no path: the root
    ],
)
def test_location_on_the_same_origin_is_invalidated(
    target: str, reference: str, expected: str
) -> None:
    for name in ("Location", "Content-Location", "location"):
        assert keys("POST", target, 201, (name, reference)) == {target, expected}


@pytest.mark.parametrize(
    "reference",
    [
        "http://elsewhere.example/b",  # another host
        "http://origin.test:9000/b",  # the origin's host on another port is another origin
        "//elsewhere.example/b",
        "mailto:ops@origin.test",  # not an http(s) URI
        "http://[::1/b",  # invalid: names nothing, raises nothing
        "   ",  # empty
    ],
)
def test_references_to_another_origin_or_none_are_ignored(reference: str) -> None:
    assert keys("POST", "/a", 201, ("Location", reference)) == {"/a"}


def test_the_host_the_request_was_sent_to_is_the_same_origin() -> None:
    # a client that talks to the edge as shop.example gets absolute URIs for that host
    assert keys("PUT", "/a", 200, ("Content-Location", "http://shop.example/z"),
                host="Shop.Example") == {"/a", "/z"}
    assert keys("PUT", "/a", 200, ("Content-Location", "http://shop.example/z")) == {"/a"}


def test_both_references_and_the_route_affects() -> None:
    what = invalidation(
        "POST", "/api/documents", 201,
        [("Location", "/api/documents/9"), ("Content-Location", "/api/documents/9?v=1"),
         ("Content-Type", "application/json")],
        origin_host=ORIGIN, affects=("/api/stock", "", "/api/ledger"),
    )
    assert what == Invalidation(
        keys=frozenset({"/api/documents", "/api/documents/9", "/api/documents/9?v=1"}),
        paths=frozenset({"/api/stock", "/api/ledger"}),
    )
