"""Analytic expectations to compare measurements with (Che approximation, TTL caches)."""

from edgelab.analysis.che import (
    characteristic_time,
    che_curve,
    che_hit_ratio,
    che_item_hit_probabilities,
    simulate_lru,
    ttl_hit_ratio,
)

__all__ = [
    "characteristic_time",
    "che_curve",
    "che_hit_ratio",
    "che_item_hit_probabilities",
    "simulate_lru",
    "ttl_hit_ratio",
]
