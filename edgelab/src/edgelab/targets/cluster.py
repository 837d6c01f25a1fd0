"""A K3s/KubeEdge lab installed by `playbooks/`: found through the kubeconfig and the inventory.

- cloud app: the NodePort Service `inventory-app` in namespace `edgelab`, reached on the cloud
  node's address (inventory group `cloud`, `ansible_host`);
- edge caches: the `edge-cache` DaemonSet pods (hostNetwork) on the edge nodes (group `edge`),
  reached on each edge node's address and port 8080; the edge's name is its inventory host
  name and its warehouse the host variable `edge_warehouse`;
- links: `AnsibleLink` (the `link` playbook on the edge node);
- tokens: the Secret `edgelab-tokens` in the namespace (keys `admin`, `clerk-<edge>` and
  optionally `edge-admin`) or the variables `EDGELAB_ADMIN_TOKEN`, `EDGELAB_CLERK_TOKEN`;
- flavor: the inventory variable `cluster_flavor` (k3s | kubeedge, default k3s);
- class mode: `leases()` (an edge is leased to one student before its link is cut,
  `targets.lease`), `control_plane_sampler()` (nodes and pods every few seconds,
  `experiments.control_plane`), both through `kubectl` with this kubeconfig;
- `restart_edge(edge)`: `playbooks/restart-edge.yml` on that edge (node agent stopped, its
  containers killed, agent started again), through ansible-runner like the links.

Every cluster call has a deadline; a missing kubeconfig or an unreachable API server is one
`ClusterError` with a message that says what to check.
"""

from __future__ import annotations

import base64
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx
import yaml

from edgelab.settings import LabSettings
from edgelab.targets.base import (
    Endpoints,
    PartHealth,
    TargetError,
    Tokens,
    UnknownEdgeError,
)

if TYPE_CHECKING:
    import pandas as pd

    from edgelab.experiments.control_plane import ControlPlaneSampler
    from edgelab.link import Link
    from edgelab.targets.kubectl import Kubectl
    from edgelab.targets.lease import EdgeLeases

EDGE_LABEL = "edgelab.dev/edge"


class ClusterError(TargetError):
    """The cluster cannot be used (no kubeconfig, API server unreachable, parts missing)."""


@dataclass(frozen=True, slots=True)
class InventoryHost:
    name: str
    address: str
    group: str
    vars: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Inventory:
    cloud: list[InventoryHost]
    edges: list[InventoryHost]
    path: Path | None = None


def _hosts(
    group: Mapping[str, Any], name: str, inherited: Mapping[str, Any]
) -> list[InventoryHost]:
    hosts: list[InventoryHost] = []
    gvars = {**inherited, **dict(group.get("vars") or {})}
    for host, hvars in dict(group.get("hosts") or {}).items():
        merged = {**gvars, **dict(hvars or {})}
        hosts.append(InventoryHost(name=str(host), address=str(merged.get("ansible_host", host)),
                                   group=name, vars=merged))
    return hosts


def _find_group(tree: Mapping[str, Any], name: str,
                inherited: Mapping[str, Any]) -> list[InventoryHost] | None:
    for key, value in tree.items():
        if not isinstance(value, Mapping):
            continue
        here = {**inherited, **dict(value.get("vars") or {})}
        if key == name:
            hosts = _hosts(value, name, inherited)
            for child_name, child in dict(value.get("children") or {}).items():
                if isinstance(child, Mapping):
                    hosts += _hosts(child, str(child_name), here)
            return hosts
        children = value.get("children")
        if isinstance(children, Mapping):
            found = _find_group(children, name, here)
            if found is not None:
                return found
    return None


def parse_inventory(text: str, path: Path | None = None) -> Inventory:
    """The `cloud` and `edge` groups of a YAML Ansible inventory (at any depth under `all`)."""
    where = str(path) if path else "inventory"
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ClusterError(f"{where} is not valid YAML: {exc}") from exc
    if not isinstance(data, Mapping):
        raise ClusterError(f"{where}: expected a YAML inventory with groups 'cloud' and 'edge'")
    cloud = _find_group(data, "cloud", {})
    edges = _find_group(data, "edge", {})
    if not cloud:
        raise ClusterError(f"{where} has no hosts in group 'cloud'")
    if not edges:
        raise ClusterError(f"{where} has no hosts in group 'edge'")
    return Inventory(cloud=cloud, edges=edges, path=path)


