"""The control-plane sampler of 03 on a cluster: pure parsing of recorded `kubectl -o json`
documents (tests/edgelab/kubectl_json, sources in its README), the strip and the facts the
notebook checks, the sampler thread against a fake `kubectl` on PATH, and the flavor-aware
verdict of the offline restart. A real cluster is not available here: what K3s/KubeEdge really
report during a cut is for the instructor's real run (docs/instructor.md, section 7)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from edgelab.experiments.control_plane import (
    NODE_MONITOR_GRACE_PERIOD_S,
    ControlPlaneSampler,
    control_plane_facts,
    expected_canary_evicted,
    node_rows,
    pod_rows,
    samples_frame,
    strip_states,
)
from edgelab.experiments.offline_restart import OfflineRestart, judge_offline_restart
from edgelab.process import wait_until
from edgelab.targets.kubectl import Kubectl

from tests.edgelab import fake_kubectl
from tests.support.origins import QuietHandler, serve_in_thread

RECORDED = Path(__file__).parent / "kubectl_json"


def doc(name: str) -> dict[str, object]:
    loaded: dict[str, object] = json.loads((RECORDED / name).read_text())
    return loaded


def test_node_rows_read_ready_and_taints() -> None:
    online = {r["name"]: r for r in node_rows(doc("nodes-online.json"), 1.0)}
    assert online["shop-1"]["ready"] == "True"
    assert online["shop-1"]["taints"] == "edgelab.dev/edge:NoSchedule"
    assert online["cloud-1"]["taints"] == ""
    cut = {r["name"]: r for r in node_rows(doc("nodes-unreachable.json"), 2.0)}
    assert cut["shop-1"]["ready"] == "Unknown"
    assert "node.kubernetes.io/unreachable:NoExecute" in cut["shop-1"]["taints"].split(",")
    assert cut["cloud-1"]["ready"] == "True"


def test_pod_rows_read_phase_ready_and_deletion() -> None:
    online = {r["app"]: r for r in pod_rows(doc("pods-online.json"), 1.0)}
    assert online["edge-canary"]["phase"] == "Running" and online["edge-canary"]["ready"] == "True"
    assert online["edge-cache"]["node"] == "shop-1"
    # unreachable: the Ready condition is False although the container statuses say ready
    cut = {r["app"]: r for r in pod_rows(doc("pods-unreachable.json"), 2.0)}
    assert cut["edge-canary"]["ready"] == "False" and cut["edge-canary"]["phase"] == "Running"
    evicted = pod_rows(doc("pods-evicted.json"), 3.0)
    phases = sorted((r["name"][-5:], r["phase"]) for r in evicted if r["app"] == "edge-canary")
    assert phases == [("m4n8z", "Pending"), ("q2w9x", "Terminating")]
    assert next(r for r in evicted if r["phase"] == "Pending")["node"] is None


def outage_samples() -> pd.DataFrame:
    """t 0-10 online, cut at 10, NotReady seen at 62, canary evicted at 365, restored at 400."""
    rows = []
    timeline = [(0, "online", "online"), (5, "online", "online"), (30, "online", "online"),
                (62, "unreachable", "unreachable"), (200, "unreachable", "unreachable"),
                (365, "unreachable", "evicted"), (410, "online", "evicted")]
    for t, nodes, pods in timeline:
        rows += node_rows(doc(f"nodes-{nodes}.json"), float(t))
        rows += pod_rows(doc(f"pods-{pods}.json"), float(t))
    return samples_frame(rows)


def test_facts_of_a_long_outage() -> None:
    facts = control_plane_facts(outage_samples(), t_cut=10.0, t_restore=400.0, nodes=["shop-1"])
    shop = facts["nodes"]["shop-1"]
    assert shop["not_ready_after_s"] == 52.0
    assert shop["unreachable_taint_after_s"] == 52.0
    assert shop["canary_evicted_after_s"] == 355.0
    assert shop["ready_again_after_restore_s"] == 10.0
    assert shop["edge_cache_same_pod"] is True  # the DaemonSet pod kept its uid throughout
    assert facts["sampled"] == 7


def test_facts_when_the_edge_cache_pod_was_replaced() -> None:
    samples = outage_samples()
    late = (samples["app"] == "edge-cache") & (samples["t"] > 300)
    samples.loc[late, "uid"] = "a-new-uid"
    shop = control_plane_facts(samples, 10.0, 400.0, ["shop-1"])["nodes"]["shop-1"]
    assert shop["edge_cache_same_pod"] is False
    short = control_plane_facts(samples[samples["t"] < 40], 10.0, 400.0, ["shop-1"])
    assert short["nodes"]["shop-1"]["not_ready_after_s"] is None


def test_strip_rows_follow_node_and_canary() -> None:
    strip = strip_states(outage_samples(), ["shop-1"])
    node = strip[strip["edge"] == "shop-1 · node"].set_index("t")["state"]
    canary = strip[strip["edge"] == "shop-1 · canary"].set_index("t")["state"]
    assert node.loc[30.0] == "online" and node.loc[62.0] == "offline"
    assert node.loc[410.0] == "online"
    assert canary.loc[30.0] == "online" and canary.loc[62.0] == "offline"  # not ready
    assert canary.loc[410.0] == "offline"  # evicted, the replacement still Pending
    assert strip_states(samples_frame([]), ["shop-1"]).empty


def test_expected_eviction_by_outage_length() -> None:
    assert NODE_MONITOR_GRACE_PERIOD_S == 50.0
    assert expected_canary_evicted(120) is False
    assert expected_canary_evicted(345) is None  # too close to 50 + 300 to say
    assert expected_canary_evicted(400) is True


def test_sampler_runs_kubectl_and_keeps_errors(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    state = tmp_path / "state"
    fake_kubectl.install(tmp_path / "bin", state)
    for name in ("nodes-online.json", "nodes-unreachable.json", "pods-online.json",
                 "pods-unreachable.json"):
        (state / name).write_text((RECORDED / name).read_text())
    (state / "nodes.seq").write_text(json.dumps(["nodes-online.json", "nodes-unreachable.json"]))
    (state / "pods.seq").write_text(json.dumps(["pods-online.json", "pods-unreachable.json"]))
    monkeypatch.setenv("PATH", fake_kubectl.path_with(tmp_path / "bin"))
    t0 = time.monotonic()
    with ControlPlaneSampler(Kubectl(namespace="edgelab", timeout_s=5), interval_s=0.05) as s:
        wait_until(lambda: len({r["t"] for r in s.rows}) >= 3, timeout_s=60,
                   what="three control-plane samples")
    frame = s.frame(t0)
    assert (frame["t"] >= 0).all()
    states = frame[(frame["kind"] == "node") & (frame["name"] == "shop-1")]["ready"].tolist()
    assert states[0] == "True" and states[-1] == "Unknown"
    calls = fake_kubectl.calls(state)
    assert calls[1][1:] == ["--namespace", "edgelab", "get", "pods", "-l",
                            "app.kubernetes.io/part-of=edgelab", "-o", "json"]
    assert "--namespace" not in calls[0]  # nodes are not namespaced
    (state / "fail").write_text("Unable to connect to the server: dial tcp: i/o timeout\n")
    s.sample_once()
    assert s.errors and "Unable to connect" in s.errors[-1][1]


@pytest.mark.parametrize(
    ("flavor", "answered", "error", "passed", "expected"),
    [
        ("kubeedge", True, None, True, True),
        ("kubeedge", False, None, False, True),
        ("k3s", False, None, True, False),
        ("k3s", True, None, False, False),
        ("k3s", False, "edge1: UNREACHABLE", False, False),
        ("microk8s", False, None, False, None),
    ],
)
def test_offline_restart_verdict(flavor: str, answered: bool, error: str | None, passed: bool,
                                 expected: bool | None) -> None:
    verdict = judge_offline_restart(flavor, answered, 12.0 if answered else None, error)
    assert (verdict.passed, verdict.expected_back) == (passed, expected)
    assert verdict.message


@pytest.fixture
def edge() -> Iterator[tuple[str, threading.Event]]:
    """A loopback stand-in for an edge cache: /_edge/status answers 503 until `up` is set."""
    up = threading.Event()

    class Handler(QuietHandler):
        def do_GET(self) -> None:
            ok = up.is_set() and self.path == "/_edge/status"
            self.reply(200 if ok else 503, b"{}")

    with serve_in_thread(Handler) as url:
        yield url, up


def test_offline_restart_watches_the_edge_come_back(edge: tuple[str, threading.Event]) -> None:
    url, up = edge
    restarted: list[bool] = []
    probe = OfflineRestart(lambda: restarted.append(True), url, window_s=60, poll_s=0.05)
    threading.Timer(0.3, up.set).start()
    probe()
    assert restarted == [True] and probe.answered_offline
    assert probe.summary()["error"] is None


def test_offline_restart_gives_up_at_the_window_and_keeps_a_failed_restart(
    edge: tuple[str, threading.Event],
) -> None:
    url, _up = edge  # never comes back (the K3s case)
    probe = OfflineRestart(lambda: None, url, window_s=0.5, poll_s=0.05)
    probe()
    assert not probe.answered_offline and probe.went_down

    def boom() -> None:
        raise RuntimeError("restart-edge.yml on shop-1 ended failed (rc=2)")

    failed = OfflineRestart(boom, url, window_s=5)
    failed()
    assert failed.error and "rc=2" in failed.error and not failed.answered_offline
