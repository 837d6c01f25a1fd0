"""Edge leases for class mode: the pure decision table, and the thin kubectl layer against a
fake `kubectl` on PATH (tests/edgelab/fake_kubectl.py). A real cluster is not available here:
that the API server enforces the resourceVersion precondition and that students' RBAC allows
leases is for the instructor's real run (docs/instructor.md, section 7)."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from edgelab.targets.kubectl import Kubectl, KubectlError
from edgelab.targets.lease import (
    EdgeLeases,
    LeaseRecord,
    LeaseRefused,
    decide,
    format_micro_time,
    lease_object,
    parse_lease,
    release_allowed,
)

from tests.edgelab import fake_kubectl

RECORDED = Path(__file__).parent / "kubectl_json"
NOW = datetime(2026, 12, 1, 13, 5, 0, tzinfo=UTC)


def held(by: str | None, renewed_s_ago: float, duration_s: int = 600) -> LeaseRecord:
    return LeaseRecord(holder=by, renew_time=NOW - timedelta(seconds=renewed_s_ago),
                       duration_s=duration_s)


@pytest.mark.parametrize(
    ("current", "student", "action", "holder", "took_over"),
    [
        (None, "bob", "take", "bob", None),  # never leased
        (held(None, 5), "bob", "take", "bob", None),  # given back
        (held("bob", 30), "bob", "renew", "bob", None),  # mine: renew
        (held("bob", 900), "bob", "renew", "bob", None),  # mine, expired: still mine
        (held("alice", 30), "bob", "refuse", "alice", None),  # alice's, 570 s left
        (held("alice", 599), "bob", "refuse", "alice", None),  # one second left
        (held("alice", 600), "bob", "take", "bob", "alice"),  # expired exactly now
        (held("alice", 601), "bob", "take", "bob", "alice"),  # expired
        (LeaseRecord("alice", None, 600), "bob", "take", "bob", "alice"),  # never renewed
    ],
)
def test_decision_table(current: LeaseRecord | None, student: str, action: str, holder: str,
                        took_over: str | None) -> None:
    d = decide(current, student, NOW, 120, edge="shop-1")
    assert (d.action, d.holder, d.took_over_from) == (action, holder, took_over)
    if action == "refuse":
        assert current is not None and d.expires_at == current.expires_at()
        assert "leased by alice until 13:" in d.message and "Pick another edge" in d.message
    else:
        assert d.expires_at == NOW + timedelta(seconds=120)


def test_decision_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="student"):
        decide(None, "", NOW, 60)
    with pytest.raises(ValueError, match="duration_s"):
        decide(None, "bob", NOW, 0)


def test_only_the_holder_releases() -> None:
    assert release_allowed(held("bob", 10), "bob")
    assert not release_allowed(held("alice", 10), "bob")
    assert not release_allowed(None, "bob")


def test_parse_the_recorded_lease_and_write_one_back() -> None:
    lease = parse_lease(json.loads((RECORDED / "lease-shop-1.json").read_text()))
    assert lease.holder == "alice" and lease.duration_s == 600
    assert lease.renew_time == datetime(2026, 12, 1, 13, 0, tzinfo=UTC)
    assert lease.expires_at() == datetime(2026, 12, 1, 13, 10, tzinfo=UTC)
    assert lease.resource_version == "52001"
    obj = lease_object("shop-1", "edgelab", "bob", NOW, 90, resource_version="52001")
    assert parse_lease(obj).holder == "bob"
    assert obj["spec"]["renewTime"] == format_micro_time(NOW) == "2026-12-01T13:05:00.000000Z"
    assert obj["metadata"]["resourceVersion"] == "52001"
    given_back = lease_object("shop-1", "edgelab", None, NOW, 90)
    assert "holderIdentity" not in given_back["spec"]


@pytest.fixture
def kubectl(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Kubectl, Path]:
    state = tmp_path / "state"
    fake_kubectl.install(tmp_path / "bin", state)
    monkeypatch.setenv("PATH", fake_kubectl.path_with(tmp_path / "bin"))
    return Kubectl(kubeconfig=tmp_path / "kubeconfig", namespace="edgelab"), state


def test_take_refuse_renew_release_through_kubectl(kubectl: tuple[Kubectl, Path]) -> None:
    k, state = kubectl
    leases = EdgeLeases(k)
    assert leases.read("shop-1") is None  # NotFound from the API: no lease yet
    first = leases.acquire("shop-1", "alice", 120, now=NOW)
    assert first.action == "take"
    with pytest.raises(LeaseRefused, match="leased by alice"):
        leases.acquire("shop-1", "bob", 120, now=NOW + timedelta(seconds=30))
    assert leases.acquire("shop-1", "alice", 120, now=NOW + timedelta(seconds=60)).action == (
        "renew")
    assert not leases.release("shop-1", "bob")  # not bob's to give back
    assert leases.release("shop-1", "alice")
    assert leases.acquire("shop-1", "bob", 120, now=NOW + timedelta(seconds=61)).action == "take"
    # expired: carol takes it over
    later = NOW + timedelta(seconds=61 + 121)
    assert leases.acquire("shop-1", "carol", 60, now=later).took_over_from == "bob"
    verbs = [c[c.index("--namespace") + 2] for c in fake_kubectl.calls(state)]
    assert verbs[:3] == ["get", "get", "create"]
    assert "replace" in verbs
    for call in fake_kubectl.calls(state):
        assert call[0:2] == ["--kubeconfig", str(k.kubeconfig)]
        assert call[2].startswith("--request-timeout=")


def test_a_lost_race_is_refused_not_overwritten(kubectl: tuple[Kubectl, Path]) -> None:
    k, state = kubectl
    leases = EdgeLeases(k)
    leases.acquire("shop-1", "alice", 60, now=NOW)
    # bob read the lease (expired) and dave took it in between: bob's replace carries a stale
    # resourceVersion and the (fake) API answers Conflict
    stale = leases.read("shop-1")
    dave = lease_object("shop-1", "edgelab", "dave", NOW + timedelta(seconds=70), 60,
                        resource_version=stale.resource_version if stale else None)
    k.apply_json("replace", dave)

    class StaleRead(EdgeLeases):
        """Reads the lease as it was before dave's write, the first time."""

        reads = 0

        def read(self, edge: str) -> LeaseRecord | None:
            self.reads += 1
            return stale if self.reads == 1 else super().read(edge)

    with pytest.raises(LeaseRefused):
        StaleRead(k).acquire("shop-1", "bob", 60, now=NOW + timedelta(seconds=71))
    assert parse_lease(json.loads((state / "leases" / "edgelab-edge-shop-1.json").read_text())
                       ).holder == "dave"


def test_kubectl_errors_name_the_cause(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(KubectlError, match="not found on PATH"):
        Kubectl(binary="kubectl").run(["get", "nodes"])
    state = tmp_path / "state"
    fake_kubectl.install(tmp_path / "bin", state)
    monkeypatch.setenv("PATH", fake_kubectl.path_with(tmp_path / "bin"))
    (state / "fail").write_text("Error from server (Forbidden): leases.coordination.k8s.io "
                                '"edgelab-edge-shop-1" is forbidden: User "bob" cannot get\n')
    with pytest.raises(KubectlError, match="forbidden") as info:
        EdgeLeases(Kubectl()).read("shop-1")
    assert info.value.reason == "Forbidden"
    assert shutil.which("kubectl") == str(tmp_path / "bin" / "kubectl")
