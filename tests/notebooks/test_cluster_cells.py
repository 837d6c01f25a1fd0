"""What the notebooks' cluster-target cells do, without a cluster: the real kubernetes client
(configured from a kubeconfig, as a student's would be) talks to a loopback API server whose
answers are the client's own model objects; ansible-runner builds and runs real commands."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from edgelab.labcheck import build_parser, run
from edgelab.notebook import cluster
from edgelab.notebook import walkthrough as steps
from edgelab.notebook.preflight import ClusterUnavailable, check_cluster, resolve_kubeconfig

from tests.notebooks.kube_stub import KubeStub, kube_stub, node, pod
from tests.notebooks.labcheck_support import NOTEBOOKS, REPO
from tests.support.ports import free_port

K3S = "v1.32.9+k3s1"
KUBEEDGE = "v1.31.12-kubeedge-v1.23.1"


@pytest.fixture
def stub() -> Iterator[KubeStub]:
    nodes = [
        node("cloud-1", K3S, roles=("control-plane", "master")),
        node("shop-1", KUBEEDGE, edge=True, roles=("agent", "edge")),
        node("shop-2", K3S, edge=True, ready=False),
    ]
    pods = [pod("edge-cache-a", "shop-1", "uid-a"), pod("edge-cache-b", "shop-2", "uid-b", 2)]
    with kube_stub(nodes, pods) as s:
        yield s


def test_preflight_asks_the_api_server_for_its_version(tmp_path: Path, stub: KubeStub) -> None:
    kubeconfig = stub.write_kubeconfig(tmp_path / "kubeconfig")
    assert check_cluster(resolve_kubeconfig(kubeconfig)) == K3S
    assert stub.requests[-1][0] == "/version"


def test_node_table_and_checks_of_01(tmp_path: Path, stub: KubeStub) -> None:
    client = cluster.api_client(stub.write_kubeconfig(tmp_path / "kubeconfig"))
    try:
        nodes = cluster.node_table(client)
    finally:
        client.close()
    assert stub.requests == [("/api/v1/nodes", {})]
    by_name = nodes.set_index("name")
    assert by_name.loc["shop-1", "flavor"] == "kubeedge"
    assert by_name.loc["cloud-1", "roles"] == "control-plane,master"
    assert not by_name.loc["shop-2", "ready"]
    summary = cluster.summarize_nodes(nodes)
    assert summary["not_ready"] == ["shop-2"]
    assert summary["edge_nodes"] == ["shop-1", "shop-2"]
    assert summary["control_plane"] == ["cloud-1"]
    assert cluster.versions_supported(nodes)  # 1.31 and 1.32 are both in KubeEdge's range
    assert cluster.kubernetes_minor("v1.29.3+k3s1") == 29
    too_old = nodes.assign(kubelet_version=["v1.29.3+k3s1", KUBEEDGE, K3S])
    assert not cluster.versions_supported(too_old)


def test_edge_pods_of_03_use_the_namespace_and_label_selector(
    tmp_path: Path, stub: KubeStub
) -> None:
    client = cluster.api_client(stub.write_kubeconfig(tmp_path / "kubeconfig"))
    try:
        pods = cluster.edge_pods(client)
    finally:
        client.close()
    path, query = stub.requests[-1]
    assert path == "/api/v1/namespaces/edgelab/pods"
    assert query["labelSelector"] == ["app.kubernetes.io/name=edge-cache"]
    assert list(pods["uid"]) == ["uid-a", "uid-b"]
    assert int(pods["restarts"].sum()) == 2
    assert pods.set_index("name").loc["edge-cache-a", "node"] == "shop-1"


def test_notebook_opens_the_cluster_target_and_lists_nodes(tmp_path: Path, stub: KubeStub) -> None:
    kubeconfig = stub.write_kubeconfig(tmp_path / "kubeconfig")
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(
        yaml.safe_dump(
            {
                "all": {
                    "children": {
                        "cloud": {"hosts": {"cloud-1": {"ansible_host": "127.0.0.1"}}},
                        "edge": {
                            "hosts": {
                                "shop-1": {"ansible_host": "127.0.0.1", "edge_warehouse": "SHOP-1"}
                            }
                        },
                    }
                }
            }
        )
    )
    lab = steps.open_target("cluster", kubeconfig=kubeconfig, inventory=inventory)
    assert type(lab).__name__ == "ClusterTarget"
    assert lab.edge_names() == ["shop-1"]
    nodes = steps.cluster_nodes(lab, kubeconfig)
    assert set(nodes["name"]) == {"cloud-1", "shop-1", "shop-2"}
    assert set(nodes["flavor"]) == {"k3s", "kubeedge"}
    assert cluster.summarize_nodes(nodes)["not_ready"] == ["shop-2"]
    assert [p for p, _ in stub.requests].count("/api/v1/nodes") >= 2


def test_deploy_playbook_invocation(tmp_path: Path) -> None:
    config = cluster.playbook_config(
        "deploy.yml",
        REPO / "playbooks/inventory/lab-vms.yml",
        tmp_path / "pdd",
        extravars={"app_image_tag": "dev"},
        limit="cloud",
    )
    command = list(config.command)
    assert command[0].endswith("ansible-playbook")
    assert command[-1] == str(REPO / "playbooks" / "deploy.yml")
    assert command[command.index("-i") + 1] == str(REPO / "playbooks/inventory/lab-vms.yml")
    assert "cloud" in command[command.index("--limit") + 1 :][0]
    assert '"app_image_tag":"dev"' in command[command.index("-e") + 1]


def test_run_playbook_through_ansible_runner(tmp_path: Path) -> None:
    playbook = tmp_path / "hello.yml"
    playbook.write_text(
        yaml.safe_dump(
            [
                {
                    "name": "hello",
                    "hosts": "localhost",
                    "connection": "local",
                    "gather_facts": False,
                    "tasks": [{"name": "say", "ansible.builtin.debug": {"msg": "{{ greeting }}"}}],
                }
            ]
        )
    )
    inventory = tmp_path / "hosts.yml"
    inventory.write_text("all:\n  hosts:\n    localhost:\n      ansible_connection: local\n")
    outcome = cluster.run_playbook(
        str(playbook), inventory, tmp_path / "pdd", extravars={"greeting": "hi"}
    )
    assert outcome["status"] == "successful" and outcome["rc"] == 0, outcome
    assert outcome["stats"]["ok"] == {"localhost": 1}
    assert outcome["command"][-1] == str(playbook)


def test_missing_kubeconfig_and_unreachable_cluster_give_one_clear_message(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    notebook = str(NOTEBOOKS / "01-install.ipynb")
    run_dir = tmp_path / "run"
    missing = tmp_path / "nope.yaml"
    argv = ["--no-progress", notebook, "--target", "cluster", "--run-dir", str(run_dir)]
    assert run(build_parser().parse_args([*argv, "-p", "kubeconfig", str(missing)])) == 2
    err = capsys.readouterr().err
    assert "needs a kubeconfig" in err and str(missing) in err
    assert "Traceback" not in err and "nothing was executed" in err

    dead = KubeStub(nodes=[], pods=[], url=f"http://127.0.0.1:{free_port()}")
    kubeconfig = dead.write_kubeconfig(tmp_path / "kubeconfig")
    assert run(build_parser().parse_args([*argv, "-p", "kubeconfig", str(kubeconfig)])) == 2
    err = capsys.readouterr().err
    assert "unreachable" in err and dead.url in err
    assert not run_dir.exists()
    with pytest.raises(ClusterUnavailable, match="unreachable"):
        check_cluster(kubeconfig, timeout_s=2)