def load_inventory(path: Path) -> Inventory:
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        raise ClusterError(
            f"Ansible inventory {path} not found (give one with --inventory or "
            "EDGELAB_INVENTORY, e.g. playbooks/inventory/lab-vms.yml)"
        ) from None
    except OSError as exc:
        raise ClusterError(f"cannot read the Ansible inventory {path}: {exc}") from exc
    return parse_inventory(text, Path(path))


def _api_error(exc: BaseException, host: str) -> ClusterError:
    status = getattr(exc, "status", None)
    if status in (401, 403):
        return ClusterError(f"the cluster at {host} refused our credentials (HTTP {status}); "
                            "check the user in the kubeconfig")
    if status:
        return ClusterError(f"the cluster at {host} answered HTTP {status}: "
                            f"{getattr(exc, 'reason', '')}")
    reason = str(getattr(exc, "reason", "") or exc).splitlines()[0][:200]
    return ClusterError(f"the cluster at {host} is unreachable ({reason}); is the API server "
                        "running and the kubeconfig's server address right?")


RESTART_PLAYBOOK = "restart-edge.yml"
FLAVORS = ("k3s", "kubeedge")


def restart_kwargs(edge: str, inventory: Path, private_data_dir: Path,
                   playbook_dir: Path | None = None) -> dict[str, Any]:
    """`ansible_runner.run` arguments for `restart-edge.yml` on one edge (the same inventory,
    project directory, ansible.cfg and edge check as the `link` playbook)."""
    from edgelab.link.cluster import find_playbook_dir, runner_kwargs

    found = playbook_dir or find_playbook_dir(inventory)
    if found is None or not (found / RESTART_PLAYBOOK).is_file():
        raise ClusterError(f"no {RESTART_PLAYBOOK} found above the inventory {inventory}")
    try:
        kwargs = runner_kwargs(edge, inventory, found, {}, private_data_dir)
    except (OSError, ValueError) as exc:
        raise ClusterError(f"cannot restart {edge}: {exc}") from exc
    kwargs["playbook"] = RESTART_PLAYBOOK
    return kwargs


