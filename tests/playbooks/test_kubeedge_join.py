"""The KubeEdge edge role against a recording keadm stand-in (tests/playbooks/stubs.py): a failed
join, the retry, `reset.yml` then a re-join, and leftovers from a half-done join.

Stands in for: KubeEdge v1.23.1's `keadm join/reset` and the cloud's Node registry (no KubeEdge
binaries, no cluster, no systemd here). The stand-in refuses what the real keadm refuses (a
non-empty /etc/kubeedge, a node CloudCore already knows), so the role's recovery is exercised.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.playbooks.ansible_run import (
    COMMON_DEFAULTS,
    FIXTURE_PLAYBOOKS,
    PLAYBOOKS,
    PlaybookRun,
    failure_text,
    run_playbook,
)
from tests.playbooks.local_inventory import root_of, write_local_inventory
from tests.playbooks.stubs import calls, write_edge_keadm, write_stubs

KUBEEDGE_VERSION = yaml.safe_load(COMMON_DEFAULTS.read_text())["kubeedge_version"]


def test_failed_join_is_undone_and_retried_and_reset_allows_a_rejoin(tmp_path: Path) -> None:
    stub_dir = tmp_path / "stubs"
    stubs = write_stubs(stub_dir, roots=tmp_path / "roots", kubeedge_version=KUBEEDGE_VERSION)
    edge_keadm = write_edge_keadm(stub_dir, "edge1", root_of(tmp_path, "edge1"), stubs["keadm"])
    # reset.yml deletes the keadm binary it used: it gets a copy of its own.
    reset_keadm = write_edge_keadm(stub_dir, "edge1", root_of(tmp_path, "edge1"), stubs["keadm"],
                                   "-reset")
    inventory = write_local_inventory(
        tmp_path, host_vars={"edge1": {"kubeedge_edge_keadm_bin": str(edge_keadm),
                                       "reset_keadm_bin": str(reset_keadm)}},
    )
    kubectl = [str(stubs["kubectl"])]
    extra = {
        "cluster_flavor": "kubeedge",
        "kubeedge_cloud_keadm_bin": str(stubs["keadm"]),
        "kubeedge_cloud_kubectl": kubectl,
        "kubeedge_edge_kubectl": kubectl,
        "reset_kubectl": kubectl,
        "kubeedge_edge_manage_service": False,
        "edgelab_kubeconfig": str(tmp_path / "kubeconfig"),
    }
    kubeedge_dir = root_of(tmp_path, "edge1") / "etc/kubeedge"
    node = stub_dir / "nodes" / "edge1"

    def converge() -> PlaybookRun:
        return run_playbook(FIXTURE_PLAYBOOKS / "kubeedge_tokens.yml", tmp_path,
                            inventory=inventory, extra_vars=extra)

    def verbs() -> list[str]:
        return [" ".join(c[:2]) if c[0] == "reset" else c[0] for c in calls(stub_dir, "keadm")
                if c[0] != "version"]

    # 1. The join fails half-way: the role resets the edge, so nothing blocks the next run.
    (stub_dir / "join-failures").write_text("1\n")
    failed = converge()
    assert failed.returncode != 0
    (explained,) = failed.results("Explain a failed join without printing the token").values()
    assert "The half-done join was reset" in explained["msg"]
    assert verbs() == ["init", "gettoken", "join", "reset edge"]
    assert not kubeedge_dir.exists() or not any(kubeedge_dir.iterdir())
    assert not node.exists()

    # 2. Re-running retries the join, which now succeeds; edgeStream is switched on.
    retried = converge()
    assert retried.returncode == 0, failure_text(retried)
    joins = [c for c in calls(stub_dir, "keadm") if c[0] == "join"]
    assert len(joins) == 2
    assert ("--set=modules.edgeStream.enable=true,modules.edgeStream.server=192.0.2.1:10004"
            in joins[-1])
    assert node.exists() and (kubeedge_dir / "config/edgecore.yaml").exists()
    # CloudCore is pinned to the first cloud server (whose address the edges get).
    (init,) = [c for c in calls(stub_dir, "keadm") if c[0] == "init"]
    assert "--set=cloudCore.nodeSelector.kubernetes\\.io/hostname=cloud1" in init

    # 3. The documented recovery: reset the edge, then converge again. reset deletes the Node
    #    (otherwise the join would be refused as "node already exists").
    reset = run_playbook(PLAYBOOKS / "reset.yml", tmp_path, inventory=inventory,
                         extra_vars=extra,
                         args=["-l", "edge1"])
    assert reset.returncode == 0, failure_text(reset)
    assert not node.exists()
    (deleted,) = [c for c in calls(stub_dir, "kubectl") if "delete" in c]
    assert deleted[-4:-2] == ["node", "edge1"]
    rejoined = converge()
    assert rejoined.returncode == 0, failure_text(rejoined)
    assert len([c for c in calls(stub_dir, "keadm") if c[0] == "join"]) == 3

    # 4. Leftovers the role did not make (a hand-made reset that kept /etc/kubeedge and the
    #    Node): the role empties the directory and deletes the Node before joining.
    (kubeedge_dir / "config/edgecore.yaml").unlink()
    (kubeedge_dir / "ca").mkdir(exist_ok=True)
    (kubeedge_dir / "ca/rootCA.crt").write_text("old\n")
    leftovers = converge()
    assert leftovers.returncode == 0, failure_text(leftovers)
    assert verbs()[-2:] == ["reset edge", "join"]
    assert node.exists() and (kubeedge_dir / "config/edgecore.yaml").exists()

    # 5. A joined edge is never reset because the cloud's API did not answer.
    before = len(calls(stub_dir, "keadm"))
    down = run_playbook(FIXTURE_PLAYBOOKS / "kubeedge_tokens.yml", tmp_path, inventory=inventory,
                        extra_vars={**extra, "kubeedge_edge_kubectl": ["/bin/false"]},
                        args=["-l", "edge1"])
    assert down.returncode != 0
    (stopped,) = down.results(
        "Stop when the cloud cannot say whether it knows a configured edge").values()
    assert "Nothing was changed on this edge" in stopped["msg"]
    assert [c[0] for c in calls(stub_dir, "keadm")[before:]] == ["version"]
    assert (kubeedge_dir / "config/edgecore.yaml").exists()
