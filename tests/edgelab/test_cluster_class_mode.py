"""ClusterTarget's class-mode parts without a cluster (none is available here): the flavor
from the inventory, the restart playbook's ansible-runner call (a recording `run`), and leases
through `kubectl` with the target's own kubeconfig (a fake `kubectl` on PATH). The API server
the target connects to is the loopback stub of tests/notebooks/kube_stub.py."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from edgelab.settings import LabSettings
from edgelab.targets.cluster import ClusterError, ClusterTarget, restart_kwargs
from edgelab.targets.lease import LeaseRefused

from tests.edgelab import fake_kubectl
from tests.notebooks.kube_stub import KubeStub, kube_stub, node

REPO = Path(__file__).resolve().parents[2]
LAB_VMS = REPO / "playbooks" / "inventory" / "lab-vms.yml"


@pytest.fixture
def stub() -> Iterator[KubeStub]:
    with kube_stub([node("cloud1", "v1.32.9+k3s1")], []) as s:
        yield s


def target(stub: KubeStub, tmp_path: Path, inventory: Path = LAB_VMS) -> ClusterTarget:
    return ClusterTarget(kubeconfig=stub.write_kubeconfig(tmp_path / "kubeconfig"),
                         inventory=inventory, settings=LabSettings())


def inventory(tmp_path: Path, flavor: str | None) -> Path:
    tree: dict[str, Any] = {"all": {"children": {
        "cloud": {"hosts": {"cloud1": {"ansible_host": "127.0.0.1"}}},
        "edge": {"hosts": {"shop-1": {"ansible_host": "127.0.0.1"}}}}}}
    if flavor:
        tree["all"]["vars"] = {"cluster_flavor": flavor}
    path = tmp_path / f"hosts-{flavor}.yml"
    path.write_text(yaml.safe_dump(tree))
    return path


def test_flavor_comes_from_the_inventory(stub: KubeStub, tmp_path: Path) -> None:
    assert target(stub, tmp_path, inventory(tmp_path, None)).flavor() == "k3s"
    assert target(stub, tmp_path, inventory(tmp_path, "kubeedge")).flavor() == "kubeedge"
    with pytest.raises(ClusterError, match="microk8s"):
        target(stub, tmp_path, inventory(tmp_path, "microk8s")).flavor()


def test_restart_runs_restart_edge_yml_on_that_edge_only(stub: KubeStub, tmp_path: Path) -> None:
    lab = target(stub, tmp_path)
    seen: list[dict[str, Any]] = []

    def run(**kwargs: Any) -> SimpleNamespace:
        seen.append(kwargs)
        return SimpleNamespace(status="successful", rc=0)

    lab.restart_edge("edge1", run=run)
    (kwargs,) = seen
    assert kwargs["playbook"] == "restart-edge.yml" and kwargs["limit"] == "edge1"
    assert kwargs["project_dir"] == str(REPO / "playbooks")
    assert kwargs["inventory"] == str(LAB_VMS)
    assert kwargs["envvars"]["ANSIBLE_CONFIG"] == str(REPO / "ansible.cfg")

    class Out:
        def read(self) -> str:
            return "fatal: [edge1]: FAILED! => k3s-killall.sh: not found"

    def failing(**kwargs: Any) -> SimpleNamespace:
        return SimpleNamespace(status="failed", rc=2, stdout=Out())

    with pytest.raises(ClusterError, match=r"k3s-killall\.sh: not found"):
        lab.restart_edge("edge1", run=failing)
    with pytest.raises(ClusterError, match="shop-9"):
        restart_kwargs("shop-9", LAB_VMS, tmp_path)


def test_leases_use_the_targets_kubeconfig(stub: KubeStub, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    state = tmp_path / "state"
    fake_kubectl.install(tmp_path / "bin", state)
    monkeypatch.setenv("PATH", fake_kubectl.path_with(tmp_path / "bin"))
    lab = target(stub, tmp_path)
    leases = lab.leases()
    assert leases.acquire("edge1", "alice", 60).action == "take"
    with pytest.raises(LeaseRefused, match="alice"):
        lab.leases().acquire("edge1", "bob", 60)
    for call in fake_kubectl.calls(state):
        assert call[:2] == ["--kubeconfig", str(tmp_path / "kubeconfig")]
        assert call[3:5] == ["--namespace", "edgelab"]
    assert lab.control_plane_sampler(3.0).interval_s == 3.0
