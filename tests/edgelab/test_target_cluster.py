"""ClusterTarget without a real cluster.

There is no Kubernetes cluster in the test environment, so these tests exercise the kubernetes
client with its own configuration objects: a kubeconfig file pointing at a closed local port
(the API server is "unreachable"), a missing kubeconfig, a kubeconfig naming an unknown
context, and the parsing of the Ansible inventories shipped in playbooks/inventory/.
Discovery against a live cluster (NodePort service, DaemonSet pods, node table) is not
exercised here.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from edgelab.settings import LabSettings
from edgelab.targets.cluster import ClusterError, ClusterTarget, load_inventory, parse_inventory

REPO = Path(__file__).resolve().parents[2]
INVENTORIES = sorted((REPO / "playbooks" / "inventory").glob("*.yml"))


def closed_port() -> int:
    """A loopback port nobody listens on (bound and released again)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def kubeconfig(tmp_path: Path, server: str, context: str = "lab") -> Path:
    path = tmp_path / "kubeconfig"
    path.write_text(f"""apiVersion: v1
kind: Config
clusters:
- name: lab
  cluster: {{server: "{server}", insecure-skip-tls-verify: true}}
contexts:
- name: {context}
  context: {{cluster: lab, user: student}}
current-context: {context}
users:
- name: student
  user: {{token: not-a-real-token}}
""")
    return path


INVENTORY = """
all:
  vars: {ansible_user: ubuntu}
  children:
    cloud:
      hosts:
        cloud1: {ansible_host: 10.0.0.10}
    edge:
      vars: {edge_warehouse: MAIN}
      hosts:
        shop-a: {ansible_host: 10.0.0.11, edge_warehouse: SHOP-1}
        shop-b: {ansible_host: 10.0.0.12}
"""


def test_inventory_groups_and_vars() -> None:
    inv = parse_inventory(INVENTORY)
    assert [(h.name, h.address) for h in inv.cloud] == [("cloud1", "10.0.0.10")]
    assert [(h.name, h.address) for h in inv.edges] == [("shop-a", "10.0.0.11"),
                                                        ("shop-b", "10.0.0.12")]
    assert inv.edges[0].vars["edge_warehouse"] == "SHOP-1"
    assert inv.edges[1].vars["edge_warehouse"] == "MAIN"  # group var
    assert inv.edges[1].vars["ansible_user"] == "ubuntu"  # inherited from all


@pytest.mark.parametrize("path", INVENTORIES, ids=lambda p: p.name)
def test_shipped_inventories_parse(path: Path) -> None:
    inv = load_inventory(path)
    assert inv.cloud and inv.edges
    assert all(h.address for h in inv.cloud + inv.edges)


@pytest.mark.parametrize("text, message", [
    ("all: {children: {edge: {hosts: {e1: {}}}}}", "no hosts in group 'cloud'"),
    ("all: {children: {cloud: {hosts: {c1: {}}}}}", "no hosts in group 'edge'"),
    ("- just a list", "expected a YAML inventory"),
    ("all: [unclosed", "not valid YAML"),
])
def test_bad_inventories(text: str, message: str) -> None:
    with pytest.raises(ClusterError, match=message):
        parse_inventory(text)


def test_missing_inventory(tmp_path: Path) -> None:
    with pytest.raises(ClusterError, match=r"inventory .* not found"):
        ClusterTarget(kubeconfig=tmp_path / "kc", inventory=tmp_path / "none.yml",
                      settings=LabSettings())


def test_missing_kubeconfig(tmp_path: Path) -> None:
    inv = tmp_path / "hosts.yml"
    inv.write_text(INVENTORY)
    with pytest.raises(ClusterError, match=r"kubeconfig .*/nope not found"):
        ClusterTarget(kubeconfig=tmp_path / "nope", inventory=inv, settings=LabSettings())


def test_unreachable_cluster(tmp_path: Path) -> None:
    inv = tmp_path / "hosts.yml"
    inv.write_text(INVENTORY)
    port = closed_port()
    config = kubeconfig(tmp_path, f"https://127.0.0.1:{port}")
    with pytest.raises(ClusterError, match=f"cluster at https://127.0.0.1:{port} is unreachable"):
        ClusterTarget(kubeconfig=config, inventory=inv, settings=LabSettings(),
                      request_timeout_s=3.0)


def test_unknown_context(tmp_path: Path) -> None:
    inv = tmp_path / "hosts.yml"
    inv.write_text(INVENTORY)
    config = kubeconfig(tmp_path, "https://127.0.0.1:1")
    with pytest.raises(ClusterError, match="cannot use kubeconfig"):
        ClusterTarget(kubeconfig=config, inventory=inv, settings=LabSettings(),
                      context="no-such-context")
