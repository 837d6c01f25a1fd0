"""ClusterTarget without a real cluster.

There is no Kubernetes cluster in the test environment, so these tests exercise the kubernetes
client with its own configuration objects: a kubeconfig file pointing at a closed local port
(the API server is "unreachable"), a missing kubeconfig, a kubeconfig naming an unknown
context, and the parsing of the Ansible inventories shipped in playbooks/inventory/.
Discovery (NodePort service, edge-cache pods, node table, token Secret) is exercised against a
loopback HTTP server that answers those few API paths with bodies built from the kubernetes
client's own model objects; a live K3s/KubeEdge cluster is not used.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from edgelab.settings import LabSettings
from edgelab.targets.cluster import ClusterError, ClusterTarget, load_inventory, parse_inventory
from kubernetes import client as k8s

from tests.support.kubeconfig import write_kubeconfig
from tests.support.origins import QuietHandler, serve_in_thread
from tests.support.ports import free_port

REPO = Path(__file__).resolve().parents[2]
INVENTORIES = sorted((REPO / "playbooks" / "inventory").glob("*.yml"))


def kubeconfig(tmp_path: Path, server: str, context: str = "lab") -> Path:
    return write_kubeconfig(tmp_path / "kubeconfig", server, context)


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
    port = free_port()  # nobody listens there
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


def _node(name: str, roles: tuple[str, ...], edge: bool, ready: bool = True) -> k8s.V1Node:
    labels = {f"node-role.kubernetes.io/{r}": "true" for r in roles}
    if edge:
        labels["edgelab.dev/edge"] = "true"
    return k8s.V1Node(
        metadata=k8s.V1ObjectMeta(name=name, labels=labels),
        status=k8s.V1NodeStatus(
            conditions=[k8s.V1NodeCondition(type="Ready", status="True" if ready else "False")],
            addresses=[k8s.V1NodeAddress(type="InternalIP", address="10.0.0.9")],
            node_info=k8s.V1NodeSystemInfo(
                kubelet_version="v1.32.9+k3s1", architecture="arm64", boot_id="b",
                container_runtime_version="containerd://1.7", kernel_version="6.1",
                kube_proxy_version="v1.32.9", machine_id="m", operating_system="linux",
                os_image="Debian 12", system_uuid="u"),
        ),
    )


@pytest.fixture
def api_server() -> Iterator[str]:
    """A loopback stand-in for the API server (only the paths ClusterTarget reads)."""
    api = k8s.ApiClient()
    bodies: dict[str, Any] = {
        "/api/v1/nodes": k8s.V1NodeList(items=[
            _node("cloud1", ("control-plane", "master"), edge=False),
            _node("shop-a", (), edge=True),
            _node("shop-b", ("edge",), edge=True, ready=False),
        ]),
        "/api/v1/namespaces/edgelab/services/inventory-app": k8s.V1Service(
            metadata=k8s.V1ObjectMeta(name="inventory-app", namespace="edgelab"),
            spec=k8s.V1ServiceSpec(type="NodePort", ports=[
                k8s.V1ServicePort(name="http", port=8000, node_port=30800)]),
        ),
        "/api/v1/namespaces/edgelab/pods": k8s.V1PodList(items=[
            k8s.V1Pod(metadata=k8s.V1ObjectMeta(name="edge-cache-x", namespace="edgelab"),
                      spec=k8s.V1PodSpec(node_name="shop-a",
                                         containers=[k8s.V1Container(name="edge-cache")])),
        ]),
        "/api/v1/namespaces/edgelab/secrets/edgelab-tokens": k8s.V1Secret(
            metadata=k8s.V1ObjectMeta(name="edgelab-tokens", namespace="edgelab"),
            data={k: base64.b64encode(v.encode()).decode()
                  for k, v in {"admin": "adm", "clerk-shop-a": "clk-a"}.items()},
        ),
    }

    class Handler(QuietHandler):
        def do_GET(self) -> None:
            body = bodies.get(self.path.split("?", 1)[0])
            data = json.dumps(api.sanitize_for_serialization(body) if body is not None
                              else {"kind": "Status", "code": 404}).encode()
            self.reply(200 if body is not None else 404, data)

    with serve_in_thread(Handler) as url:
        yield url


def test_discovery_through_the_api(api_server: str, tmp_path: Path) -> None:
    inv = tmp_path / "hosts.yml"
    inv.write_text(INVENTORY.replace("10.0.0.", "127.0.0."))
    target = ClusterTarget(kubeconfig=kubeconfig(tmp_path, api_server), inventory=inv,
                           settings=LabSettings(), request_timeout_s=5.0, ready_timeout_s=1.0)
    nodes = target.nodes().set_index("name")
    assert list(nodes.index) == ["cloud1", "shop-a", "shop-b"]
    assert nodes.loc["cloud1", "roles"] == "control-plane,master"
    assert bool(nodes.loc["shop-a", "edge"]) and not bool(nodes.loc["cloud1", "edge"])
    assert not bool(nodes.loc["shop-b", "ready"])
    assert nodes.loc["shop-a", "kubelet_version"] == "v1.32.9+k3s1"

    endpoints = target.endpoints()
    assert endpoints.cloud == "http://127.0.0.10:30800"
    assert endpoints.edges == {"shop-a": "http://127.0.0.11:8080",
                               "shop-b": "http://127.0.0.12:8080"}
    assert endpoints.direct == {}
    assert target.edge_names() == ["shop-a", "shop-b"]
    assert target.warehouse_of("shop-a") == "SHOP-1"
    tokens = target.tokens()
    assert tokens.admin == "adm"
    assert tokens.clerks == {"shop-a": "clk-a", "shop-b": "adm"}

    rows = {r.name: r for r in target.health()}
    assert set(rows) == {"cloud", "shop-a", "shop-b"}
    assert not any(r.healthy for r in rows.values())  # nothing listens on those addresses
    assert rows["shop-b"].detail == "ConnectError" or "no edge-cache pod" in rows["shop-b"].detail
    with pytest.raises(ClusterError, match="not ready after 1 s"):
        target.up()
