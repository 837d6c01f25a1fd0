"""The disconnection experiment end to end on a real local lab (seconds, not minutes).

- A short outage: reads are served from the edge caches, writes are queued (202), replayed
  after the link is back, and the cloud has each exactly once; the no-cache baseline fails
  during the outage.
- A deliberately broken edge (it crashes in the middle of the outage and comes back without
  its outbox, i.e. queued writes that were not durable): the verification must FAIL.
- An outbox that cannot drain within the deadline is a FAILED verification, never a pass.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
from edgelab.experiments import disconnection
from edgelab.experiments.disconnection import (
    DRAIN_FLOOR_S,
    DRAIN_MEASURE_S,
    DrainAllowance,
    wait_edges,
)
from edgelab.targets import UnknownEdgeError
from edgelab.targets.local import LocalTarget

pytestmark = pytest.mark.slow

SHORT = {"outage_s": 3.0, "warmup_s": 1.5, "after_s": 1.0, "concurrency": 1,
         "clerk_rate_per_s": 10.0, "drain_timeout_s": 90.0, "warm_products": 40,
         "progress": False}


@pytest.fixture
def lab(local_lab: LocalTarget) -> LocalTarget:
    return local_lab


def test_outage_reads_served_writes_applied_exactly_once(lab: LocalTarget,
                                                         tmp_path: Path) -> None:
    result = disconnection(lab, seed=7, baseline=True, **SHORT)  # type: ignore[arg-type]
    s = result.summary
    assert s["verification_passed"], s["verification_reasons"]
    assert s["verification_reasons"] == []
    # reads during the outage came from the caches
    assert s["reads_during_outage"] > 0
    assert s["offline_hits_during_outage"] > 0
    assert s["read_success_rate_during_outage"] > 0.5
    # writes were queued, then applied exactly once
    assert s["writes_queued"] > 0
    assert s["writes_lost"] == 0 and s["writes_duplicated"] == 0
    assert s["writes_applied"] >= s["writes_accepted"]
    assert s["balances_checked"] > 0 and s["balance_mismatches"] == 0
    assert s["drained"] is True and s["drain_time_s"] is not None
    writes = result.writes
    queued = writes[writes["status"] == 202]
    assert len(queued) == s["writes_queued"]
    assert queued["applied"].all() and (queued["ledger_posts"] == 1).all()
    # the outbox filled up during the outage and was empty at the end
    depth = result.outbox.dropna(subset=["outbox_depth"])
    assert depth["outbox_depth"].max() > 0
    assert (depth.groupby("edge")["outbox_depth"].last() == 0).all()
    # the baseline (no cache, same links) could not read or write during the outage
    base = s["baseline"]
    assert base["reads_during_outage"] > 0
    assert base["read_success_rate_during_outage"] < s["read_success_rate_during_outage"]
    assert base["writes_failed_during_outage"] > 0
    assert base["verification_passed"], base["verification_reasons"]
    assert set(result.requests["variant"]) == {"edge", "no-cache"}

    out = result.save(tmp_path / "results")
    for name in ("requests.csv", "outbox.csv", "writes.csv", "summary.json",
                 "timeline_edge.png", "timeline_no_cache.png", "outbox.png"):
        assert (out / name).stat().st_size > 0, name
    saved = json.loads((out / "summary.json").read_text())
    assert saved["verification_passed"] is True
    assert "timeline_edge.png" in saved["plots"]


def test_edge_losing_its_outbox_fails_verification(lab: LocalTarget) -> None:
    def crash_and_lose_outbox() -> None:
        lab.restart_edge("shop-1", crash=True, lose_outbox=True)

    result = disconnection(lab, seed=8, baseline=False, disruption=crash_and_lose_outbox,
                           **{**SHORT, "outage_s": 4.0})  # type: ignore[arg-type]
    s = result.summary
    assert s["verification_passed"] is False
    assert s["writes_lost"] > 0
    assert any("lost" in r for r in s["verification_reasons"])
    lost = result.writes[result.writes["accepted"] & ~result.writes["applied"]]
    assert set(lost["edge"]) == {"shop-1"}


class CutAgainAfterRestore:
    """Cut every link again (refuse) as soon as the experiment restores it, and keep it cut
    until `release()`: the edges cannot replay, so what they queued is certainly still queued
    at the drain deadline and at verification (the edge needs two successful probes, 0.5 s
    apart, before it replays; this re-cuts within a few tens of milliseconds)."""

    def __init__(self, lab: LocalTarget) -> None:
        self.links = list(lab.links().values())
        self.recut = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        seen_down = False
        while not self._stop.is_set():
            states = [link.state().state for link in self.links]
            seen_down = seen_down or all(st == "down" for st in states)
            if seen_down and any(st == "up" for st in states):
                for link in self.links:
                    link.down("refuse")
                self.recut.set()
                return
            time.sleep(0.01)

    def __enter__(self) -> CutAgainAfterRestore:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        for link in self.links:
            link.up()


def test_outbox_not_drained_in_time_is_a_failure(lab: LocalTarget) -> None:
    with CutAgainAfterRestore(lab) as cut:
        result = disconnection(lab, seed=9, baseline=False,
                               **{**SHORT, "drain_timeout_s": 0.01})  # type: ignore[arg-type]
        assert cut.recut.is_set()
    # leave the shared lab drained for the next tests
    drained, _, last = wait_edges(lab.endpoints().edges, timeout_s=120, drained=True)
    assert drained, last
    s = result.summary
    assert s["writes_queued"] > 0
    assert s["drained"] is False and s["drain_time_s"] is None
    assert s["verification_passed"] is False
    assert any("did not drain" in r for r in s["verification_reasons"])
    # what the edges still held is reported as still queued, not as lost
    assert s["writes_still_queued"] > 0 and s["writes_lost"] == 0
    assert any("still queued" in r for r in s["verification_reasons"])


def test_derived_drain_deadline_and_clerks(lab: LocalTarget) -> None:
    """No drain_timeout_s: the deadline comes from the queue and the measured replay rate;
    the clerks' think time bounds what an outage queues."""
    options = {**SHORT, "drain_timeout_s": None, "clerk_rate_per_s": 4.0}
    result = disconnection(lab, seed=10, baseline=False, **options)  # type: ignore[arg-type]
    s = result.summary
    assert s["verification_passed"], s["verification_reasons"]
    assert s["drain_timeout_derived"] is True and s["drain_timeout_s"] >= 30
    assert s["drain_deadline_t"] > s["t_restore"]
    # one clerk at ~4 requests/s for a 3 s outage: a handful of writes, not hundreds
    assert 0 < s["writes_during_outage"] <= 4 * 3.0 + 2


