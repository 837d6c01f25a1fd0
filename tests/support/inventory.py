"""The real inventory-app as the origin of offline tests: a migrated SQLite database with a small
seeded world, served by `inventory-app serve` in a subprocess that can be stopped and restarted
on the same port (the link to the cloud going down and coming back)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from inventory_app.db import Database
from inventory_app.migrate import upgrade
from inventory_app.services import auth, masters

from tests.support.ports import free_port, listens


@dataclass
class InventoryWorld:
    shop: int = 0
    supplier: int = 0
    products: list[int] = field(default_factory=list)
    tokens: dict[str, str] = field(default_factory=dict)


def seed(url: str, devices: tuple[str, ...]) -> InventoryWorld:
    """Migrate and seed: one shop warehouse, a supplier, 3 products, tokens (admin, clerk and one
    device token per edge node, all bound to the same shop so they sell the same stock)."""
    upgrade(url)
    db = Database(url)
    try:
        with db.write() as s:
            masters.create_warehouse(s, "CENTRAL", "Central", "central")
            shop = masters.create_warehouse(s, "SHOP-1", "Shop 1", "edge")
            supplier = masters.create_partner(s, "supplier", "Acme")
            cat = masters.create_category(s, "Fruit")
            products = [masters.create_product(s, sku=f"F{i}", name=f"Fruit {i}",
                                               category_id=cat.id).id for i in range(3)]
            tokens = {role: auth.create_token(s, role=role, name=f"t-{role}")
                      for role in ("admin", "clerk")}
            for name in devices:
                tokens[name] = auth.create_token(s, role="device", name=name,
                                                 warehouse_id=shop.id)
            return InventoryWorld(shop.id, supplier.id, products, tokens)
    finally:
        db.dispose()


class InventoryServer:
    def __init__(self, url: str, log_path: Path, **env: str) -> None:
        self.db_url = url
        self.port = free_port()
        self.log_path = log_path
        self.env = env  # extra INVENTORY_* settings
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, deadline: float = 60.0) -> None:
        env = {**os.environ, "INVENTORY_DATABASE_URL": self.db_url,
               "INVENTORY_LOG_REQUESTS": "false", **self.env}
        log = open(self.log_path, "ab")  # noqa: ASYNC230, SIM115
        try:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "inventory_app.cli", "serve", "--host", "127.0.0.1",
                "--port", str(self.port), env=env, stdout=log, stderr=log,
                stdin=asyncio.subprocess.DEVNULL)
        finally:
            log.close()
        start = time.monotonic()
        async with aiohttp.ClientSession() as s:
            while True:
                assert self.proc.returncode is None, "inventory-app exited"
                with contextlib.suppress(aiohttp.ClientError, OSError, TimeoutError):
                    async with s.get(self.url + "/readyz",
                                     timeout=aiohttp.ClientTimeout(total=2)) as resp:
                        if resp.status == 200 and listens(self.proc.pid, self.port):
                            return
                assert time.monotonic() - start < deadline, "inventory-app not ready"
                await asyncio.sleep(0.1)

    async def stop(self) -> None:
        proc = self.proc
        if proc is None or proc.returncode is not None:
            return
        proc.terminate()
        try:
            await asyncio.wait_for(proc.wait(), 20)
        except TimeoutError:
            proc.kill()
            await proc.wait()
