"""Real processes for the fault-injection suite: the cloud (`inventory-app serve` on SQLite),
one WAN link emulator (`python -m edgelab.link.emulator`) and one `edge-cache` per shop, tills
that sell through their shop's edge, and the check against the cloud's ledger.

    edge-cache shop-n ──► link emulator n ──► inventory-app

Reuses the test harness in tests/support: `inventory` (seeded database, app process on a
fixed port so it can be killed and restarted) and `sidecar` (the edge process)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import signal
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

from tests.support.inventory import InventoryServer, InventoryWorld, seed
from tests.support.ports import free_port, listens
from tests.support.sidecar import Sidecar
from tests.support.waiting import wait_until

POLICY = """routes:
  - path: /api/documents
    methods: [POST]
    replay: parallel
    affects: [/api/stock, /api/warehouses, /api/ledger, /api/reviews]
"""
INITIAL = 20  # units of each product in the shop before the faults
ADMIN_TOKEN = "fault-suite-admin"  # the edges' /_edge admin token


class Cloud(InventoryServer):
    """The inventory app; `kill9`, `pause`/`resume` (SIGSTOP/SIGCONT) and `restart` keep the
    port and the database, as a crashed or hung cloud that comes back would."""

    def __init__(self, tmp: Path, devices: tuple[str, ...]) -> None:
        url = f"sqlite:///{tmp}/inventory.db"
        self.world: InventoryWorld = seed(url, devices)
        # A claim left "in flight" by a killed app must not be papered over by its expiry:
        # with the one-transaction idempotency nothing is ever left, so this never matters.
        super().__init__(url, tmp / "inventory.log", INVENTORY_IDEMPOTENCY_INFLIGHT_TIMEOUT_S="900")
        self.kills = 0

    async def kill9(self) -> None:
        await super().kill9()
        self.kills += 1

    def pause(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    async def restart(self) -> None:
        await self.start()

    # -- the ledger -------------------------------------------------------------------------

    async def get(self, s: aiohttp.ClientSession, target: str) -> Any:
        async with s.get(self.url + target, headers={
                "Authorization": f"Bearer {self.world.tokens['admin']}"}) as resp:
            assert resp.status == 200, (target, resp.status, await resp.text())
            return await resp.json()

    async def pages(self, s: aiohttp.ClientSession, target: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        url: str | None = target
        while url:
            page = await self.get(s, url)
            out.extend(page["results"])
            url = page.get("next")
        return out

    async def balances(self, s: aiohttp.ClientSession) -> dict[int, int]:
        w = self.world
        return {p: int((await self.get(s, f"/api/warehouses/{w.shop}/stock/{p}"))["qty"])
                for p in w.products}

    async def receive(self, s: aiohttp.ClientSession, qty: int) -> None:
        """Stock up every product by `qty` directly at the cloud (a purchase receipt)."""
        await self._receipt(s, dict.fromkeys(self.world.products, qty))

    async def top_up(self, s: aiohttp.ClientSession, level: int) -> None:
        """Receive what brings every product back to at least `level` (earlier faults oversold
        them, and an online sale may not oversell)."""
        short = {p: level - q for p, q in (await self.balances(s)).items() if q < level}
        if short:
            await self._receipt(s, short)

    async def _receipt(self, s: aiohttp.ClientSession, qty: dict[int, int]) -> None:
        w = self.world
        async with s.post(self.url + "/api/documents", json={
                "id": str(uuid.uuid4()), "type": "purchase_receipt", "warehouse_id": w.shop,
                "partner_id": w.supplier,
                "lines": [{"product_id": p, "qty": n} for p, n in qty.items()]},
                headers={"Authorization": f"Bearer {w.tokens['clerk']}",
                         "Idempotency-Key": str(uuid.uuid4())}) as resp:
            assert resp.status == 201, await resp.text()


class Link:
    """One link emulator process between an edge and the cloud, with its control API."""

    def __init__(self, upstream: str, log_path: Path) -> None:
        self.upstream = upstream.removeprefix("http://")
        self.port, self.control_port = free_port(), free_port()
        self.log_path = log_path
        self.proc: asyncio.subprocess.Process | None = None
        self._session: aiohttp.ClientSession | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def control(self) -> str:
        return f"http://127.0.0.1:{self.control_port}"

    async def start(self, deadline: float = 30.0) -> None:
        log = open(self.log_path, "ab")  # noqa: ASYNC230, SIM115
        try:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "edgelab.link.emulator",
                "--listen", f"127.0.0.1:{self.port}", "--upstream", self.upstream,
                "--control", f"127.0.0.1:{self.control_port}",
                stdout=log, stderr=log, stdin=asyncio.subprocess.DEVNULL)
        finally:
            log.close()
        self._session = session = aiohttp.ClientSession()
        proc = self.proc

        async def ready() -> bool:  # its own process answers on its own port
            assert proc.returncode is None, "link emulator exited"
            with contextlib.suppress(aiohttp.ClientError, OSError):
                async with session.get(self.control + "/readyz") as resp:
                    return resp.status == 200 and listens(proc.pid, self.control_port)
            return False

        await wait_until(ready, deadline, "link emulator ready", interval=0.05)

    async def _post(self, path: str, body: dict[str, Any] | None = None) -> None:
        assert self._session is not None
        async with self._session.post(self.control + path, json=body) as resp:
            assert resp.status == 200, await resp.text()

    async def down(self, mode: str = "refuse") -> None:
        await self._post("/link/down", {"mode": mode})

    async def up(self) -> None:
        await self._post("/link/up")

    async def slow(self, latency_ms: float) -> None:
        """Up, with `latency_ms` per direction: replays stay in flight long enough to be hit."""
        await self._post("/link/degrade", {"latency_ms": latency_ms, "jitter_ms": 0,
                                          "loss": 0, "rate_kbit": None})

    async def stop(self) -> None:
        if self._session is not None:
            await self._session.close()
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            await self.proc.wait()


@dataclass
class Sale:
    doc_id: str
    product: int
    qty: int
    shop: str
    status: int = 0  # the edge's answer: 202 queued, 201/200 applied online, 507 refused


@dataclass
class Tally:
    """Per-fault counts, checked against the cloud's ledger."""

    fault: str
    acknowledged: int = 0
    applied: int = 0
    lost: int = 0
    duplicated: int = 0
    dead_letters: int = 0
    refused: int = 0
    oversold: int = 0
    extra: dict[str, object] = field(default_factory=dict)

    def line(self) -> str:
        more = "".join(f", {k} {v}" for k, v in self.extra.items())
        return (f"FAULT {self.fault}: acknowledged {self.acknowledged}, applied {self.applied},"
                f" lost {self.lost}, duplicated {self.duplicated}, dead letters "
                f"{self.dead_letters}, refused {self.refused}, oversold (flagged) "
                f"{self.oversold}{more}")


