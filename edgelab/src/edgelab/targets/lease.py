"""Class mode: a student leases an edge before cutting its link, so a class can share edges.

The lease is a Kubernetes `Lease` (coordination.k8s.io/v1) named ``edgelab-edge-<edge>`` in
the lab's namespace: ``spec.holderIdentity`` is the student, ``spec.renewTime`` +
``spec.leaseDurationSeconds`` its expiry. The same object kind the kubelets renew every 10 s.

- `decide` (pure) takes the lease as it is, the student and the time, and returns what to do:
  *take* (free, or the previous holder's lease expired), *renew* (the student holds it) or
  *refuse* (someone else holds it and it has not expired; the message says who and until when).
- `release_allowed` (pure): only the holder gives a lease back.
- `EdgeLeases` (thin): reads and writes the Lease with `kubectl`; a write carries the
  ``resourceVersion`` it read, so two students taking a free edge at the same moment cannot
  both win (the API answers 409 Conflict to the second, who is then refused).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from edgelab.targets.base import TargetError
from edgelab.targets.kubectl import Kubectl, KubectlError

LEASE_PREFIX = "edgelab-edge-"
Action = Literal["take", "renew", "refuse"]


class LeaseRefused(TargetError):
    """Another student holds the edge; the message says who and until when."""


@dataclass(frozen=True, slots=True)
class LeaseRecord:
    """The parts of a Lease object a decision needs."""

    holder: str | None
    renew_time: datetime | None
    duration_s: int
    acquire_time: datetime | None = None
    resource_version: str | None = None

    def expires_at(self) -> datetime | None:
        if self.renew_time is None:
            return None
        return self.renew_time + timedelta(seconds=self.duration_s)


@dataclass(frozen=True, slots=True)
class LeaseDecision:
    action: Action
    holder: str | None  # who holds the edge after the decision
    expires_at: datetime | None
    message: str
    took_over_from: str | None = None  # the holder whose expired lease was taken


def _when(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%H:%M:%S UTC")


def decide(current: LeaseRecord | None, student: str, now: datetime, duration_s: int,
           edge: str = "the edge") -> LeaseDecision:
    """What to do when `student` asks for the edge at `now` for `duration_s` seconds."""
    if not student:
        raise ValueError("a lease needs a student name (the notebook parameter `student`)")
    if duration_s <= 0:
        raise ValueError(f"duration_s must be > 0, got {duration_s}")
    until = now + timedelta(seconds=duration_s)
    if current is None or not current.holder:
        return LeaseDecision("take", student, until, f"{edge} leased to {student} until "
                             f"{_when(until)}")
    if current.holder == student:
        return LeaseDecision("renew", student, until, f"{edge}: lease of {student} renewed "
                             f"until {_when(until)}")
    expires = current.expires_at()
    if expires is None or expires <= now:
        return LeaseDecision("take", student, until,
                             f"{edge} leased to {student} until {_when(until)} (the lease of "
                             f"{current.holder} had expired)", took_over_from=current.holder)
    left = (expires - now).total_seconds()
    return LeaseDecision(
        "refuse", current.holder, expires,
        f"{edge} is leased by {current.holder} until {_when(expires)} ({left:.0f} s left): "
        "its link is theirs to cut. Pick another edge (parameter `cut_edge`) or wait; ask the "
        "instructor if the lease is stale.",
    )


def release_allowed(current: LeaseRecord | None, student: str) -> bool:
    """Only the holder gives a lease back (an expired or foreign lease is left alone)."""
    return current is not None and current.holder == student


# ---------------------------------------------------------------- the Lease object's JSON

def format_micro_time(t: datetime) -> str:
    """metav1.MicroTime as the API writes it: ``2026-12-01T13:04:05.123456Z``."""
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    value = text.strip().replace("Z", "+00:00")
    try:
        return datetime.fromisoformat(value).astimezone(UTC)
    except ValueError:
        return None


def parse_lease(obj: dict[str, Any]) -> LeaseRecord:
    """A `LeaseRecord` from ``kubectl get lease <name> -o json``."""
    spec = obj.get("spec") or {}
    meta = obj.get("metadata") or {}
    return LeaseRecord(
        holder=spec.get("holderIdentity") or None,
        renew_time=parse_time(spec.get("renewTime")),
        duration_s=int(spec.get("leaseDurationSeconds") or 0),
        acquire_time=parse_time(spec.get("acquireTime")),
        resource_version=meta.get("resourceVersion"),
    )


def lease_name(edge: str) -> str:
    return f"{LEASE_PREFIX}{edge}"


def lease_object(edge: str, namespace: str, holder: str | None, now: datetime, duration_s: int,
                 *, acquire_time: datetime | None = None,
                 resource_version: str | None = None) -> dict[str, Any]:
    """The Lease to write (holder None: given back)."""
    meta: dict[str, Any] = {
        "name": lease_name(edge), "namespace": namespace,
        "labels": {"app.kubernetes.io/part-of": "edgelab", "edgelab.dev/edge-lease": edge},
    }
    if resource_version:
        meta["resourceVersion"] = resource_version
    spec: dict[str, Any] = {"leaseDurationSeconds": int(duration_s),
                            "renewTime": format_micro_time(now)}
    if holder:
        spec["holderIdentity"] = holder
        spec["acquireTime"] = format_micro_time(acquire_time or now)
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": meta,
            "spec": spec}


# ---------------------------------------------------------------- thin layer

class EdgeLeases:
    """Take, renew and give back edge leases through `kubectl` (module docstring)."""

    def __init__(self, kubectl: Kubectl) -> None:
        self.kubectl = kubectl

    def read(self, edge: str) -> LeaseRecord | None:
        try:
            return parse_lease(self.kubectl.get_json(["lease", lease_name(edge)]))
        except KubectlError as exc:
            if exc.reason == "NotFound":
                return None
            raise

    def acquire(self, edge: str, student: str, duration_s: int,
                now: datetime | None = None) -> LeaseDecision:
        """Take or renew the lease; `LeaseRefused` when another student holds it."""
        at = now or datetime.now(UTC)
        current = self.read(edge)
        decision = decide(current, student, at, duration_s, edge=edge)
        if decision.action == "refuse":
            raise LeaseRefused(decision.message)
        keep = current.acquire_time if current and decision.action == "renew" else None
        obj = lease_object(edge, self.kubectl.namespace, student, at, duration_s,
                           acquire_time=keep,
                           resource_version=current.resource_version if current else None)
        try:
            self.kubectl.apply_json("replace" if current else "create", obj)
        except KubectlError as exc:
            if exc.reason in ("Conflict", "AlreadyExists"):
                now_held = self.read(edge)
                who = now_held.holder if now_held else "someone"
                raise LeaseRefused(f"{edge} was leased by {who} a moment ago; pick another "
                                   "edge or try again later") from exc
            raise
        return decision

    def release(self, edge: str, student: str, now: datetime | None = None) -> bool:
        """Give the lease back if `student` holds it; True when it was given back."""
        current = self.read(edge)
        if not release_allowed(current, student) or current is None:
            return False
        obj = lease_object(edge, self.kubectl.namespace, None, now or datetime.now(UTC),
                           max(current.duration_s, 1),
                           resource_version=current.resource_version)
        self.kubectl.apply_json("replace", obj)
        return True
