"""Steps the notebooks walk through that are not experiments: open the target, probe its
parts, browse through an edge, list cluster nodes. Each returns a tidy pandas table."""

from __future__ import annotations

import importlib
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
import pandas as pd

from edgelab.notebook.preflight import resolve_kubeconfig
from edgelab.notebook.results import Results
from edgelab.targets.base import PartHealth, Target, TargetError, health_frame

__all__ = [
    "browse",
    "catalogue_size",
    "cluster_nodes",
    "demo_paths",
    "health_table",
    "open_target",
    "probe_parts",
    "purge",
    "resolve_kubeconfig",
    "save_table",
    "set_wan_latency",
    "shop_mix",
    "start",
    "wait_online",
    "write_policy",
]


def open_target(
    target: str,
    *,
    lab_dir: str | Path | None = None,
    edges: int = 2,
    kubeconfig: str | Path | None = None,
    inventory: str | Path | None = None,
    edge_env: Mapping[str, str] | None = None,
) -> Any:
    """A ``LocalTarget`` (not started yet) or a ``ClusterTarget`` for ``target``."""
    if target == "local":
        from edgelab.targets.local import LocalTarget

        return LocalTarget(edges=edges, lab_dir=lab_dir, common_edge_env=dict(edge_env or {}))
    if target == "cluster":
        from edgelab.notebook.preflight import check_cluster

        config = resolve_kubeconfig(kubeconfig)
        check_cluster(config)
        try:
            module = importlib.import_module("edgelab.targets.cluster")
        except ImportError as exc:
            raise TargetError(
                "this edgelab has no ClusterTarget (edgelab.targets.cluster) yet"
            ) from exc
        cluster_target: Any = module.ClusterTarget
        return cluster_target(kubeconfig=config, inventory=inventory)
    raise TargetError(f"target must be 'local' or 'cluster', got {target!r}")


def start(results: Results, lab: Any) -> Any:
    """Bring a local lab up and register its teardown; a cluster is only checked, never
    torn down by a notebook (the instructor owns it)."""
    if hasattr(lab, "recover") and hasattr(lab, "up"):
        results.on_teardown(lab.down, "stop the local lab")
        lab.up()
    elif hasattr(lab, "up"):
        lab.up()
    return lab


def health_table(lab: Target) -> pd.DataFrame:
    rows: list[PartHealth] = lab.health()
    return health_frame(rows)


def wait_online(lab: Target, timeout_s: float = 30.0, interval_s: float = 0.5) -> pd.DataFrame:
    """Poll ``health()`` until every part is healthy and every edge is online (or the
    deadline passes); returns the last health table."""
    deadline = time.monotonic() + timeout_s
    while True:
        table = health_table(lab)
        edges = table[table["kind"] == "edge"]
        if bool(table["healthy"].all()) and bool((edges["state"] == "online").all()):
            return table
        if time.monotonic() >= deadline:
            return table
        time.sleep(interval_s)


def catalogue_size(lab: Target, limit: int = 500) -> int:
    """Number of products the cloud lists (up to a few pages)."""
    endpoints = lab.endpoints()
    headers = {"Authorization": f"Bearer {lab.tokens().admin}"}
    count = 0
    url: str | None = endpoints.cloud + f"/api/products?limit={limit}"
    with httpx.Client(timeout=10.0) as client:
        for _ in range(20):
            if url is None:
                break
            r = client.get(url, headers=headers)
            r.raise_for_status()
            body: Any = r.json()
            count += len(body.get("results") or [])
            nxt = r.links.get("next", {}).get("url")
            url = None if not nxt else (nxt if "://" in nxt else endpoints.cloud + nxt)
    return count


def set_wan_latency(lab: Target, latency_ms: float, loss: float = 0.0) -> dict[str, str]:
    """Give every edge's WAN link ``latency_ms`` of one-way delay and ``loss`` packet loss
    (both 0: no impairment)."""
    states: dict[str, str] = {}
    for edge, link in lab.links().items():
        impaired = latency_ms > 0 or loss > 0
        state = link.degrade(latency_ms=latency_ms, loss=loss) if impaired else link.up()
        states[edge] = str(state)
    return states


def probe_parts(lab: Target, n: int = 10, timeout_s: float = 5.0) -> pd.DataFrame:
    """``n`` health requests to every part; one row per request (part, kind, ms, status)."""
    endpoints = lab.endpoints()
    urls: dict[str, tuple[str, str]] = {"cloud": ("cloud", endpoints.cloud + "/healthz")}
    for name, url in endpoints.edges.items():
        urls[name] = ("edge", url + "/healthz")
    for name, url in endpoints.direct.items():
        urls[f"link-{name}"] = ("link → cloud", url + "/healthz")
    rows: list[dict[str, Any]] = []
    with httpx.Client(timeout=timeout_s) as client:
        for part, (kind, url) in urls.items():
            for i in range(n):
                t0 = time.perf_counter()
                try:
                    status = client.get(url).status_code
                except httpx.HTTPError:
                    status = 0
                ms = (time.perf_counter() - t0) * 1000
                rows.append(
                    {"part": part, "kind": kind, "attempt": i, "status": status, "latency_ms": ms}
                )
    return pd.DataFrame(rows)


def _first_id(client: httpx.Client, url: str, token: str, path: str) -> Any:
    r = client.get(url + path, headers={"Authorization": f"Bearer {token}"})
    r.raise_for_status()
    body: Any = r.json()
    items = body.get("results", body.get("items", [])) if isinstance(body, dict) else body
    return items[0]["id"] if items else None


