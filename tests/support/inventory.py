"""The real inventory-app for the tests: `inventory-app serve` as a process on a free loopback
port, ready only when its own process listens there and answers /readyz; a small seeded world
for the edge tests.

One launcher (`InventoryProcess`), two faces: `InventoryServer` for async tests (start/stop can
be awaited and repeated on the same port: the link to the cloud going down and coming back) and
`LiveServer` for synchronous tests (started when made)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from edgelab.process import ManagedProcess, python_module, wait_until
from inventory_app.db import Database
from inventory_app.migrate import upgrade
from inventory_app.services import auth, masters

from tests.support.ports import free_port, listens
from tests.support.waiting import wait_until as await_until


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


class InventoryProcess:
    """`inventory-app serve` against `db_url` on a port picked once (kept across restarts);
    its output goes to `log_path`; `env` adds INVENTORY_* settings."""

    def __init__(self, db_url: str, log_path: Path, **env: str) -> None:
        self.db_url = db_url
        self.port = free_port()
        self.log_path = log_path
        self.env = env
        self.managed: ManagedProcess | None = None
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base(self) -> str:
        """The same as `url` (the name the inventory-app tests use)."""
        return self.url

    def launch(self) -> None:
        """Start the process (edgelab.process.ManagedProcess) without waiting for it."""
        env = {"INVENTORY_DATABASE_URL": self.db_url, "INVENTORY_LOG_REQUESTS": "false",
               **self.env}
        self.managed = ManagedProcess("inventory-app", self.command(), self.log_path, env=env)
        self.proc = self.managed.proc

    def command(self) -> list[str]:
        return python_module("inventory_app.cli", "serve", "--host", "127.0.0.1",
                             "--port", str(self.port))

    def ready(self) -> bool:
        """One readiness probe; raises when the process has exited."""
        proc = self.proc
        assert proc is not None, "not launched"
        if proc.poll() is not None:
            raise AssertionError(
                f"inventory-app exited with {proc.returncode}:\n{self.output()[-2000:]}")
        try:
            answered = httpx.get(self.url + "/readyz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False
        return answered and listens(proc.pid, self.port)

    def wait_ready(self, deadline: float = 60.0) -> None:
        """Wait for `ready()`; fails early, with the log's tail, when the process exits."""
        managed = self.managed
        assert managed is not None, "not launched"
        wait_until(self.ready, timeout_s=deadline, what=f"inventory-app on port {self.port}",
                   record=managed.record, alive=managed.running)

    def terminate(self) -> None:
        """SIGTERM, then SIGKILL after 20 s; nothing when it is not running."""
        if self.managed is not None:
            self.managed.stop(20.0)

    def output(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""


class InventoryServer(InventoryProcess):
    """For async tests: `await start()` / `await stop()`, repeatable on the same port."""

    async def start(self, deadline: float = 60.0) -> None:
        self.launch()
        await await_until(lambda: asyncio.to_thread(self.ready), deadline,
                          f"inventory-app on port {self.port}", interval=0.1)

    async def stop(self) -> None:
        await asyncio.to_thread(self.terminate)

    async def kill9(self) -> None:
        """SIGKILL, as a crash; returns once the process is gone."""
        proc = self.proc
        assert proc is not None and proc.poll() is None, "inventory-app is not running"
        proc.kill()
        await asyncio.to_thread(proc.wait)


class LiveServer(InventoryProcess):
    """For synchronous tests: started (and ready) when made; `stop()` ends it and its log."""

    def __init__(self, url: str, extra_env: dict[str, str] | None = None) -> None:
        fd, log = tempfile.mkstemp(prefix="inventory-app-", suffix=".log")
        os.close(fd)
        super().__init__(url, Path(log), **(extra_env or {}))
        self.launch()
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        self.terminate()
        self.log_path.unlink(missing_ok=True)
