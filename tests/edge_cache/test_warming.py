"""The `warm:` policy section and the warmer's pure decisions (the loop runs in the lab test
tests/browser/test_shop_offline.py against a real cloud, link emulator and edge)."""

from __future__ import annotations

from pathlib import Path

import pytest
from edge_cache.policy import PolicyError, load_policies
from edge_cache.warming import WarmPolicy, WarmState, add_followed, due, links_in, parse_warm


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
        "/fresh": WarmState(seed=True, fetched_at=100.0, status=200),
        "/old": WarmState(seed=True, fetched_at=10.0, status=200),
        "/invalidated": WarmState(seed=False, fetched_at=100.0, status=200),
        "/refused": WarmState(seed=True, fetched_at=100.0, status=403),
    }
    usable = {"/fresh": True, "/old": True, "/invalidated": False, "/refused": False}
    got = due(states, 110.0, 60.0, lambda t: usable.get(t, False))
    assert got == ["/old", "/never", "/invalidated"]  # listed targets first
    assert set(due(states, 110.0, 60.0, lambda t: True, everything=True)) == set(states)
    assert due(states, 170.0, 60.0, lambda t: True) == ["/fresh", "/old", "/refused", "/never",
                                                        "/invalidated"]


def test_followed_links_respect_the_cap() -> None:
    states = {"/a": WarmState(seed=True)}
    assert add_followed(states, ["/b", "/a", "/c", "/d"], max_urls=3) == ["/b", "/c"]
    assert list(states) == ["/a", "/b", "/c"] and not states["/b"].seed
