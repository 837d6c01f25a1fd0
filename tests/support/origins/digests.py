"""The token-digest list an origin serves to the edge (contracts §3), as both test origins
build it: one entry per token with its SHA-256, role, warehouse and expiry."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping

GENERATED_AT = "2026-01-01T00:00:00Z"


def digest_list(tokens: Mapping[str, tuple[str, str | None]]) -> bytes:
    """The JSON body for `tokens`: token -> (role, expires_at ISO or None)."""
    digests = [{"sha256": hashlib.sha256(token.encode()).hexdigest(), "role": role,
                "warehouse_id": 1, "expires_at": expires}
               for token, (role, expires) in tokens.items()]
    return json.dumps({"digests": digests, "generated_at": GENERATED_AT}).encode()
