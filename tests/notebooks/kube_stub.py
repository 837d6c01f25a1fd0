"""A loopback HTTP server that answers the few Kubernetes API paths the lab's cluster cells
use, with bodies built from the kubernetes client's own model objects. It records every
request, so tests can assert which calls the real client made."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from kubernetes import client as k8s

from tests.support.kubeconfig import write_kubeconfig
from tests.support.origins import QuietHandler, serve_in_thread


def node(
    name: str, version: str, *, ready: bool = True, edge: bool = False, roles: tuple[str, ...] = ()
) -> k8s.V1Node:
    labels = {f"node-role.kubernetes.io/{r}": "true" for r in roles}
    if edge:
        labels["edgelab.dev/edge"] = "true"
    return k8s.V1Node(
        metadata=k8s.V1ObjectMeta(name=name, labels=labels),
        spec=k8s.V1NodeSpec(unschedulable=False),
        status=k8s.V1NodeStatus(
            conditions=[k8s.V1NodeCondition(type="Ready", status="True" if ready else "False")],
            addresses=[k8s.V1NodeAddress(type="InternalIP", address="127.0.0.1")],
            node_info=k8s.V1NodeSystemInfo(
                kubelet_version=version,
                architecture="arm64",
                os_image="Debian GNU/Linux 12",
                boot_id="b",
                container_runtime_version="containerd://1.7",
                kernel_version="6.1",
                kube_proxy_version=version,
                machine_id="m",
                operating_system="linux",
                system_uuid="u",
            ),
        ),
    )


def pod(name: str, node_name: str, uid: str, restarts: int = 0) -> k8s.V1Pod:
    return k8s.V1Pod(
        metadata=k8s.V1ObjectMeta(
            name=name, uid=uid, namespace="edgelab", labels={"app.kubernetes.io/name": "edge-cache"}
        ),
        spec=k8s.V1PodSpec(node_name=node_name, containers=[k8s.V1Container(name="edge-cache")]),
        status=k8s.V1PodStatus(
            phase="Running",
            container_statuses=[
                k8s.V1ContainerStatus(
                    name="edge-cache",
                    ready=True,
                    restart_count=restarts,
                    image="edge-cache:dev",
                    image_id="sha256:1",
                )
            ],
        ),
    )


@dataclass
class KubeStub:
    nodes: list[k8s.V1Node]
    pods: list[k8s.V1Pod]
    version: str = "v1.32.9+k3s1"
    requests: list[tuple[str, dict[str, list[str]]]] = field(default_factory=list)
    url: str = ""

    def body(self, path: str) -> Any:
        api = k8s.ApiClient()
        if path == "/version":
            return {
                "major": "1",
                "minor": "32",
                "gitVersion": self.version,
                "gitCommit": "x",
                "gitTreeState": "clean",
                "buildDate": "2025-01-01T00:00:00Z",
                "goVersion": "go1.23",
                "compiler": "gc",
                "platform": "linux/arm64",
            }
        if path == "/api/v1/nodes":
            return api.sanitize_for_serialization(
                k8s.V1NodeList(items=self.nodes, metadata=k8s.V1ListMeta())
            )
        if path == "/api/v1/namespaces/edgelab/pods":
            return api.sanitize_for_serialization(
                k8s.V1PodList(items=self.pods, metadata=k8s.V1ListMeta())
            )
        return None

    def write_kubeconfig(self, path: Path) -> Path:
        return write_kubeconfig(path, self.url)


@contextmanager
def kube_stub(nodes: list[k8s.V1Node], pods: list[k8s.V1Pod]) -> Iterator[KubeStub]:
    stub = KubeStub(nodes=nodes, pods=pods)

    class Handler(QuietHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            path = parts.path.rstrip("/") or "/"
            stub.requests.append((path, parse_qs(parts.query)))
            body = stub.body(path)
            data = json.dumps(body if body is not None else {"kind": "Status", "code": 404})
            self.reply(200 if body is not None else 404, data.encode())

    with serve_in_thread(Handler) as url:
        stub.url = url
        yield stub
