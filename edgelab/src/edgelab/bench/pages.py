"""Web page render time: the cloud's own render vs a warm edge, online and offline.

One local lab (cloud, link emulator, one edge with the lab's route policy, which warms the
shop's pages). A clerk signs in through the edge; then, for each page of a shop's working day
(dashboard, products, a product, the shop's stock, ledger, the four document forms), sequential
GETs with the clerk's session, timed end to end at the client:

* `cloud`: straight to the cloud app, no cache (its own render time);
* `edge online`: through the warm edge (the edge revalidates its copy at the cloud through the
  link: `max-age=0`, answered `304` when unchanged, so the body does not cross the link);
* `edge offline`: through the edge with the link cut (blackhole): the edge's copy
  (`OFFLINE-HIT`), the cloud is not asked.

p50/p99 in milliseconds over every page (and p50 per page), measured in the same run.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import httpx

from edgelab.bench.clients import percentile
from edgelab.process import wait_until
from edgelab.settings import LabSettings
from edgelab.targets.local import LocalTarget

EDGE = "shop-1"
WAREHOUSE = "SHOP-1"
MODES = ("cloud", "edge online", "edge offline")
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class PageTimes:
    """Latencies (ms) per mode and page, and the cache statuses the edge answered."""

    samples: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    statuses: dict[str, dict[str, int]] = field(default_factory=dict)
    failures: int = 0

    def add(self, mode: str, page: str, ms: float, cache: str | None) -> None:
        self.samples.setdefault(mode, {}).setdefault(page, []).append(ms)
        counts = self.statuses.setdefault(mode, {})
        key = cache or "-"
        counts[key] = counts.get(key, 0) + 1

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for mode, pages in self.samples.items():
            every = [v for values in pages.values() for v in values]
            out[mode] = {
                "requests": len(every),
                "p50_ms": percentile(every, 50),
                "p99_ms": percentile(every, 99),
                "p50_ms_by_page": {p: percentile(v, 50) for p, v in pages.items()},
                "x_edge_cache": dict(self.statuses.get(mode, {})),
            }
        out["failures"] = self.failures
        return out


def day_pages(warehouse_id: int, product_id: int, lang: str = "en") -> list[str]:
    """The pages of a shop's working day (as the UI links them)."""
    return [
        f"/?lang={lang}",
        f"/products?lang={lang}",
        f"/products/{product_id}?lang={lang}",
        f"/stock?warehouse_id={warehouse_id}&lang={lang}",
        f"/ledger?lang={lang}",
        f"/documents/purchase?lang={lang}",
        f"/documents/sale?lang={lang}",
        f"/documents/transfer?lang={lang}",
        f"/documents/stocktake?warehouse_id={warehouse_id}&lang={lang}",
    ]


def sign_in(base: str, username: str = "clerk", password: str = "clerk") -> httpx.Client:
    """A client with a browser session of `username` (through `base`)."""
    client = httpx.Client(base_url=base, timeout=30.0, headers={"Sec-Fetch-Site": "same-origin"})
    page = client.get("/login")
    found = CSRF_RE.search(page.text)
    if found is None:
        raise RuntimeError(f"no sign-in form at {base}/login (HTTP {page.status_code})")
    done = client.post("/login", data={"username": username, "password": password,
                                       "csrf_token": found.group(1), "next": "/"},
                       follow_redirects=False)
    if done.status_code != 303 or "inventory_session" not in client.cookies:
        raise RuntimeError(f"sign-in through {base} failed: HTTP {done.status_code}")
    return client


def warmed(edge: str, url: str, device_token: str) -> bool:
    """Whether the edge holds a copy of `url` (asked without letting it go to the cloud)."""
    headers = {"Authorization": f"Bearer {device_token}",
               "Cache-Control": "only-if-cached, max-stale=604800"}
    return httpx.get(edge + url, headers=headers, timeout=10.0).status_code == 200


def measure(client: httpx.Client, cookie: str, urls: list[str], rounds: int,
            mode: str, times: PageTimes) -> None:
    for _ in range(rounds):
        for url in urls:
            started = time.perf_counter()
            try:
                r = client.get(url, headers={"Cookie": cookie})
                r.read()
            except httpx.HTTPError:
                times.failures += 1
                continue
            ms = (time.perf_counter() - started) * 1000.0
            if r.status_code != 200:
                times.failures += 1
                continue
            times.add(mode, url.split("?", 1)[0], ms, r.headers.get("x-edge-cache"))


