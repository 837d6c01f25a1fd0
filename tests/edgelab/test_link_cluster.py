"""`AnsibleLink`: the ansible-runner arguments it builds for playbooks/link.yml, and bad input."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from edgelab.link import Link
from edgelab.link.cluster import (
    AnsibleLink,
    inventory_hosts,
    link_extravars,
    run_playbook,
    runner_kwargs,
)

REPO = Path(__file__).resolve().parents[2]
PLAYBOOKS = REPO / "playbooks"
INVENTORY = PLAYBOOKS / "inventory" / "lab-vms.yml"


def test_extravars_map_the_link_api_onto_the_role() -> None:
    assert link_extravars("down", "blackhole") == {
        "link_state": "down",
        "link_mode": "blackhole",
        "link_latency_ms": 0,
        "link_jitter_ms": 0,
        "link_loss": 0,
        "link_rate_kbit": 0,
    }
    degrade = link_extravars(
        "degrade", latency_ms=50, jitter_ms=5, loss=0.05, rate_kbit=512.4, max_duration_s=600
    )
    # One-way per direction here = the whole round trip on the edge's egress there.
    assert degrade["link_latency_ms"] == 100
    assert degrade["link_jitter_ms"] == 10
    assert degrade["link_loss"] == pytest.approx(5.0)  # percent in the role
    assert degrade["link_rate_kbit"] == 512
    assert degrade["link_max_duration_s"] == 600
    with pytest.raises(ValueError, match="latency_ms must be >= 0"):
        link_extravars("degrade", latency_ms=-1)
    with pytest.raises(ValueError, match="loss"):
        link_extravars("degrade", loss=1.5)
    with pytest.raises(ValueError, match="unknown link mode"):
        link_extravars("down", "sideways")
    with pytest.raises(ValueError, match="unknown link state"):
        link_extravars("sideways")


def test_runner_kwargs_for_the_repository_playbook(tmp_path: Path) -> None:
    extravars = link_extravars("down", "refuse")
    kwargs = runner_kwargs("edge2", INVENTORY, PLAYBOOKS, extravars, tmp_path)
    assert kwargs["playbook"] == "link.yml"
    assert kwargs["project_dir"] == str(PLAYBOOKS.resolve())
    assert kwargs["inventory"] == str(INVENTORY.resolve())
    assert kwargs["limit"] == "edge2"
    assert kwargs["private_data_dir"] == str(tmp_path)
    assert kwargs["extravars"] == extravars
    assert "cmdline" not in kwargs
    # The repository's ansible.cfg sits at the root, beside playbooks/.
    assert not (PLAYBOOKS / "ansible.cfg").exists()
    assert kwargs["envvars"]["ANSIBLE_CONFIG"] == str((REPO / "ansible.cfg").resolve())
    checked = runner_kwargs("edge1", INVENTORY, PLAYBOOKS, extravars, tmp_path, check_mode=True)
    assert checked["cmdline"] == "--check"
    assert inventory_hosts(INVENTORY) == {"edge1", "edge2"}


def test_missing_inventory_playbook_or_edge_gives_a_clear_error(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.yml"
    with pytest.raises(FileNotFoundError, match="Ansible inventory not found"):
        runner_kwargs("edge1", missing, PLAYBOOKS, {}, tmp_path)
    with pytest.raises(FileNotFoundError, match="Ansible inventory not found"):
        AnsibleLink("edge1", missing, PLAYBOOKS)
    with pytest.raises(FileNotFoundError, match=r"link\.yml not found"):
        AnsibleLink("edge1", INVENTORY, tmp_path)
    with pytest.raises(FileNotFoundError, match="pass playbook_dir"):
        inventory = tmp_path / "hosts.yml"
        inventory.write_text(INVENTORY.read_text())
        AnsibleLink("edge1", inventory)
    with pytest.raises(ValueError, match=r"unknown edge 'cloud1'.*edge1, edge2"):
        AnsibleLink("cloud1", INVENTORY, PLAYBOOKS)


def test_bad_parameters_fail_before_any_playbook_runs() -> None:
    link = AnsibleLink("edge1", INVENTORY, PLAYBOOKS, max_duration_s=300)
    assert isinstance(link, Link)
    assert AnsibleLink("edge2", INVENTORY).playbook_dir == PLAYBOOKS
    assert link.state().state == "up"
    with pytest.raises(ValueError, match="unknown link mode"):
        link.down("sideways")
    with pytest.raises(ValueError, match="jitter_ms"):
        link.degrade(latency_ms=10, jitter_ms=-2)
    with pytest.raises(ValueError, match="rate_kbit"):
        link.degrade(rate_kbit=0)
    assert link.state().state == "up"


class _Result:
    def __init__(self, status: str, rc: int, output: str) -> None:
        self.status, self.rc = status, rc
        self.stdout = io.StringIO(output)


def test_a_failed_play_is_reported_with_its_status_rc_and_last_output() -> None:
    calls: list[dict[str, object]] = []

    def run(**kwargs: object) -> _Result:
        calls.append(kwargs)
        return _Result("failed", 2, "x" * 3000 + "fatal: [edge1]: UNREACHABLE!\n")

    failure = run_playbook({"playbook": "link.yml", "limit": "edge1"}, run)
    assert calls == [{"playbook": "link.yml", "limit": "edge1"}]
    assert failure is not None and failure.startswith("ended failed (rc=2): ")
    assert failure.endswith("fatal: [edge1]: UNREACHABLE!")
    assert len(failure) < 1600  # only the tail of a long output
    assert run_playbook({}, lambda **_: _Result("successful", 0, "ok")) is None
    assert run_playbook({}, lambda **_: _Result("successful", 1, "")) == "ended successful (rc=1): "