class ClusterTarget:
    """The `Target` interface over a cluster (module docstring)."""

    def __init__(
        self,
        kubeconfig: Path | str | None = None,
        inventory: Path | str | None = None,
        *,
        settings: LabSettings | None = None,
        namespace: str = "edgelab",
        app_service: str = "inventory-app",
        edge_daemonset: str = "edge-cache",
        edge_port: int = 8080,
        context: str | None = None,
        request_timeout_s: float = 5.0,
        ready_timeout_s: float | None = None,
    ) -> None:
        s = settings or LabSettings.from_env()
        self.kubeconfig = Path(kubeconfig).expanduser() if kubeconfig else s.kubeconfig
        self.inventory_path = Path(inventory) if inventory else s.inventory
        self.namespace = namespace
        self.app_service = app_service
        self.edge_daemonset = edge_daemonset
        self.edge_port = edge_port
        self.request_timeout_s = request_timeout_s
        self.ready_timeout_s = ready_timeout_s or s.ready_timeout_s
        self.inventory = load_inventory(self.inventory_path)
        self.host, self.core = self._connect(context)

    # ------------------------------------------------------------------ cluster access

    def _connect(self, context: str | None) -> tuple[str, Any]:
        if not self.kubeconfig.is_file():
            raise ClusterError(
                f"kubeconfig {self.kubeconfig} not found (give one with --kubeconfig or "
                "EDGELAB_KUBECONFIG; the cluster playbook fetches it to the control host)"
            )
        from kubernetes import client, config

        cfg = client.Configuration()
        try:
            config.load_kube_config(config_file=str(self.kubeconfig), context=context,
                                    client_configuration=cfg)
        except Exception as exc:  # ConfigException, YAML errors, missing context
            raise ClusterError(f"cannot use kubeconfig {self.kubeconfig}: {exc}") from exc
        cfg.retries = 1
        core = client.CoreV1Api(client.ApiClient(cfg))
        host = str(cfg.host)
        try:
            core.list_node(limit=1, _request_timeout=self.request_timeout_s)
        except Exception as exc:  # urllib3 errors, ApiException
            raise _api_error(exc, host) from exc
        return host, core

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        try:
            return getattr(self.core, method)(*args, _request_timeout=self.request_timeout_s,
                                              **kwargs)
        except Exception as exc:
            raise _api_error(exc, self.host) from exc

    # ------------------------------------------------------------------ discovery

    def nodes(self) -> pd.DataFrame:
        """name, roles, ready, kubelet version, edge label, internal IP of every node."""
        import pandas as pd

        rows = []
        for node in self._call("list_node").items:
            labels = node.metadata.labels or {}
            roles = sorted(k.split("/", 1)[1] for k in labels
                           if k.startswith("node-role.kubernetes.io/") and "/" in k)
            ready = any(c.type == "Ready" and c.status == "True"
                        for c in (node.status.conditions or []))
            ip = next((a.address for a in (node.status.addresses or [])
                       if a.type == "InternalIP"), None)
            rows.append({
                "name": node.metadata.name,
                "roles": ",".join(roles) or "<none>",
                "ready": ready,
                "kubelet_version": node.status.node_info.kubelet_version,
                "edge": labels.get(EDGE_LABEL) == "true"
                or "node-role.kubernetes.io/edge" in labels,
                "internal_ip": ip,
            })
        return pd.DataFrame(rows, columns=["name", "roles", "ready", "kubelet_version", "edge",
                                           "internal_ip"])

    def _node_port(self) -> int:
        svc = self._call("read_namespaced_service", self.app_service, self.namespace)
        for port in svc.spec.ports or []:
            if port.node_port:
                return int(port.node_port)
        raise ClusterError(f"service {self.namespace}/{self.app_service} has no NodePort")

    def edge_names(self) -> list[str]:
        return [h.name for h in self.inventory.edges]

    def _edge(self, name: str) -> InventoryHost:
        for h in self.inventory.edges:
            if h.name == name:
                return h
        raise UnknownEdgeError(f"unknown edge {name!r} (the inventory has: "
                               f"{', '.join(self.edge_names())})")

    def warehouse_of(self, edge: str) -> str:
        host = self._edge(edge)
        return str(host.vars.get("edge_warehouse") or host.vars.get("app_default_warehouse")
                   or "SHOP-1")

    def endpoints(self) -> Endpoints:
        cloud = self.inventory.cloud[0]
        return Endpoints(
            cloud=f"http://{cloud.address}:{self._node_port()}",
            edges={h.name: f"http://{h.address}:{self.edge_port}" for h in self.inventory.edges},
        )

    def links(self) -> dict[str, Link]:
        from edgelab.link.cluster import AnsibleLink

        try:
            return {h.name: AnsibleLink(h.name, self.inventory_path)
                    for h in self.inventory.edges}
        except (OSError, ValueError) as exc:
            raise ClusterError(f"cannot control the edges' links: {exc}") from exc

    def link(self, edge: str) -> Link:
        self._edge(edge)
        return self.links()[edge]

    def flavor(self) -> str:
        """k3s or kubeedge: the inventory's `cluster_flavor` (the playbooks' default: k3s)."""
        hosts = [*self.inventory.cloud, *self.inventory.edges]
        value = next((str(h.vars["cluster_flavor"]) for h in hosts
                      if "cluster_flavor" in h.vars), "k3s")
        if value not in FLAVORS:
            raise ClusterError(f"cluster_flavor {value!r} in {self.inventory_path}: expected "
                               "k3s or kubeedge")
        return value

    def kubectl(self, timeout_s: float | None = None) -> Kubectl:
        from edgelab.targets.kubectl import Kubectl

        return Kubectl(kubeconfig=self.kubeconfig, namespace=self.namespace,
                       timeout_s=timeout_s or max(self.request_timeout_s, 5.0))

    def leases(self) -> EdgeLeases:
        from edgelab.targets.lease import EdgeLeases

        return EdgeLeases(self.kubectl())

    def control_plane_sampler(self, interval_s: float = 2.0) -> ControlPlaneSampler:
        from edgelab.experiments.control_plane import ControlPlaneSampler

        return ControlPlaneSampler(self.kubectl(), interval_s=interval_s)

    def restart_edge(self, edge: str, *, run: Any = None, timeout_s: int = 300) -> None:
        """Run `restart-edge.yml` on `edge`; `ClusterError` with the play's tail if it fails."""
        import tempfile

        self._edge(edge)
        private = Path(tempfile.mkdtemp(prefix="edgelab-restart-"))
        kwargs = restart_kwargs(edge, self.inventory_path, private)
        kwargs["timeout"] = timeout_s
        from edgelab.link.cluster import run_playbook

        failure = run_playbook(kwargs, run)
        if failure is not None:
            raise ClusterError(f"{RESTART_PLAYBOOK} on {edge} {failure}")

    def tokens(self) -> Tokens:
        data: dict[str, str] = {}
        try:
            secret = self.core.read_namespaced_secret(
                "edgelab-tokens", self.namespace, _request_timeout=self.request_timeout_s
            )
            data = {k: base64.b64decode(v).decode() for k, v in (secret.data or {}).items()}
        except Exception:  # no such secret: fall back to the environment
            data = {}
        admin = data.get("admin") or os.environ.get("EDGELAB_ADMIN_TOKEN", "")
        clerk = os.environ.get("EDGELAB_CLERK_TOKEN", "")
        clerks = {e: data.get(f"clerk-{e}") or clerk or admin for e in self.edge_names()}
        if not admin:
            raise ClusterError(
                f"no API tokens: create the Secret {self.namespace}/edgelab-tokens (keys admin, "
                "clerk-<edge>) or set EDGELAB_ADMIN_TOKEN"
            )
        return Tokens(admin=admin, clerks=clerks, edge_admin=data.get("edge-admin", ""))

    # ------------------------------------------------------------------ lifecycle

    def _edge_pods(self) -> dict[str, Any]:
        pods = self._call("list_namespaced_pod", self.namespace,
                          label_selector=f"app.kubernetes.io/name={self.edge_daemonset}")
        return {p.spec.node_name: p for p in pods.items}

    def up(self) -> None:
        """Wait (deadline `ready_timeout_s`) until the cloud app and every edge cache answer."""
        deadline = time.monotonic() + self.ready_timeout_s
        endpoints = self.endpoints()
        pending: dict[str, str] = {"cloud": endpoints.cloud,
                                   **{e: u for e, u in endpoints.edges.items()}}
        last: dict[str, str] = {}
        with httpx.Client(timeout=self.request_timeout_s) as client:
            while pending:
                for name, url in list(pending.items()):
                    try:
                        r = client.get(url + "/readyz")
                        if r.status_code == 200:
                            del pending[name]
                        else:
                            last[name] = f"HTTP {r.status_code}"
                    except httpx.HTTPError as exc:
                        last[name] = type(exc).__name__
                if pending and time.monotonic() >= deadline:
                    detail = ", ".join(f"{n} ({urlsplit(pending[n]).netloc}: {last.get(n)})"
                                       for n in pending)
                    raise ClusterError(f"not ready after {self.ready_timeout_s:.0f} s: {detail}")
                if pending:
                    time.sleep(1.0)

    def down(self) -> None:
        """Nothing to stop (the playbooks own the cluster); restores every link."""
        for link in self.links().values():
            link.up()

    def __enter__(self) -> ClusterTarget:
        self.up()
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def health(self) -> list[PartHealth]:
        endpoints = self.endpoints()
        pods = self._edge_pods()
        rows: list[PartHealth] = []
        with httpx.Client(timeout=self.request_timeout_s) as client:
            row = PartHealth(name="cloud", kind="cloud", url=endpoints.cloud,
                             node=self.inventory.cloud[0].name)
            try:
                r = client.get(endpoints.cloud + "/readyz")
                row.healthy, row.state = r.status_code == 200, (
                    "ready" if r.status_code == 200 else f"HTTP {r.status_code}")
            except httpx.HTTPError as exc:
                row.state, row.detail = "unreachable", type(exc).__name__
            rows.append(row)
            for name, url in endpoints.edges.items():
                row = PartHealth(name=name, kind="edge", url=url, node=name)
                pod = pods.get(name)
                if pod is None:
                    row.detail = "no edge-cache pod on this node"
                try:
                    s = client.get(url + "/_edge/status").json()
                    row.healthy = True
                    row.state = str(s.get("state", "unknown"))
                    row.outbox_depth = int(s.get("outbox_depth", 0) or 0)
                    hits, misses = float(s.get("hits") or 0), float(s.get("misses") or 0)
                    row.hit_ratio = hits / (hits + misses) if hits + misses else None
                except (httpx.HTTPError, ValueError) as exc:
                    row.state, row.detail = "unreachable", type(exc).__name__
                rows.append(row)
        return rows
