"""The `warm:` policy section, the warmer's pure decisions, and the loop in a real sidecar in
front of the scripted origin (with the real inventory app: tests/browser/test_shop_offline.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from edge_cache.policy import PolicyError, load_policies
from edge_cache.warm_policy import WarmPolicy, parse_warm
from edge_cache.warming import WarmState, add_followed, due, links_in

from tests.support.origins import ScriptedOrigin, token_digests
from tests.support.sidecar_in_process import SidecarFactory
from tests.support.waiting import wait_until


def test_policy_file_warm_section(tmp_path: Path) -> None:
    file = tmp_path / "policy.yaml"
    file.write_text(
        "routes: []\nwarm:\n  urls: [/, '/products?lang=en', /]\n  follow: ['/products/*']\n"
        "  interval: 30\n  max_urls: 10\n"
    )
    warm = load_policies(file).warm
    assert warm == WarmPolicy(urls=("/", "/products?lang=en"), follow=("/products/*",),
                              max_urls=10, interval=30.0, concurrency=2)
    file.write_text("warm: [/a, /b]\n")
    assert load_policies(file).warm == WarmPolicy(urls=("/a", "/b"))
    file.write_text("routes: []\n")
    assert load_policies(file).warm is None
    for bad in ("warm: {urls: [a]}", "warm: {urls: ['//evil/']}", "warm: {urls: [/], x: 1}",
                "warm: {urls: [/], interval: 0}", "warm: {urls: [/], max_urls: true}", "warm: 3"):
        file.write_text(bad + "\n")
        with pytest.raises(PolicyError):
            load_policies(file)
    assert parse_warm({"urls": []}, "here") is None


def test_links_in_html() -> None:
    body = (
        b'<a href="/products/1?lang=en">a</a> <a href=\'/products/2?lang=en&amp;x=1#top\'>b</a>'
        b'<a href="/products/1?lang=en">again</a> <a href="//evil.example/products/3">c</a>'
        b'<a href="https://evil.example/products/4">d</a> <a href="/stock?lang=en">e</a>'
        b'<link href="/static/app.css?v=1">'
    )
    assert links_in(body, ["/products/*"]) == ["/products/1?lang=en", "/products/2?lang=en&x=1"]
    assert links_in(body, ["/stock?*", "/static/*"]) == ["/stock?lang=en", "/static/app.css?v=1"]
    assert links_in(body, []) == []


def test_due_decisions() -> None:
    states = {
        "/never": WarmState(seed=False),
        "/fresh": WarmState(seed=True, fetched_at=100.0, status=200, stored=True),
        "/old": WarmState(seed=True, fetched_at=10.0, status=200, stored=True),
        "/invalidated": WarmState(seed=False, fetched_at=100.0, status=200, stored=True),
        "/refused": WarmState(seed=True, fetched_at=100.0, status=403),
        "/private": WarmState(seed=True, fetched_at=100.0, status=200, stored=False),
    }
    usable = {"/fresh": True, "/old": True, "/invalidated": False, "/refused": False,
              "/private": False}
    got = due(states, 110.0, 60.0, lambda t: usable.get(t, False))
    assert got == ["/old", "/never", "/invalidated"]  # listed targets first
    assert set(due(states, 110.0, 60.0, lambda t: True, everything=True)) == set(states)
    assert due(states, 170.0, 60.0, lambda t: True) == [
        "/fresh", "/old", "/refused", "/private", "/never", "/invalidated"]


def test_followed_links_respect_the_cap() -> None:
    states = {"/a": WarmState(seed=True)}
    assert add_followed(states, ["/b", "/a", "/c", "/d"], max_urls=3) == ["/b", "/c"]
    assert list(states) == ["/a", "/b", "/c"] and not states["/b"].seed


PAGE = {"Content-Type": "text/html; charset=utf-8",
        "Cache-Control": "public, max-age=0, stale-if-error=604800"}


async def test_the_warmer_fills_follows_and_refetches_what_was_invalidated(
    tmp_path: Path, origin: ScriptedOrigin, make_sidecar: SidecarFactory
) -> None:
    """A real sidecar in front of the scripted origin: the listed page and the links it follows
    are fetched with the device token and stored; a private answer is fetched but not kept (and
    not fetched again every tick); an invalidated entry is fetched again; clients then get the
    warmed copies without the origin rendering them for them."""
    origin.route("/", headers=PAGE, etag='"home-1"',
                 body=b'<a href="/p/1">one</a> <a href="/p/2?x=1&amp;y=2">two</a> '
                      b'<a href="/elsewhere">no</a>')
    origin.route("/p/1", headers=PAGE, etag='"p1"', body=b"<h1>one</h1>")
    origin.route("/p/2?x=1&y=2", headers=PAGE, etag='"p2"', body=b"<h1>two</h1>")
    origin.route("/mine", headers={"Content-Type": "text/html", "Cache-Control": "private"},
                 body=b"<h1>mine</h1>")
    policy = tmp_path / "policy.yaml"
    policy.write_text("warm:\n  urls: [/, /mine]\n  follow: ['/p/*']\n  interval: 3600\n")
    origin.route("/api/auth/token-digests",
                 handler=token_digests({"device-secret": "device", "clerk-secret": "clerk"}))
    sidecar = await make_sidecar(POLICY_FILE=str(policy), DEVICE_TOKEN="device-secret",
                                 AUTH_REQUIRED="on")
    edge = sidecar.edge

    def warmed(target: str) -> bool:
        return any(not e.invalid for e in edge.store.variants(target))

    await wait_until(lambda: warmed("/p/1") and warmed("/p/2?x=1&y=2") and warmed("/"), 30.0)
    assert origin.count("/elsewhere") == 0 and not warmed("/mine")
    seen = [r for r in origin.requests if r.target == "/p/1"]
    assert seen and seen[0].headers.get("Authorization") == "Bearer device-secret"
    mine_fetches = origin.count("/mine")
    assert mine_fetches == 1

    edge.store.invalidate_key("/p/1")
    before = origin.count("/p/1")
    await wait_until(lambda: origin.count("/p/1") > before and warmed("/p/1"), 30.0)
    assert origin.count("/mine") == mine_fetches  # private: not refetched on every tick
    def asked(target: str) -> int:
        return sum(1 for r in origin.requests if r.target == target)

    fetched = asked("/p/2?x=1&y=2")
    assert fetched >= 1
    reply = await sidecar.get("/p/2?x=1&y=2", {"Authorization": "Bearer clerk-secret"})
    assert reply.status == 200 and reply.body == b"<h1>two</h1>"
    assert reply.cache == "REVALIDATED"  # max-age=0: validated (304), body from the warm copy
    assert asked("/p/2?x=1&y=2") == fetched + 1
    refused = await sidecar.get("/p/2?x=1&y=2")  # never for a request without a credential
    assert refused.status == 401


async def test_in_plain_mode_the_warmer_sends_no_credential(
    tmp_path: Path, origin: ScriptedOrigin, make_sidecar: SidecarFactory
) -> None:
    origin.route("/", headers=PAGE, etag='"home-1"', body=b"<h1>home</h1>")
    policy = tmp_path / "policy.yaml"
    policy.write_text("warm: [/]\n")
    sidecar = await make_sidecar(POLICY_FILE=str(policy), DEVICE_TOKEN="device-secret",
                                 AUTH_REQUIRED="off")
    await wait_until(lambda: bool(sidecar.edge.store.variants("/")), 30.0)
    assert all("Authorization" not in r.headers for r in origin.requests if r.target == "/")
    reply = await sidecar.get("/", {"Authorization": "Bearer anyone"})
    assert reply.status == 200 and reply.cache == "REVALIDATED"
