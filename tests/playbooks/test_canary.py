"""The canary Deployments beside the edge-cache DaemonSet: rendered by the app role for every
example inventory, valid against the Kubernetes 1.32 schemas, one per edge node, pinned to it,
and with *no* toleration of their own for unreachable/not-ready (so the API server's
DefaultTolerationSeconds admission gives them the default 300 s; that it does, and that the
control plane then evicts them, needs a real cluster: docs/instructor.md, section 7)."""

from __future__ import annotations

from pathlib import Path

import kubernetes_validate
import pytest

from tests.playbooks.ansible_run import EXAMPLE_INVENTORIES
from tests.playbooks.test_manifests import K8S_VERSION, inventory_hosts, render_all


@pytest.mark.parametrize("inventory", EXAMPLE_INVENTORIES[:2], ids=lambda p: p.stem)
def test_one_canary_per_edge_with_default_tolerations(inventory: Path, tmp_path: Path) -> None:
    rendered = render_all(tmp_path, inventory, {"k3s": {"flavor": "k3s"},
                                                "kubeedge": {"flavor": "kubeedge"}})
    assert rendered["k3s"]["45-edge-canary.yaml"] == rendered["kubeedge"]["45-edge-canary.yaml"]
    docs = rendered["k3s"]["45-edge-canary.yaml"]
    _cloud, _address, edges = inventory_hosts(inventory)
    assert sorted(d["metadata"]["name"] for d in docs) == sorted(f"edge-canary-{e}" for e in edges)
    daemonset = next(d for d in rendered["k3s"]["40-edge-cache.yaml"] if d["kind"] == "DaemonSet")
    cache_image = daemonset["spec"]["template"]["spec"]["containers"][0]["image"]
    for doc in docs:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
        assert doc["kind"] == "Deployment" and doc["spec"]["replicas"] == 1
        node = doc["metadata"]["labels"]["edgelab.dev/canary-node"]
        pod = doc["spec"]["template"]["spec"]
        assert pod["nodeSelector"] == {"kubernetes.io/hostname": node}
        assert doc["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/name"] == (
            "edge-canary")
        # picked up by the sampler's selector, like the edge-cache pods
        assert doc["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/part-of"] == (
            "edgelab")
        effects = {(t["key"], t["effect"]) for t in pod["tolerations"]}
        assert effects == {("edgelab.dev/edge", "NoSchedule"),
                           ("node-role.kubernetes.io/edge", "NoSchedule")}
        assert not any(t["effect"] == "NoExecute" for t in pod["tolerations"])
        assert "hostNetwork" not in pod
        (container,) = pod["containers"]
        assert container["image"] == cache_image  # already on every node (images.yml)
        assert container["command"] == ["sleep", "infinity"]
