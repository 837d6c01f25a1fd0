"""What the notebooks ask a real cluster: nodes, edge pods, and the playbooks they may run.

Everything goes through the kubernetes Python client (an ``ApiClient`` built from the
kubeconfig) and ansible-runner, so the same calls can be checked without a cluster by pointing
the client's ``Configuration`` at a test server and by inspecting ansible-runner's own
``RunnerConfig``.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

EDGE_LABEL = "edgelab.dev/edge"
ROLE_PREFIX = "node-role.kubernetes.io/"
APP_NAMESPACE = "edgelab"
EDGE_CACHE_SELECTOR = "app.kubernetes.io/name=edge-cache"
REPO = Path(__file__).resolve().parents[4]
PLAYBOOKS = REPO / "playbooks"


def api_client(kubeconfig: str | Path) -> Any:
    """A kubernetes ``ApiClient`` for ``kubeconfig``."""
    from kubernetes import config

    return config.new_client_from_config(config_file=str(kubeconfig))


def _roles(labels: Mapping[str, str]) -> str:
    roles = sorted(k[len(ROLE_PREFIX) :] for k in labels if k.startswith(ROLE_PREFIX))
    return ",".join(r for r in roles if r) or "<none>"


def node_table(client: Any, timeout_s: float = 10.0) -> pd.DataFrame:
    """One row per node: name, ready, roles, kubelet version, flavor, edge label, OS, arch."""
    from kubernetes.client import CoreV1Api

    nodes: Any = CoreV1Api(client).list_node(_request_timeout=timeout_s)
    rows = []
    for node in nodes.items:
        labels = dict(node.metadata.labels or {})
        conditions = {c.type: c.status for c in (node.status.conditions or [])}
        info = node.status.node_info
        version = str(getattr(info, "kubelet_version", "") or "")
        rows.append(
            {
                "name": node.metadata.name,
                "ready": conditions.get("Ready") == "True",
                "roles": _roles(labels),
                "kubelet_version": version,
                "flavor": "kubeedge" if "kubeedge" in version else "k3s",
                "edge": labels.get(EDGE_LABEL) == "true",
                "os_image": str(getattr(info, "os_image", "") or ""),
                "arch": str(getattr(info, "architecture", "") or ""),
                "unschedulable": bool(node.spec.unschedulable) if node.spec else False,
            }
        )
    return pd.DataFrame(
        rows,
        columns=[
            "name",
            "ready",
            "roles",
            "kubelet_version",
            "flavor",
            "edge",
            "os_image",
            "arch",
            "unschedulable",
        ],
    )


def edge_pods(
    client: Any,
    namespace: str = APP_NAMESPACE,
    selector: str = EDGE_CACHE_SELECTOR,
    timeout_s: float = 10.0,
) -> pd.DataFrame:
    """The edge-cache pods: name, node, uid, phase, ready, restarts."""
    from kubernetes.client import CoreV1Api

    pods: Any = CoreV1Api(client).list_namespaced_pod(
        namespace, label_selector=selector, _request_timeout=timeout_s
    )
    rows = []
    for pod in pods.items:
        statuses = (pod.status.container_statuses if pod.status else None) or []
        rows.append(
            {
                "name": pod.metadata.name,
                "node": pod.spec.node_name if pod.spec else None,
                "uid": pod.metadata.uid,
                "phase": pod.status.phase if pod.status else None,
                "ready": bool(statuses) and all(s.ready for s in statuses),
                "restarts": sum(int(s.restart_count or 0) for s in statuses),
            }
        )
    return pd.DataFrame(rows, columns=["name", "node", "uid", "phase", "ready", "restarts"])


def summarize_nodes(nodes: pd.DataFrame) -> dict[str, Any]:
    """Numbers the 01 checks look at."""
    edge = nodes[nodes["edge"]] if len(nodes) else nodes
    return {
        "nodes": len(nodes),
        "ready": int(nodes["ready"].sum()) if len(nodes) else 0,
        "not_ready": sorted(nodes.loc[~nodes["ready"], "name"]) if len(nodes) else [],
        "edge_nodes": sorted(edge["name"]) if len(edge) else [],
        "control_plane": sorted(
            nodes.loc[nodes["roles"].str.contains("control-plane|master"), "name"]
        )
        if len(nodes)
        else [],
        "versions": sorted(set(nodes["kubelet_version"])) if len(nodes) else [],
        "flavors": sorted(set(nodes["flavor"])) if len(nodes) else [],
    }


SUPPORTED_MINORS = (30, 31, 32)  # KubeEdge v1.23 supports Kubernetes 1.30-1.32


def kubernetes_minor(version: str) -> int | None:
    """``v1.32.9+k3s1`` → 32; ``v1.31.12-kubeedge-v1.23.1`` → 31; None when unparsable."""
    match = re.match(r"v?1\.(\d+)", version.strip())
    return int(match.group(1)) if match else None


def versions_supported(nodes: pd.DataFrame) -> bool:
    """Every node's Kubernetes minor version is one KubeEdge v1.23 supports (1.30-1.32)."""
    minors = [kubernetes_minor(v) for v in nodes.get("kubelet_version", [])]
    return bool(minors) and all(m in SUPPORTED_MINORS for m in minors)


def playbook_config(
    playbook: str,
    inventory: str | Path,
    private_data_dir: str | Path,
    extravars: Mapping[str, Any] | None = None,
    limit: str | None = None,
) -> Any:
    """ansible-runner's ``RunnerConfig`` for one of the lab's playbooks (prepared, not run)."""
    from ansible_runner.config.runner import RunnerConfig

    book = Path(playbook)
    if not book.is_absolute():
        book = PLAYBOOKS / book
    # the kernel may run without the virtualenv's bin/ on PATH; ansible-playbook lives there
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    config = RunnerConfig(
        private_data_dir=str(Path(private_data_dir).resolve()),
        envvars={"PATH": path},
        project_dir=str(PLAYBOOKS),
        playbook=str(book),
        inventory=str(Path(inventory).resolve()),
        extravars=dict(extravars or {}),
        limit=limit,
        quiet=True,
    )
    config.prepare()
    return config


def run_playbook(
    playbook: str,
    inventory: str | Path,
    private_data_dir: str | Path,
    extravars: Mapping[str, Any] | None = None,
    limit: str | None = None,
) -> dict[str, Any]:
    """Run a playbook through ansible-runner; returns status, rc and per-host stats."""
    from ansible_runner import Runner

    config = playbook_config(playbook, inventory, private_data_dir, extravars, limit)
    runner = Runner(config=config)
    runner.run()
    return {
        "status": runner.status,
        "rc": runner.rc,
        "stats": runner.stats,
        "command": list(config.command),
    }
