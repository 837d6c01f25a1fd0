"""Analytic expectations to compare measurements with (Che approximation, TTL caches), and
what a recorded run shows (when an edge noticed an outage)."""

from edgelab.analysis.che import (
    characteristic_time,
    che_curve,
    che_hit_ratio,
    che_item_hit_probabilities,
    simulate_lru,
    ttl_hit_ratio,
)
from edgelab.analysis.outage import detection_delay, first_offline_answer

__all__ = [
    "characteristic_time",
    "che_curve",
    "che_hit_ratio",
    "che_item_hit_probabilities",
    "detection_delay",
    "first_offline_answer",
    "simulate_lru",
    "ttl_hit_ratio",
]
