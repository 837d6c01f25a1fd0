"""Analytic hit ratios: Che's approximation for LRU, and TTL caches, under IRM with Zipf popularity.

Independent Reference Model (IRM): requests are independent draws; item i (rank i) is asked for
with probability p_i = i**-s / H(N, s).

*LRU (Che et al. 2002; Fricker, Robert & Roberts 2012, arXiv:1202.3974).* An LRU cache of C
items behaves like a cache where each item stays for a "characteristic time" T after its last
request. T solves ``sum_i (1 - exp(-p_i T)) = C`` (T counted in requests); item i is a hit
with probability ``1 - exp(-p_i T)`` and the hit ratio is ``sum_i p_i (1 - exp(-p_i T))``.

*TTL cache.* With Poisson requests at rate λ_i = Λ p_i per second and a TTL of τ seconds:

- non-resetting TTL (HTTP ``max-age``: the entry expires τ after it was fetched), hit
  probability ``λ_i τ / (1 + λ_i τ)`` (each miss starts a cycle of 1 + λ_i τ requests on average);
- resetting TTL (every hit restarts the timer, i.e. LRU's characteristic time),
  ``1 - exp(-λ_i τ)``.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import numpy.typing as npt
from scipy.optimize import brentq

from edgelab.workload.zipf import BoundedZipf, zipf_probabilities

FloatArray = npt.NDArray[np.float64]


def characteristic_time(p: FloatArray, cache_size: float) -> float:
    """Che's characteristic time T (in requests) for an LRU cache of `cache_size` items."""
    n = len(p)
    if not 0 < cache_size < n:
        raise ValueError(f"cache size must be between 0 and the number of items ({n}), exclusive")

    def occupancy(t: float) -> float:
        return float(np.sum(-np.expm1(-p * t))) - cache_size

    hi = 1.0
    while occupancy(hi) < 0:
        hi *= 2.0
        if hi > 1e18:  # pragma: no cover - only for absurd inputs
            raise ValueError("could not bracket the characteristic time")
    return float(brentq(occupancy, 0.0, hi, xtol=1e-12, rtol=1e-12, maxiter=500))


def che_item_hit_probabilities(p: FloatArray, cache_size: float) -> FloatArray:
    """Per-item LRU hit probability ``1 - exp(-p_i T)`` (all ones when everything fits)."""
    if cache_size <= 0:
        return np.zeros_like(p)
    if cache_size >= len(p):
        return np.ones_like(p)
    t = characteristic_time(p, cache_size)
    return -np.expm1(-p * t)


def che_hit_ratio(n_items: int, cache_size: float, s: float) -> float:
    """LRU hit ratio under IRM with bounded Zipf(s) over `n_items`, by Che's approximation."""
    p = zipf_probabilities(n_items, s)
    return float(np.sum(p * che_item_hit_probabilities(p, cache_size)))


def che_curve(n_items: int, cache_sizes: npt.ArrayLike, s: float) -> FloatArray:
    """`che_hit_ratio` for each cache size."""
    return np.array([che_hit_ratio(n_items, float(c), s) for c in np.atleast_1d(cache_sizes)])


def ttl_hit_ratio(
    ttl_s: float, request_rate_per_s: float, n_items: int, s: float, resetting: bool = False
) -> float:
    """Hit ratio of a TTL cache (no size limit) with Poisson requests, Zipf(s) over `n_items`.

    `request_rate_per_s` is the total rate Λ over all items. ``resetting=False`` is HTTP
    ``max-age`` semantics (the timer starts when the entry is fetched).
    """
    if ttl_s < 0 or request_rate_per_s < 0:
        raise ValueError("TTL and request rate must be >= 0")
    p = zipf_probabilities(n_items, s)
    x = request_rate_per_s * p * ttl_s
    per_item = -np.expm1(-x) if resetting else x / (1.0 + x)
    return float(np.sum(p * per_item))


def simulate_lru(
    n_items: int, cache_size: int, s: float, requests: int, seed: int = 0, warmup: int = 0
) -> float:
    """Measured hit ratio of an exact LRU cache fed by seeded bounded-Zipf requests.

    The first `warmup` requests fill the cache and are not counted.
    """
    keys = BoundedZipf(n_items, s, seed=seed).sample(warmup + requests)
    cache: OrderedDict[int, None] = OrderedDict()
    hits = 0
    for index, key in enumerate(keys.tolist()):
        if key in cache:
            cache.move_to_end(key)
            if index >= warmup:
                hits += 1
        else:
            cache[key] = None
            if len(cache) > cache_size:
                cache.popitem(last=False)
    return hits / requests if requests else 0.0
