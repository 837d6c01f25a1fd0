"""Bounded Zipf popularity over a finite catalogue (inverse-CDF sampling, seeded).

Item of rank k (1-based) has probability ``k**-s / H(N, s)``. Unlike ``numpy.random.zipf``
(the unbounded zeta distribution, which needs s > 1), any exponent s >= 0 works over N keys:
s = 0 is uniform, s ≈ 0.6-1.0 matches web and shop catalogues.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt


def zipf_probabilities(n: int, s: float) -> npt.NDArray[np.float64]:
    """Probabilities of ranks 1..n under bounded Zipf with exponent `s` (sum to 1)."""
    if n < 1:
        raise ValueError(f"number of keys must be >= 1, got {n}")
    if not np.isfinite(s) or s < 0:
        raise ValueError(f"Zipf exponent s must be >= 0, got {s}")
    weights = np.arange(1, n + 1, dtype=np.float64) ** -float(s)
    return weights / weights.sum()


class BoundedZipf:
    """Seeded sampler of indices 0..n-1 (0 = most popular) with bounded Zipf(s) popularity."""

    def __init__(self, n: int, s: float, seed: int | np.random.Generator | None = None) -> None:
        self.n = n
        self.s = float(s)
        self.p = zipf_probabilities(n, s)
        self._cdf = np.cumsum(self.p)
        self._cdf[-1] = 1.0
        self.rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)

    def sample(self, size: int | None = None) -> npt.NDArray[np.int64]:
        """`size` indices (0-based ranks) by inverse-CDF sampling."""
        u = self.rng.random(1 if size is None else size)
        return np.searchsorted(self._cdf, u, side="right").astype(np.int64)

    def one(self) -> int:
        """One index."""
        return int(self.sample(1)[0])
