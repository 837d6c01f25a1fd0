"""What the control plane says while an edge is cut off: node Ready, taints, pod phases.

A sampler runs ``kubectl get nodes -o json`` and ``kubectl get pods -o json`` every few
seconds during the disconnection experiment; pure functions turn each document into rows
(`node_rows`, `pod_rows`), the rows into the strip under the request timeline
(`strip_states`) and into the facts the notebook checks (`control_plane_facts`).

What to expect on the pinned versions (K3s v1.32, KubeEdge v1.23 on Kubernetes 1.32):

- the node lifecycle controller marks a node that stopped renewing its lease ``Ready=Unknown``
  after ``node-monitor-grace-period``, 50 s since Kubernetes 1.32 (kubernetes/kubernetes#126287;
  40 s before), and taints it ``node.kubernetes.io/unreachable:NoExecute``;
- an ordinary pod (the canary Deployment) tolerates that taint for 300 s (the
  DefaultTolerationSeconds admission plugin), then it is evicted: on a node that cannot confirm,
  it stays *Terminating* and its replacement, pinned to the same node, *Pending*;
- DaemonSet pods (edge-cache) tolerate it forever: same uid before and after, on either flavor.

Rows (`SAMPLE_COLUMNS`): ``t`` (seconds on the experiment's clock), ``kind`` (node | pod),
``name``, ``node``, ``app`` (the pod's ``app.kubernetes.io/name``), ``ready`` (the Ready
condition's status True/False/Unknown, of the node or the pod), ``phase`` (pod phase, *Terminating*
when a deletion is pending), ``taints`` (``key:effect`` joined by ``,``), ``uid``,
``restarts``.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

import pandas as pd

from edgelab.experiments.runtime import PeriodicSampler
from edgelab.targets.kubectl import Kubectl, KubectlError

NODE_MONITOR_GRACE_PERIOD_S = 50.0  # Kubernetes 1.32 default (K3s v1.32 does not change it)
DEFAULT_TOLERATION_S = 300.0  # DefaultTolerationSeconds for not-ready/unreachable
UNREACHABLE = "node.kubernetes.io/unreachable"
NOT_READY = "node.kubernetes.io/not-ready"
CANARY_APP = "edge-canary"
EDGE_CACHE_APP = "edge-cache"
SAMPLE_COLUMNS = ["t", "kind", "name", "node", "app", "ready", "phase", "taints", "uid",
                  "restarts"]


def node_rows(doc: Mapping[str, Any], t: float) -> list[dict[str, Any]]:
    """One row per node of a ``kubectl get nodes -o json`` List."""
    rows: list[dict[str, Any]] = []
    for item in doc.get("items") or []:
        meta = item.get("metadata") or {}
        status = item.get("status") or {}
        ready = next((str(c.get("status")) for c in status.get("conditions") or []
                      if c.get("type") == "Ready"), "Unknown")
        taints = ",".join(f"{x.get('key')}:{x.get('effect')}"
                          for x in (item.get("spec") or {}).get("taints") or [])
        rows.append({"t": t, "kind": "node", "name": meta.get("name"), "node": meta.get("name"),
                     "app": None, "ready": ready, "phase": None, "taints": taints,
                     "uid": meta.get("uid"), "restarts": None})
    return rows


def pod_rows(doc: Mapping[str, Any], t: float) -> list[dict[str, Any]]:
    """One row per pod of a ``kubectl get pods -o json`` List."""
    rows: list[dict[str, Any]] = []
    for item in doc.get("items") or []:
        meta = item.get("metadata") or {}
        status = item.get("status") or {}
        containers = status.get("containerStatuses") or []
        phase = "Terminating" if meta.get("deletionTimestamp") else status.get("phase")
        # the Ready condition, which the node lifecycle controller sets False on an
        # unreachable node (the container statuses keep what the kubelet last reported)
        condition = next((str(c.get("status")) for c in status.get("conditions") or []
                          if c.get("type") == "Ready"), None)
        ready = condition if condition is not None else str(
            bool(containers) and all(bool(c.get("ready")) for c in containers))
        rows.append({
            "t": t, "kind": "pod", "name": meta.get("name"),
            "node": (item.get("spec") or {}).get("nodeName"),
            "app": (meta.get("labels") or {}).get("app.kubernetes.io/name"),
            "ready": ready,
            "phase": phase, "taints": "", "uid": meta.get("uid"),
            "restarts": sum(int(c.get("restartCount") or 0) for c in containers),
        })
    return rows


def samples_frame(rows: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(list(rows), columns=SAMPLE_COLUMNS)


def _node_state(ready: object) -> str:
    return {"True": "online", "False": "offline", "Unknown": "offline"}.get(str(ready),
                                                                             "unknown")


def strip_states(samples: pd.DataFrame, nodes: Sequence[str]) -> pd.DataFrame:
    """Rows for the timeline's strip (``t``, ``edge``, ``state``): per edge node, a *node* row
    (green while Ready, red while NotReady/Unknown) and a *canary* row (green while a canary pod
    on that node runs and is ready, red otherwise: evicted, Terminating, Pending or gone)."""
    out: list[dict[str, Any]] = []
    if samples.empty:
        return pd.DataFrame(out, columns=["t", "edge", "state"])
    for t, at in samples.groupby("t", sort=True):
        for node in nodes:
            mine = at[at["node"] == node]
            n = mine[mine["kind"] == "node"]
            out.append({"t": float(str(t)), "edge": f"{node} · node",
                        "state": _node_state(n["ready"].iloc[0]) if len(n) else "unknown"})
            canary = mine[(mine["kind"] == "pod") & (mine["app"] == CANARY_APP)]
            running = canary[(canary["phase"] == "Running") & (canary["ready"] == "True")]
            out.append({"t": float(str(t)), "edge": f"{node} · canary",
                        "state": "online" if len(running) else "offline"})
    return pd.DataFrame(out, columns=["t", "edge", "state"])


def _first(t: pd.Series) -> float | None:
    return float(t.min()) if len(t) else None


def control_plane_facts(samples: pd.DataFrame, t_cut: float, t_restore: float,
                        nodes: Sequence[str]) -> dict[str, Any]:
    """Per edge node, seconds after the cut until it was NotReady / tainted unreachable / its
    canary was evicted, whether the edge-cache pod kept its uid, and when the node was Ready
    again after the restore (None: not seen in the samples)."""
    facts: dict[str, Any] = {"sampled": int(samples["t"].nunique()) if len(samples) else 0,
                             "node_monitor_grace_period_s": NODE_MONITOR_GRACE_PERIOD_S,
                             "default_toleration_s": DEFAULT_TOLERATION_S, "nodes": {}}
    for node in nodes:
        mine = samples[samples["node"] == node]
        n = mine[mine["kind"] == "node"]
        after_cut = n[n["t"] >= t_cut]
        not_ready = _first(after_cut.loc[after_cut["ready"] != "True", "t"])
        tainted = _first(after_cut.loc[after_cut["taints"].fillna("").str.contains(
            UNREACHABLE, regex=False), "t"])
        back = n[(n["t"] >= t_restore) & (n["ready"] == "True")]
        pods = mine[mine["kind"] == "pod"]
        canary = pods[pods["app"] == CANARY_APP]
        before = canary[canary["t"] < t_cut]
        first_uids = set(before.loc[before["t"] == before["t"].max(), "uid"]) if len(
            before) else set()
        gone_or_terminating = canary[(canary["t"] >= t_cut) & (
            (canary["phase"] == "Terminating") | ~canary["uid"].isin(first_uids))]
        evicted = _first(gone_or_terminating["t"]) if first_uids else None
        cache = pods[pods["app"] == EDGE_CACHE_APP]
        cache_before = set(cache.loc[cache["t"] < t_cut, "uid"])
        cache_after = set(cache.loc[cache["t"] >= t_cut, "uid"])
        facts["nodes"][node] = {
            "not_ready_after_s": None if not_ready is None else not_ready - t_cut,
            "unreachable_taint_after_s": None if tainted is None else tainted - t_cut,
            "canary_evicted_after_s": None if evicted is None else evicted - t_cut,
            "ready_again_after_restore_s": None if not len(back) else float(
                back["t"].min()) - t_restore,
            "edge_cache_same_pod": bool(cache_before) and cache_after <= cache_before,
            "edge_cache_uids": sorted(str(u) for u in cache_before | cache_after),
        }
    return facts


def expected_canary_evicted(outage_s: float, margin_s: float = 15.0) -> bool | None:
    """Whether an outage of `outage_s` must evict the canary (True), must not (False), or is too
    close to grace period + toleration to say (None)."""
    threshold = NODE_MONITOR_GRACE_PERIOD_S + DEFAULT_TOLERATION_S
    if outage_s >= threshold + margin_s:
        return True
    if outage_s <= threshold - margin_s:
        return False
    return None


class ControlPlaneSampler(PeriodicSampler):
    """Samples nodes and the lab's pods with `kubectl` every `interval_s` in a thread.

    Use as a context manager around the experiment; `frame(t0)` puts the samples on the
    experiment's clock (``time.monotonic()`` of its start). A failed sample is kept in
    `errors` (the API server is on the cloud side, so it normally stays reachable)."""

    thread_name = "control-plane-sampler"

    def __init__(self, kubectl: Kubectl, interval_s: float = 2.0,
                 selector: str = "app.kubernetes.io/part-of=edgelab") -> None:
        super().__init__(interval_s, join_timeout_s=kubectl.timeout_s + 10.0)
        self.kubectl = kubectl
        self.selector = selector
        self.rows: list[dict[str, Any]] = []
        self.errors: list[tuple[float, str]] = []

    def sample_once(self) -> None:
        at = time.monotonic()
        try:
            nodes = self.kubectl.get_json(["nodes"], namespaced=False)
            pods = self.kubectl.get_json(["pods", "-l", self.selector])
        except KubectlError as exc:
            self.errors.append((at, str(exc)))
            return
        self.rows += node_rows(nodes, at) + pod_rows(pods, at)

    def frame(self, t0_mono: float) -> pd.DataFrame:
        table = samples_frame(self.rows)
        if len(table):
            table["t"] = table["t"].astype(float) - t0_mono
        return table
