"""Che's approximation and the TTL formula against exact, seeded simulations."""

from __future__ import annotations

import numpy as np
import pytest
from edgelab.analysis import (
    characteristic_time,
    che_curve,
    che_hit_ratio,
    simulate_lru,
    ttl_hit_ratio,
)
from edgelab.workload import BoundedZipf, zipf_probabilities


@pytest.mark.parametrize(
    ("n", "c", "s"),
    [(1000, 50, 0.8), (1000, 200, 0.8), (500, 100, 1.2), (500, 50, 0.0), (2000, 100, 0.99)],
)
def test_che_matches_exact_lru_simulation(n: int, c: int, s: float) -> None:
    analytic = che_hit_ratio(n, c, s)
    measured = simulate_lru(n, c, s, requests=150_000, seed=11, warmup=20_000)
    assert measured == pytest.approx(analytic, abs=0.02), (analytic, measured)


def test_che_edge_cases_and_monotonicity() -> None:
    assert che_hit_ratio(100, 0, 1.0) == 0.0
    assert che_hit_ratio(100, 100, 1.0) == 1.0
    # Uniform popularity: hit ratio ≈ C/N.
    assert che_hit_ratio(1000, 250, 0.0) == pytest.approx(0.25, abs=1e-9)
    curve = che_curve(1000, [10, 50, 100, 500], 0.9)
    assert np.all(np.diff(curve) > 0)
    assert che_hit_ratio(1000, 100, 1.2) > che_hit_ratio(1000, 100, 0.6)
    p = zipf_probabilities(1000, 0.9)
    t = characteristic_time(p, 100)
    assert float(np.sum(1 - np.exp(-p * t))) == pytest.approx(100, rel=1e-9)
    with pytest.raises(ValueError, match="cache size"):
        characteristic_time(p, 2000)


def _simulate_ttl(
    n: int, s: float, rate: float, ttl: float, resetting: bool, requests: int, seed: int
) -> float:
    rng = np.random.default_rng(seed)
    keys = BoundedZipf(n, s, seed=rng).sample(requests).tolist()
    times = np.cumsum(rng.exponential(1.0 / rate, requests)).tolist()
    expiry: dict[int, float] = {}
    hits = 0
    for key, now in zip(keys, times, strict=True):
        if expiry.get(key, -1.0) > now:
            hits += 1
            if resetting:
                expiry[key] = now + ttl
        else:
            expiry[key] = now + ttl
    return hits / requests


@pytest.mark.parametrize("resetting", [False, True])
@pytest.mark.parametrize(("ttl", "s"), [(1.0, 0.8), (10.0, 0.99)])
def test_ttl_formula_matches_simulation(resetting: bool, ttl: float, s: float) -> None:
    n, rate = 500, 100.0
    analytic = ttl_hit_ratio(ttl, rate, n, s, resetting=resetting)
    measured = _simulate_ttl(n, s, rate, ttl, resetting, requests=120_000, seed=5)
    assert measured == pytest.approx(analytic, abs=0.02), (analytic, measured)
    assert ttl_hit_ratio(0.0, rate, n, s) == 0.0
    with pytest.raises(ValueError):
        ttl_hit_ratio(-1.0, rate, n, s)
