"""playbooks/acceptance.yml prints its ✔/✘ table and fails when a row is ✘.

Here there is no cluster (no K3s on this machine): the node, pod, NodePort, read-through and
`kubectl logs` rows must come out ✘ and the CNI row ✔ where the edge has its conflist. On real
hardware, after site.yml, the same playbook is the instructor's acceptance run
(docs/instructor.md, section 6). Every address is loopback, every port a free one.
"""

from __future__ import annotations

from pathlib import Path

from tests.playbooks.ansible_run import PLAYBOOKS, run_playbook
from tests.playbooks.local_inventory import root_of, write_local_inventory
from tests.support.ports import free_port


def test_acceptance_prints_the_table_and_fails_on_a_cross(tmp_path: Path) -> None:
    inventory = write_local_inventory(tmp_path, cloud=("cloud1", "127.0.0.1"),
                                      edges=(("edge1", "127.0.0.1"), ("edge2", "127.0.0.1")))
    conflist = root_of(tmp_path, "edge1") / "etc/cni/net.d/10-edgelab.conflist"
    conflist.parent.mkdir(parents=True)
    conflist.write_text("{}\n")
    run = run_playbook(PLAYBOOKS / "acceptance.yml", tmp_path, inventory=inventory, extra_vars={
        "cluster_flavor": "kubeedge", "acceptance_link": False,
        "edgelab_kubeconfig": str(tmp_path / "no-kubeconfig"),
        "app_node_port": free_port(), "app_edge_cache_port": free_port(),
    }, timeout=300)
    assert run.returncode != 0
    table = run.results("Print the table")["localhost"]["msg"]
    assert "✔  edge1  CNI config present (/etc/cni/net.d/10-edgelab.conflist)" in table
    assert "✘  edge2  CNI config present (/etc/cni/net.d/10-edgelab.conflist)" in table
    for host in ("cloud1", "edge1", "edge2"):
        assert f"✘  {host}  node Ready" in table
    for host in ("edge1", "edge2"):
        assert f"✘  {host}  edge-cache pod Running" in table
        assert f"✘  {host}  read through the edge cache (GET /api/products)" in table
        assert f"✘  {host}  kubectl logs of the edge-cache pod" in table
        link_row = "link down refuses the app, SSH stays up, link up restores it"
        assert f"skipped  {host}  {link_row}" in table
    assert any(row.startswith("✘  cloud1  app through the NodePort") for row in table)
    (verdict,) = run.results("Fail when a row is ✘").values()
    assert "node Ready" in str(verdict["msg"])
