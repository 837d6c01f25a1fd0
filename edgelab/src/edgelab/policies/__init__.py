"""Edge-cache route policies shipped with the lab (files for `EDGE_CACHE_POLICY_FILE`)."""

from __future__ import annotations

from pathlib import Path

INVENTORY_POLICY = Path(__file__).with_name("inventory.yaml")
