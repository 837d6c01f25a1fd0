"""Test origins: real aiohttp servers on loopback ports that the edge-cache tests put behind
the sidecar. `ScriptedOrigin` answers what a test scripts per path (the RFC tests);
`LedgerOrigin` applies writes to an in-memory system of record (outbox, replay, conflicts).
Both can refuse connections or blackhole requests (`SwitchableServer`). Synchronous tests serve
an `http.server` handler from a thread (`serve_in_thread`)."""

from tests.support.origins.digests import digest_list
from tests.support.origins.ledger import Applied, LedgerOrigin
from tests.support.origins.scripted import Handler, Script, ScriptedOrigin, Seen, token_digests
from tests.support.origins.switchable import SwitchableServer
from tests.support.origins.threaded import QuietHandler, serve_in_thread

__all__ = [
    "Applied",
    "Handler",
    "LedgerOrigin",
    "QuietHandler",
    "Script",
    "ScriptedOrigin",
    "Seen",
    "SwitchableServer",
    "digest_list",
    "serve_in_thread",
    "token_digests",
]
