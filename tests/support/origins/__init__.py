"""Test origins: real aiohttp servers on loopback ports that the edge-cache tests put behind
the sidecar. `ScriptedOrigin` answers what a test scripts per path (the RFC tests);
`LedgerOrigin` applies writes to an in-memory system of record (outbox, replay, conflicts).
Both can refuse connections or blackhole requests (`SwitchableServer`)."""

from tests.support.origins.digests import digest_list
from tests.support.origins.ledger import Applied, LedgerOrigin
from tests.support.origins.scripted import Handler, Script, ScriptedOrigin, Seen, token_digests
from tests.support.origins.switchable import SwitchableServer

__all__ = [
    "Applied",
    "Handler",
    "LedgerOrigin",
    "Script",
    "ScriptedOrigin",
    "Seen",
    "SwitchableServer",
    "digest_list",
    "token_digests",
]