def test_bad_parameters(lab: LocalTarget) -> None:
    with pytest.raises(UnknownEdgeError, match="shop-9"):
        disconnection(lab, edges=["shop-9"], progress=False)
    with pytest.raises(ValueError, match="mode"):
        disconnection(lab, mode="sideways", progress=False)
    with pytest.raises(ValueError, match="outage_s"):
        disconnection(lab, outage_s=-1, progress=False)


def test_drain_allowance_is_derived_from_the_queue_and_the_rate() -> None:
    clock = DrainAllowance(queued=600)
    assert clock.update(600, 1.0) == DRAIN_FLOOR_S + DRAIN_MEASURE_S  # nothing replayed yet
    assert clock.update(500, 2.0) == DRAIN_FLOOR_S + DRAIN_MEASURE_S  # still measuring
    # 3 s for 100 writes: 33.3/s; 500 left need 15 s, three times that plus the floor
    assert clock.update(500, 3.0) == pytest.approx(3.0 + DRAIN_FLOOR_S + 3 * 15.0)
    assert clock.rate_per_s == pytest.approx(100 / 3)
    assert clock.update(499, 60.0) == pytest.approx(78.0)  # fixed once measured
    done = DrainAllowance(queued=5)
    assert done.update(0, 0.5) == pytest.approx(0.5 + DRAIN_FLOOR_S)