def demo_paths(lab: Target, edge: str) -> list[str]:
    """A product list, one product, and that product's stock in the edge's shop."""
    endpoints = lab.endpoints()
    token = lab.tokens().admin
    with httpx.Client(timeout=10.0) as client:
        product = _first_id(client, endpoints.cloud, token, "/api/products?limit=1")
        r = client.get(
            endpoints.cloud + "/api/warehouses?limit=200",
            headers={"Authorization": f"Bearer {token}"},
        )
        r.raise_for_status()
        body: Any = r.json()
        items: list[Any] = list(
            (body.get("results") or body.get("items") or []) if isinstance(body, dict) else body
        )
    code = lab.warehouse_of(edge)
    warehouse = next((w["id"] for w in items if w.get("code") == code), None)
    paths = ["/api/products?limit=20", f"/api/products/{product}"]
    if warehouse is not None:
        paths.append(f"/api/warehouses/{warehouse}/stock/{product}")
    return paths


WRITES = ("sell", "receive")


def shop_mix(write_share: float) -> dict[str, float]:
    """The disconnection experiment's shop mix with ``write_share`` of the requests being
    writes (sales and receipts), the read/write proportions inside each group kept."""
    from edgelab.experiments.disconnection import DISCONNECTION_MIX

    if not 0 <= write_share <= 1:
        raise ValueError(f"write_share must be between 0 and 1, got {write_share}")
    writes = sum(v for k, v in DISCONNECTION_MIX.items() if k in WRITES)
    reads = sum(v for k, v in DISCONNECTION_MIX.items() if k not in WRITES)
    return {
        k: v * (write_share / writes if k in WRITES else (1 - write_share) / reads)
        for k, v in DISCONNECTION_MIX.items()
    }


def write_policy(results: Results, ttl_s: float, prefix: str = "/api/products") -> Path:
    """An edge-cache policy file giving ``prefix`` a freshness lifetime of ``ttl_s`` seconds."""
    path = results.file(f"edge-policy-ttl-{ttl_s:g}.yaml")
    path.write_text(
        f"routes:\n  - path: {prefix}\n    methods: [GET, HEAD]\n    ttl: {float(ttl_s)!r}\n"
    )
    return path


def purge(lab: Target, edge: str) -> int:
    """Empty the edge's cache (``POST /_edge/purge``); returns the HTTP status."""
    url = lab.endpoints().edges[edge] + "/_edge/purge"
    headers = {"Authorization": f"Bearer {lab.tokens().edge_admin}"}
    return httpx.post(url, headers=headers, timeout=10.0).status_code


def browse(
    lab: Target, edge: str, paths: Sequence[str], repeat: int = 3, timeout_s: float = 10.0
) -> pd.DataFrame:
    """GET every path ``repeat`` times through the edge (as the shop's clerk), then once
    from the cloud over the same WAN link; one row per request with the cache headers."""
    endpoints = lab.endpoints()
    token = lab.tokens().clerks[edge]
    rows: list[dict[str, Any]] = []
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(timeout=timeout_s) as client:
        for path in paths:
            cloud = endpoints.direct.get(edge, endpoints.cloud)  # the cloud over the WAN link
            for via, base, times in (("edge", endpoints.edges[edge], repeat), ("cloud", cloud, 1)):
                for attempt in range(1, times + 1):
                    t0 = time.perf_counter()
                    r = client.get(base + path, headers=headers)
                    ms = (time.perf_counter() - t0) * 1000
                    rows.append(
                        {
                            "path": path,
                            "via": via,
                            "attempt": attempt,
                            "status": r.status_code,
                            "x_edge_cache": r.headers.get("x-edge-cache", ""),
                            "age": r.headers.get("age", ""),
                            "cache_control": r.headers.get("cache-control", ""),
                            "etag": r.headers.get("etag", ""),
                            "latency_ms": round(ms, 3),
                            "body_bytes": len(r.content),
                        }
                    )
    return pd.DataFrame(rows)


def cluster_nodes(lab: Any, kubeconfig: str | Path | None = None) -> pd.DataFrame:
    """The cluster's nodes as a table (name, ready, roles, kubelet_version, flavor, edge, …):
    from the target's ``nodes()`` when it has one, else straight from the kubernetes API."""
    if not hasattr(lab, "nodes"):
        from edgelab.notebook.cluster import api_client, node_table

        client = api_client(resolve_kubeconfig(kubeconfig))
        try:
            return node_table(client)
        finally:
            client.close()
    nodes = lab.nodes()
    if isinstance(nodes, pd.DataFrame):
        table = nodes.copy()
        if "flavor" not in table.columns and "kubelet_version" in table.columns:
            versions = table["kubelet_version"].astype(str)
            table["flavor"] = ["kubeedge" if "kubeedge" in v else "k3s" for v in versions]
        return table
    rows = [
        n if isinstance(n, Mapping) else getattr(n, "__dict__", {"node": str(n)})
        for n in list(nodes or [])
    ]
    return pd.DataFrame(rows)


def save_table(results: Results, name: str, table: pd.DataFrame) -> Path:
    """Write ``table`` as ``<name>.csv`` in the results directory; returns the path."""
    path = results.file(f"{name}.csv")
    table.to_csv(path, index=False)
    return path
