"""Experiments: run against any target, return tidy pandas tables, write CSV/JSON/PNG.

- `disconnection(target, outage_s=…)`: shops keep working while their link is down; verifies
  exactly-once application of every accepted write; no-cache baseline through the same link.
- `cache_sweep(settings_or_local_target, ttls=…, cache_sizes=…, zipf_s=…, wan_latency_ms=…)`:
  hit ratio and latency per point, with Che's approximation alongside.
"""

from edgelab.experiments.cache_sweep import CacheSweepResult, cache_sweep
from edgelab.experiments.disconnection import DisconnectionResult, disconnection
from edgelab.experiments.verification import Verification, verify_writes, writes_table

__all__ = [
    "CacheSweepResult",
    "DisconnectionResult",
    "Verification",
    "cache_sweep",
    "disconnection",
    "verify_writes",
    "writes_table",
]