class Shop:
    """One shop: its link emulator, its edge-cache process and its till."""

    def __init__(self, name: str, cloud: Cloud, tmp: Path, **env: str) -> None:
        self.name = name
        self.cloud = cloud
        self.tmp = tmp
        self.link = Link(cloud.url, tmp / f"{name}-link.log")
        self.env = env
        self.edge: Sidecar | None = None
        self.sales: list[Sale] = []

    async def start(self, data_dir: Path | None = None) -> None:
        await self.link.start()
        policy = self.tmp / "policy.yaml"
        policy.write_text(POLICY)
        env = {"EDGE_CACHE_DEVICE_TOKEN": self.cloud.world.tokens[self.name],
               "EDGE_CACHE_POLICY_FILE": str(policy),
               "EDGE_CACHE_CHANGES_PATH": "/api/changes", "EDGE_CACHE_CHANGES_TIMEOUT": "1",
               "EDGE_CACHE_ADMIN_TOKEN": ADMIN_TOKEN,
               "EDGE_CACHE_ORIGIN_TIMEOUT": "3", "EDGE_CACHE_REPLAY_MAX_ATTEMPTS": "10",
               "EDGE_CACHE_REPLAY_BACKOFF_MAX": "2"}  # the lab's edge settings
        env.update(self.env)
        self.edge = Sidecar(self.link.url, data_dir or self.tmp / self.name, **env)
        await self.edge.start()
        # credentials are verified locally offline: wait for the synced digest list
        await self.edge.wait_digests(30)

    @property
    def sidecar(self) -> Sidecar:
        assert self.edge is not None
        return self.edge

    async def sell(self, s: aiohttp.ClientSession, product: int, qty: int) -> Sale:
        """One sale through the edge, as a till sends it (its own document id and key)."""
        w = self.cloud.world
        sale = Sale(str(uuid.uuid4()), product, qty, self.name)
        try:
            async with s.post(self.sidecar.url + "/api/documents", json={
                    "id": sale.doc_id, "type": "sales_issue", "warehouse_id": w.shop,
                    "lines": [{"product_id": product, "qty": qty}]},
                    headers={"Authorization": f"Bearer {w.tokens['clerk']}",
                             "Idempotency-Key": sale.doc_id},
                    timeout=aiohttp.ClientTimeout(total=30)) as resp:
                body = await resp.read()
                sale.status = resp.status
                if resp.status == 507:  # a clear refusal, never a bare 500
                    assert resp.headers["Content-Type"] == "application/problem+json"
                    assert int(resp.headers["Retry-After"]) > 0
                    assert json.loads(body)["status"] == 507
                else:
                    assert resp.status in (200, 201, 202), (resp.status, body[:300])
        except (aiohttp.ClientError, TimeoutError):
            sale.status = 0  # no answer: not acknowledged (a till would retry)
        self.sales.append(sale)
        return sale

    async def sell_many(self, s: aiohttp.ClientSession, n: int, rng: random.Random) -> None:
        for _ in range(n):
            await self.sell(s, rng.choice(self.cloud.world.products), rng.randint(1, 3))

    async def dead_letters(self, s: aiohttp.ClientSession) -> list[dict[str, Any]]:
        async with s.get(self.sidecar.url + "/_edge/outbox?state=dead",
                         headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as resp:
            assert resp.status == 200, await resp.text()
            return list(json.loads(await resp.read())["entries"])

    async def stop(self) -> None:
        if self.edge is not None:
            await self.edge.stop()
        await self.link.stop()


async def drained(s: aiohttp.ClientSession, shops: list[Shop], deadline: float) -> None:
    """Every shop's outbox is empty and nothing is in flight (with a diagnosis if not)."""
    start = time.monotonic()
    for shop in shops:
        try:
            await shop.sidecar.wait_drained(s, max(1.0, deadline - (time.monotonic() - start)))
        except AssertionError as exc:
            raise AssertionError(f"{shop.name}: {exc}\n{shop.sidecar.log_tail(15)}") from exc


async def verify(s: aiohttp.ClientSession, cloud: Cloud, shops: list[Shop], fault: str,
                 initial: dict[int, int]) -> Tally:
    """Every acknowledged sale is applied exactly once, nothing refused is applied, the final
    balances are initial + Σ deltas, every oversell is flagged and no dead letter holds a sale
    the cloud applied."""
    w = cloud.world
    sales = [sale for shop in shops for sale in shop.sales]
    acked = {x.doc_id: x for x in sales if x.status in (200, 201, 202)}
    refused = {x.doc_id for x in sales if x.status == 507}
    ledger = await cloud.pages(s, f"/api/ledger?warehouse_id={w.shop}&limit=500")
    mine = {x.doc_id for x in sales}  # the cloud is shared by the suite's tests
    rows = [r for r in ledger if r["document_type"] == "sales_issue" and r["document_id"] in mine]
    per_doc = Counter(r["document_id"] for r in rows)
    dead = [e for shop in shops for e in await shop.dead_letters(s)]
    tally = Tally(fault, acknowledged=len(acked), refused=len(refused),
                  applied=sum(1 for d in acked if per_doc[d] >= 1),
                  lost=sum(1 for d in acked if per_doc[d] == 0),
                  duplicated=sum(1 for n in per_doc.values() if n > 1),
                  dead_letters=len(dead))
    reviews = await cloud.pages(s, "/api/reviews?limit=500")
    flagged = {r["document_id"] for r in reviews if r["reason"] == "oversell"}
    oversold = {r["document_id"] for r in rows if r["negative_after"]}
    tally.oversold = len(flagged & oversold)
    print(tally.line())
    assert tally.lost == 0, f"{tally.lost} acknowledged sales never applied"
    assert tally.duplicated == 0, f"{tally.duplicated} sales applied more than once"
    assert tally.dead_letters == 0, dead
    unacked_applied = set(per_doc) - set(acked)
    assert not (unacked_applied & refused), "a sale refused with 507 was applied"
    # a sale without an answer (connection cut) may or may not have been applied; every other
    # applied sale was acknowledged
    unanswered = {x.doc_id for x in sales if x.status == 0}
    assert unacked_applied <= unanswered, unacked_applied - unanswered
    for p in w.products:
        delta = sum(r["delta"] for r in rows if r["product_id"] == p)
        sold = sum(x.qty for x in sales if x.product == p and per_doc[x.doc_id])
        assert delta == -sold, (p, delta, sold)
        stock = await cloud.get(s, f"/api/warehouses/{w.shop}/stock/{p}")
        assert stock["qty"] == initial[p] - sold, (p, stock, initial[p], sold)
    assert flagged >= oversold, oversold - flagged  # every oversell is flagged for review
    assert all(r["edge_replay"] for r in rows if acked.get(r["document_id"], Sale(
        "", 0, 0, "")).status == 202)
    return tally