def run(base: Path, *, quick: bool = False,
        progress: Callable[[str], None] = lambda _m: None) -> dict[str, Any]:
    """Start a one-edge lab under `base`, measure, stop it; returns the summary."""
    rounds = 5 if quick else 40
    settings = LabSettings(lab_dir=base / "pages-lab", edges=1, app_port=0, edge_port=0,
                           link_port=0, link_control_port=0, demo_days=1 if quick else 7,
                           demo_products=60 if quick else 300, ready_timeout_s=90.0)
    target = LocalTarget(settings, progress=progress)
    progress("page render time: starting a one-edge lab")
    target.up()
    try:
        endpoints = target.endpoints()
        edge, cloud = endpoints.edges[EDGE], endpoints.cloud
        tokens = target.tokens()
        admin = httpx.Client(base_url=cloud, timeout=30.0,
                             headers={"Authorization": f"Bearer {tokens.admin}"})
        shop = next(int(w["id"]) for w in admin.get("/api/warehouses").json()["results"]
                    if w["code"] == WAREHOUSE)
        product = int(admin.get("/api/products", params={"limit": 1}).json()["results"][0]["id"])
        urls = day_pages(shop, product)
        for url in urls:
            wait_until(partial(warmed, edge, url, tokens.devices[EDGE]), timeout_s=90.0,
                       what=f"the edge to warm {url}", interval_s=0.2)
        clerk = sign_in(edge)
        cookie = "; ".join(f"{name}={value}" for name, value in clerk.cookies.items())
        times = PageTimes()
        with httpx.Client(base_url=cloud, timeout=30.0) as to_cloud, \
                httpx.Client(base_url=edge, timeout=30.0) as to_edge:
            progress(f"page render time: {rounds} rounds of {len(urls)} pages per mode")
            measure(to_edge, cookie, urls, 1, "warm-up", PageTimes())
            measure(to_cloud, cookie, urls, rounds, "cloud", times)
            measure(to_edge, cookie, urls, rounds, "edge online", times)
            status = httpx.Client(base_url=edge, timeout=10.0,
                                  headers={"Authorization": f"Bearer {tokens.edge_admin}"})
            target.link(EDGE).down("blackhole")
            wait_until(lambda: status.get("/_edge/status").json()["state"] == "offline",
                       timeout_s=90.0, what="the edge to go offline", interval_s=0.2)
            measure(to_edge, cookie, urls, rounds, "edge offline", times)
            target.link(EDGE).up()
        result = times.summary()
        result["pages"] = urls
        result["rounds"] = rounds
        return result
    finally:
        if target.is_up():
            target.link(EDGE).up()
        target.down()


def render(result: dict[str, Any]) -> str:
    """The table `edgelab bench` prints."""
    if "error" in result:
        return f"web page render time\n  failed: {result['error']}"
    lines = ["web page render time (ms, sequential GETs with a clerk's session; "
             f"{result.get('rounds')} rounds of {len(result.get('pages', []))} pages)",
             f"  {'mode':<14}{'requests':>9}{'p50':>9}{'p99':>9}  x-edge-cache"]
    for mode in MODES:
        row = result.get(mode)
        if not row:
            continue
        caches = ", ".join(f"{k} {v}" for k, v in sorted(row["x_edge_cache"].items()))
        lines.append(f"  {mode:<14}{row['requests']:>9}{_ms(row['p50_ms']):>9}"
                     f"{_ms(row['p99_ms']):>9}  {caches}")
    lines.append("  p50 by page:  " + "  ".join(
        f"{page} " + "/".join(_ms(result.get(m, {}).get("p50_ms_by_page", {}).get(page))
                              for m in MODES)
        for page in dict.fromkeys(p.split("?", 1)[0] for p in result.get("pages", []))))
    lines.append("  (per page: cloud/edge online/edge offline)")
    if result.get("failures"):
        lines.append(f"  failed requests: {result['failures']}")
    return "\n".join(lines)


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"
