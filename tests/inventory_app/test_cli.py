"""The `inventory-app` command line, run as real subprocesses."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
from inventory_app.db import Database
from inventory_app.services.auth import authenticate
from inventory_app.services.stock import compare_projection

from tests.support.inventory import LiveServer


def cli(
    *args: str, url: str | None = None, data_dir: Path | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INVENTORY_")}
    if url:
        env["INVENTORY_DATABASE_URL"] = url
    if data_dir:
        env["INVENTORY_DATA_DIR"] = str(data_dir)
    return subprocess.run(
        [sys.executable, "-m", "inventory_app.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_migrate_seed_token_rebuild_serve_on_sqlite(tmp_path: Path) -> None:
    data = tmp_path / "data"
    r = cli("migrate", data_dir=data)
    assert r.returncode == 0, r.stderr
    assert (data / "inventory.db").exists()
    assert cli("migrate", data_dir=data).returncode == 0  # idempotent
    r = cli("seed-demo", "--days", "5", data_dir=data, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "DEMO ONLY" in r.stdout
    device_lines = [line for line in r.stdout.splitlines() if line.startswith("device token")]
    assert [line.split()[2] for line in device_lines] == ["SHOP-1:", "SHOP-2:", "SHOP-3:"]
    again = cli("seed-demo", data_dir=data)
    assert again.returncode == 0 and "not added" in again.stdout

    url = f"sqlite:///{data / 'inventory.db'}"
    r = cli("create-token", "--role", "clerk", "--name", "ci", url=url)
    assert r.returncode == 0, r.stderr
    token = r.stdout.strip().splitlines()[-1]
    r = cli(
        "create-token", "--role", "device", "--name", "edge-x", "--warehouse", "SHOP-2", url=url
    )
    device = r.stdout.strip().splitlines()[-1]
    db = Database(url)
    try:
        with db.read() as s:
            principal = authenticate(s, token)
            assert principal is not None and principal.role == "clerk"
            dev = authenticate(s, device)
            assert dev is not None and dev.is_device and dev.warehouse_id is not None
            assert compare_projection(s) == []
    finally:
        db.dispose()

    r = cli("rebuild-balances", url=url)
    assert r.returncode == 0 and "projection matched" in r.stdout

    server = LiveServer(url)
    try:
        auth = {"Authorization": f"Bearer {token}"}
        stock = httpx.get(f"{server.base}/api/stock?limit=500", headers=auth, timeout=30)
        assert stock.status_code == 200 and len(stock.json()["results"]) > 300
        products = httpx.get(
            f"{server.base}/api/products?limit=500", headers=auth, timeout=30
        ).json()["results"]
        assert len(products) == 300
    finally:
        server.stop()
    # graceful shutdown on SIGTERM (uvicorn re-raises the signal after shutting down), not a kill
    assert server.proc.returncode in (0, -15)


def test_bad_input_gives_one_clear_message(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    r = cli("create-token", "--role", "clerk", "--name", "x", url=url)  # not migrated
    assert r.returncode != 0
    assert "inventory-app migrate" in r.stderr and "Traceback" not in r.stderr
    assert cli("migrate", url=url).returncode == 0
    r = cli("create-token", "--role", "device", "--name", "x", url=url)
    assert r.returncode == 1 and "bound to a warehouse" in r.stderr
    r = cli("create-token", "--role", "device", "--name", "x", "--warehouse", "NOPE", url=url)
    assert r.returncode == 1 and "NOPE" in r.stderr and "Traceback" not in r.stderr
    r = cli("create-token", "--role", "boss", "--name", "x", url=url)
    assert r.returncode == 2 and "invalid choice" in r.stderr
    r = cli("frobnicate", url=url)
    assert r.returncode == 2
    r = cli("migrate", url="nonsense://x")
    assert r.returncode != 0 and "Traceback" not in r.stderr


def test_cli_on_postgresql(migrated_pg_url: str) -> None:
    url = migrated_pg_url
    assert cli("migrate", url=url).returncode == 0
    r = cli("seed-demo", "--days", "3", "--products", "40", url=url, timeout=300)
    assert r.returncode == 0, r.stderr
    r = cli("create-token", "--role", "admin", "--name", "pg", url=url)
    assert r.returncode == 0
    r = cli("rebuild-balances", url=url)
    assert r.returncode == 0 and "projection matched" in r.stdout
