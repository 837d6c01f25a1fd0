"""Exact replays of a request sequence: LRU, FIFO, and LRU with a concurrent run's timing."""

from __future__ import annotations

import numpy as np
import pytest
from edgelab.analysis import simulate_lru
from edgelab.analysis.replay import edge_band, edge_replay, fifo_hits, lru_hits
from edgelab.workload import BoundedZipf


def test_lru_replay_is_the_lru_simulation_and_differs_from_fifo() -> None:
    keys = BoundedZipf(50, 1.2, seed=5).sample(600).tolist()
    for size in (2, 5, 20):
        # simulate_lru draws the same seeded keys, so both must agree exactly
        assert lru_hits(keys, size, warmup=100) / 500 == simulate_lru(
            50, size, 1.2, 500, seed=5, warmup=100)
        assert fifo_hits(keys, size, warmup=100) < lru_hits(keys, size, warmup=100)
    assert lru_hits(["a", "b", "a", "c", "b", "a"], 2) == 1  # only the second "a"
    assert fifo_hits(["a", "b", "a", "c", "a"], 2) == 1  # "c" evicts "a" (inserted first)


def test_sequential_timing_is_plain_lru() -> None:
    keys = BoundedZipf(30, 1.0, seed=2).sample(300).tolist()
    starts = np.arange(300, dtype=float)
    counts = edge_replay(keys, starts, starts + 0.5, 4, measured=[i >= 50 for i in range(300)])
    assert counts.hits == lru_hits(keys, 4, warmup=50)
    assert counts.coalesced == 0
    assert counts.hits + counts.misses == 250


def test_concurrent_misses_coalesce_and_insert_when_the_fetch_is_back() -> None:
    # a and a overlap: one fetch, one waiter; b is looked up before a's fetch is back
    keys = ["a", "a", "b", "a"]
    starts = [0.0, 0.1, 0.2, 2.0]
    ends = [1.0, 1.0, 1.5, 2.1]
    counts = edge_replay(keys, starts, ends, 1, measured=[True] * 4)
    # b's answer arrives last (1.5) and evicts a, so the request at 2.0 misses
    assert (counts.misses, counts.coalesced, counts.hits) == (3, 1, 0)
    # a one-client LRU would count the waiter as a hit
    assert lru_hits(keys, 1) == 1
    # a failed fetch caches nothing
    failed = edge_replay(["a", "a"], [0.0, 2.0], [1.0, 2.1], 1, [True, True], ok=[False, True])
    assert failed.hits == 0


def test_ttl_expires_entries() -> None:
    counts = edge_replay(["a", "a", "a"], [0.0, 1.0, 5.0], [0.1, 1.1, 5.1], 1,
                         measured=[True] * 3, ttl_s=3.0)
    assert counts.hits == 1  # 1.0 is fresh, 5.0 is 4.9 s after the answer came in


@pytest.mark.parametrize("size,s", [(1, 0.6), (1, 1.4), (3, 1.4), (10, 1.0)])
def test_band_holds_a_run_whose_decisions_fall_anywhere_in_their_intervals(
    size: int, s: float
) -> None:
    """A concurrent run is simulated: 8 clients, misses slower than hits; its edge decides
    each lookup and insertion at a time the client cannot see (drawn inside the slack). Every
    such run falls in the band computed from the client-side times alone, for many seeds."""
    rng = np.random.default_rng(11)
    for trial in range(10):
        keys = BoundedZipf(100, s, seed=trial).sample(300).tolist()
        clients = np.zeros(8)
        starts, ends = [], []
        cached: set[int] = set()
        for k in keys:  # a rough schedule: each request goes to the first free client
            c = int(np.argmin(clients))
            start = clients[c] + rng.uniform(0.0, 0.0005)
            took = 0.002 if k in cached else 0.045
            cached.add(k)
            starts.append(start)
            ends.append(start + took * rng.uniform(0.8, 1.5))
            clients[c] = ends[-1]
        st, en = np.array(starts), np.array(ends)
        measured = np.arange(300) >= 100
        jitter = 0.003
        band = edge_band(keys, st, en, size, measured, jitter_s=jitter)
        look = np.minimum(st + rng.uniform(0.0, jitter, 300), en)
        ins = np.maximum(en - rng.uniform(0.0, jitter, 300), look)
        real = edge_replay(keys, st, en, size, measured, lookup_at=look, insert_at=ins)
        assert band.low <= real.hits <= band.high, (trial, band, real)
        assert band.low <= band.expected <= band.high
        # deterministic: the same table gives the same band
        assert edge_band(keys, st, en, size, measured, jitter_s=jitter) == band


def test_band_rejects_a_fifo_edge() -> None:
    """Sequential requests (no timing slack): the band is the exact LRU count, and a FIFO
    edge's count lies outside it."""
    keys = BoundedZipf(40, 1.3, seed=9).sample(400).tolist()
    starts = np.arange(400, dtype=float)
    measured = np.arange(400) >= 100
    band = edge_band(keys, starts, starts + 0.1, 3, measured, jitter_s=0.0)
    assert band.expected == lru_hits(keys, 3, warmup=100)
    assert not band.low <= fifo_hits(keys, 3, warmup=100) <= band.high
