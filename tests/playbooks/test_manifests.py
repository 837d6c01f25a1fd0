"""Render the app role's Kubernetes manifests with every example inventory, in both flavors, and
validate them against the Kubernetes 1.32 OpenAPI schemas shipped by kubernetes-validate
(strict: unknown fields fail).

Not covered here (needs a real cluster, see docs/instructor.md's acceptance checklist): that the
API server admits them, that the pods start on K3s agents and KubeEdge edges, that the images
exist, and the readiness waits in roles/app/tasks/apply.yml.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.playbooks.ansible_run import (
    EXAMPLE_INVENTORIES,
    FIXTURE_PLAYBOOKS,
    failure_text,
    run_playbook,
)

K8S_VERSION = "1.32.0"
GROUP_VARS = (Path(__file__).parents[2] / "playbooks" / "roles" / "edgelab_common" / "defaults"
              / "main.yml")
MANIFESTS = [
    "00-namespace.yaml", "10-postgres.yaml", "20-migrate-job.yaml",
    "30-inventory-app.yaml", "40-edge-cache.yaml", "45-edge-canary.yaml",
]


def render_all(
    tmp_path: Path, inventory: Path, variants: dict[str, dict[str, Any]]
) -> dict[str, dict[str, list[dict[str, Any]]]]:
    """Render every variant (name -> settings) in one ansible-playbook run."""
    render_variants = [
        {"dir": str(tmp_path / "manifests" / name), **settings}
        for name, settings in variants.items()
    ]
    run = run_playbook(
        FIXTURE_PLAYBOOKS / "render_manifests.yml", tmp_path, inventory=inventory,
        extra_vars={"render_variants": render_variants},
    )
    assert run.returncode == 0, failure_text(run)
    rendered = {}
    for name in variants:
        out = tmp_path / "manifests" / name
        assert sorted(p.name for p in out.iterdir()) == MANIFESTS
        rendered[name] = {
            f: [doc for doc in yaml.safe_load_all((out / f).read_text()) if doc] for f in MANIFESTS
        }
    return rendered


def by_kind(docs: dict[str, list[dict[str, Any]]], kind: str, name: str) -> dict[str, Any]:
    for file_docs in docs.values():
        for doc in file_docs:
            if doc["kind"] == kind and doc["metadata"]["name"] == name:
                return doc
    raise KeyError(f"{kind}/{name}")


def inventory_hosts(inventory: Path) -> tuple[str, str, list[str]]:
    data = yaml.safe_load(inventory.read_text())["all"]["children"]
    # The app and PostgreSQL are pinned to the first cloud host (also with HA).
    cloud, cloud_vars = next(iter(data["cloud"]["hosts"].items()))
    return cloud, cloud_vars["ansible_host"], list(data["edge"]["hosts"])


@pytest.mark.parametrize("inventory", EXAMPLE_INVENTORIES, ids=lambda p: p.stem)
def test_manifests_validate_and_target_the_right_nodes(inventory: Path, tmp_path: Path) -> None:
    """Both flavors, one inventory per test; the lab-vms run also renders the optional parts."""
    # The fixture playbook passes the policy explicitly: use the documented default.
    default_policy = yaml.safe_load(GROUP_VARS.read_text())["app_edge_cache_policy"]
    variants: dict[str, dict[str, Any]] = {
        "k3s": {"flavor": "k3s", "policy": default_policy},
        "kubeedge": {"flavor": "kubeedge", "policy": default_policy},
    }
    if inventory.stem == "lab-vms":
        variants["custom"] = {
            "flavor": "kubeedge", "policy": POLICY, "node_port": 31000, "cache_port": 9090,
        }
    rendered = render_all(tmp_path, inventory, variants)
    check_flavor(inventory, rendered["k3s"])
    check_flavor(inventory, rendered["kubeedge"])
    # The edge label, selection and tolerations are the same in both flavors.
    assert rendered["k3s"]["40-edge-cache.yaml"] == rendered["kubeedge"]["40-edge-cache.yaml"]
    if "custom" in rendered:
        check_custom(rendered["custom"])


def check_flavor(inventory: Path, docs: dict[str, list[dict[str, Any]]]) -> None:
    for name, file_docs in docs.items():
        assert file_docs, name
        for doc in file_docs:
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)

    cloud, cloud_address, _edges = inventory_hosts(inventory)

    # PostgreSQL, the migration and the app are pinned to the cloud node.
    pv = by_kind(docs, "PersistentVolume", "edgelab-postgres-data")
    term = pv["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"][0]["matchExpressions"][0]
    assert term == {"key": "kubernetes.io/hostname", "operator": "In", "values": [cloud]}
    sts = by_kind(docs, "StatefulSet", "postgres")
    assert sts["spec"]["template"]["spec"]["nodeSelector"] == {"kubernetes.io/hostname": cloud}
    claim = sts["spec"]["volumeClaimTemplates"][0]
    assert claim["spec"]["storageClassName"] == pv["spec"]["storageClassName"]
    assert pv["spec"]["claimRef"] == {"namespace": "edgelab", "name": "data-postgres-0"}
    app = by_kind(docs, "Deployment", "inventory-app")
    assert app["spec"]["template"]["spec"]["nodeSelector"] == {"kubernetes.io/hostname": cloud}
    service = by_kind(docs, "Service", "inventory-app")
    assert service["spec"]["type"] == "NodePort"
    assert service["spec"]["ports"][0]["nodePort"] == 30800
    job = next(d for d in docs["20-migrate-job.yaml"] if d["kind"] == "Job")
    migrate = job["spec"]["template"]["spec"]["containers"][0]
    # app_seed_demo (default true): migrate, then the demo data with the SHOP-n warehouses
    # that the example inventories bind the edges' device tokens to.
    assert migrate["command"] == [
        "/bin/sh", "-c", "inventory-app migrate && inventory-app seed-demo"
    ]

    # The edge cache: every edge-labelled node, host network, origin = cloud address + NodePort.
    ds = by_kind(docs, "DaemonSet", "edge-cache")
    pod = ds["spec"]["template"]["spec"]
    assert pod["nodeSelector"] == {"edgelab.dev/edge": "true"}
    assert pod["hostNetwork"] is True
    tolerated = {(t["key"], t["effect"]) for t in pod["tolerations"]}
    assert ("edgelab.dev/edge", "NoSchedule") in tolerated
    assert ("node-role.kubernetes.io/edge", "NoSchedule") in tolerated
    assert ("node.kubernetes.io/unreachable", "NoExecute") in tolerated
    # Scheduled onto a node that is not Ready yet (a KubeEdge edge whose CNI is coming up).
    assert ("node.kubernetes.io/not-ready", "NoSchedule") in tolerated
    assert ("node.kubernetes.io/network-unavailable", "NoSchedule") in tolerated
    (container,) = pod["containers"]
    env = {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}
    assert env["EDGE_CACHE_ORIGIN"] == f"http://{cloud_address}:30800"
    assert env["EDGE_CACHE_HOST"] == "0.0.0.0"
    assert env["EDGE_CACHE_PORT"] == "8080"
    assert env["EDGE_CACHE_DATA_DIR"] == "/var/lib/edge-cache"
    assert env["EDGE_CACHE_ADMIN_TOKEN"] == {
        "secretKeyRef": {"name": "edgelab-secrets", "key": "edge-admin-token"}
    }
    assert env["NODE_NAME"] == {"fieldRef": {"fieldPath": "spec.nodeName"}}
    assert "/etc/edge-cache/device-tokens/${NODE_NAME}" in container["command"][2]
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": 8080}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": 8080}
    assert container["resources"]["limits"] == {"cpu": "500m", "memory": "256Mi"}
    assert container["resources"]["requests"] == {"cpu": "50m", "memory": "64Mi"}
    store = next(v for v in pod["volumes"] if v["name"] == "store")
    assert store["hostPath"] == {"path": "/var/lib/edgelab/edge-cache", "type": "DirectoryOrCreate"}
    # The image's non-root user (10001) can use the root-created hostPath and read its token.
    assert pod["securityContext"] == {"runAsUser": 10001, "runAsGroup": 10001, "fsGroup": 10001}
    (prepare,) = pod["initContainers"]
    assert prepare["command"] == ["chown", "-R", "10001:10001", "/var/lib/edge-cache"]
    assert prepare["securityContext"]["runAsUser"] == 0
    tokens = next(v for v in pod["volumes"] if v["name"] == "device-tokens")
    assert tokens["secret"]["defaultMode"] == 0o440
    # The default route policy replays queued documents side by side.
    assert env["EDGE_CACHE_POLICY_FILE"] == "/etc/edge-cache/policy/policy.yaml"
    policy = by_kind(docs, "ConfigMap", "edge-cache-policy")
    assert "replay: parallel" in policy["data"]["policy.yaml"]

    # Every container has probes and limits (Pi-sized).
    for file_docs in docs.values():
        for doc in file_docs:
            spec = doc.get("spec", {}).get("template", {}).get("spec")
            if not spec:
                continue
            for c in spec["containers"]:
                assert c["resources"]["limits"]["memory"].endswith("Mi"), c["name"]
                if doc["kind"] != "Job":
                    assert "readinessProbe" in c and "livenessProbe" in c, c["name"]


POLICY = "routes:\n  - path: /api/products\n    max_offline_stale: 3600\n"


def check_custom(docs: dict[str, list[dict[str, Any]]]) -> None:
    """Optional pieces: a per-route policy ConfigMap, another NodePort and cache port."""
    for file_docs in docs.values():
        for doc in file_docs:
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
    config_map = by_kind(docs, "ConfigMap", "edge-cache-policy")
    assert yaml.safe_load(config_map["data"]["policy.yaml"]) == yaml.safe_load(POLICY)
    pod = by_kind(docs, "DaemonSet", "edge-cache")["spec"]["template"]["spec"]
    container = pod["containers"][0]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["EDGE_CACHE_POLICY_FILE"] == "/etc/edge-cache/policy/policy.yaml"
    assert env["EDGE_CACHE_PORT"] == "9090"
    assert env["EDGE_CACHE_ORIGIN"].endswith(":31000")
    assert container["readinessProbe"]["httpGet"]["port"] == 9090
    service = by_kind(docs, "Service", "inventory-app")
    assert service["spec"]["ports"][0]["nodePort"] == 31000
