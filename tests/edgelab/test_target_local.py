"""LocalTarget with real processes: inventory-app, two edge caches, two link emulators.

The lab runs on free ports in a temporary lab directory with a small demo data set.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

import httpx
import pytest
from edgelab.process import PortInUseError
from edgelab.targets import LabNotRunningError, UnknownEdgeError, health_frame
from edgelab.targets.lab_state import load_state
from edgelab.targets.local import LocalTarget, parse_seed_tokens, parse_token

from tests.edgelab.lab_fixtures import lab_settings
from tests.support.ports import busy_port
from tests.support.processes import alive, wait_gone

pytestmark = pytest.mark.slow


def pids_of(lab_dir: Path) -> list[int]:
    state = load_state(lab_dir)
    assert state is not None
    return [p.process.pid for p in state.parts]


@pytest.fixture
def lab(local_lab: LocalTarget) -> LocalTarget:
    return local_lab


def test_parts_are_up_and_healthy(lab: LocalTarget) -> None:
    rows = lab.health()
    assert [(r.name, r.kind) for r in rows] == [
        ("cloud", "cloud"), ("link-shop-1", "link"), ("link-shop-2", "link"),
        ("shop-1", "edge"), ("shop-2", "edge"),
    ]
    assert all(r.healthy for r in rows), health_frame(rows).to_string()
    edges = {r.name: r for r in rows if r.kind == "edge"}
    assert {r.state for r in edges.values()} == {"online"}
    assert all(r.outbox_depth is not None for r in edges.values())
    for name in ("cloud", "shop-1", "shop-2", "link-shop-1"):
        assert (lab.lab_dir / "logs" / f"{name}.log").stat().st_size > 0
        assert (lab.lab_dir / "run" / f"{name}.pid").exists()
    assert oct(os.stat(lab.lab_dir / "state.json").st_mode & 0o777) == "0o600"


def test_requests_through_each_edge(lab: LocalTarget) -> None:
    endpoints = lab.endpoints()
    tokens = lab.tokens()
    assert set(endpoints.edges) == {"shop-1", "shop-2"} == set(endpoints.direct)
    for edge, url in endpoints.edges.items():
        headers = {"Authorization": f"Bearer {tokens.clerks[edge]}"}
        first = httpx.get(f"{url}/api/products/1", headers=headers, timeout=10)
        second = httpx.get(f"{url}/api/products/1", headers=headers, timeout=10)
        assert first.status_code == 200 and second.status_code == 200
        assert first.headers["X-Edge-Cache"] in {"MISS", "REVALIDATED", "HIT"}
        assert second.headers["X-Edge-Cache"] in {"HIT", "REVALIDATED"}
        assert first.json()["id"] == 1
    cloud = httpx.get(f"{endpoints.cloud}/api/products/1",
                      headers={"Authorization": f"Bearer {tokens.admin}"}, timeout=10)
    assert cloud.status_code == 200 and "X-Edge-Cache" not in cloud.headers
    assert lab.warehouse_of("shop-2") == "SHOP-2"


def test_link_cut_through_target(lab: LocalTarget) -> None:
    link = lab.link("shop-1")
    url = lab.endpoints().direct["shop-1"]
    headers = {"Authorization": f"Bearer {lab.tokens().admin}"}
    try:
        assert link.down("refuse").state == "down"
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{url}/api/products/1", headers=headers, timeout=5)
        rows = {r.name: r for r in lab.health()}
        assert rows["link-shop-1"].state.startswith("down")
    finally:
        link.up()
    assert httpx.get(f"{url}/api/products/1", headers=headers, timeout=10).status_code == 200


def test_attach_from_another_process_view(lab: LocalTarget) -> None:
    other = LocalTarget.attach(lab.lab_dir)
    assert other.endpoints() == lab.endpoints()
    assert other.tokens() == lab.tokens()
    with pytest.raises(UnknownEdgeError, match="unknown edge 'shop-9'"):
        other.link("shop-9")


def test_attach_without_a_lab_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(LabNotRunningError, match="no local lab is running"):
        LocalTarget.attach(tmp_path / "nothing-here")


def test_port_in_use_by_a_foreign_process(tmp_path: Path) -> None:
    with busy_port() as busy:
        target = LocalTarget(lab_settings(tmp_path / "lab", app_port=busy, strict_ports=True))
        with pytest.raises(PortInUseError, match=f"port {busy} for the cloud app is in use"):
            target.up()
    assert load_state(tmp_path / "lab") is None


def test_too_many_edges_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="supports 1 to 3 edges"):
        LocalTarget(lab_settings(tmp_path / "lab", edges=4))


def test_token_parsing() -> None:
    out = ("demo data: 60 products\ndevice token SHOP-1: aaa\ndevice token SHOP-2: bbb\n"
           "admin API token: ccc\n")
    assert parse_seed_tokens(out) == {"device SHOP-1": "aaa", "device SHOP-2": "bbb",
                                      "admin": "ccc"}
    assert parse_token("created clerk token 'x' (shown once)\nxyz-123\n") == "xyz-123"
    assert parse_token('{"token": "t1"}') == "t1"


def test_crash_recovery_then_down_leaves_no_process(lab: LocalTarget) -> None:
    """Runs last on the module's lab: kill -9 some parts, `up` again, `down` leaves nothing."""
    first = pids_of(lab.lab_dir)
    assert len(first) == 5 and all(alive(p) for p in first)
    state = load_state(lab.lab_dir)
    assert state is not None
    victims = [p.process.pid for p in state.parts if p.name in ("cloud", "shop-1")]
    for pid in victims:
        os.kill(pid, signal.SIGKILL)
    assert wait_gone(victims) == []
    with pytest.raises(LabNotRunningError, match="cloud, shop-1 not running"):
        LocalTarget.attach(lab.lab_dir)
    # `up` in a new object (another process would do the same): stops what is left of the
    # crashed run, then starts everything again on the same data
    again = LocalTarget(lab_settings(lab.lab_dir))
    again.up()
    assert wait_gone(first) == []
    second = pids_of(lab.lab_dir)
    assert set(second).isdisjoint(first)
    assert all(r.healthy for r in again.health())
    stopped = LocalTarget(lab_settings(lab.lab_dir)).down()
    assert sorted(stopped) == ["cloud", "link-shop-1", "link-shop-2", "shop-1", "shop-2"]
    assert wait_gone(second) == []
    assert load_state(lab.lab_dir) is None
    assert list((lab.lab_dir / "run").glob("*.pid")) == []
    assert LocalTarget(lab_settings(lab.lab_dir)).down() == []  # idempotent
    # (the session's lab: the `local_lab` fixture starts it again for whoever needs it next)
