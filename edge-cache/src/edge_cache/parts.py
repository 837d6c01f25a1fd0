"""What the request path needs from the sidecar's parts, as protocols.

`proxy.Proxy`, `admin.EdgeAdmin` and the wiring (`app.EdgeCache`) meet here: the proxy
depends on these interfaces, not on the wiring object, so `app -> proxy` is the only direction
(no import circle).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from edge_cache.messages import Request
from edge_cache.metrics import Metrics
from edge_cache.origin_client import OriginClient
from edge_cache.outbox import Outbox
from edge_cache.policy import Policies
from edge_cache.settings import Settings
from edge_cache.store import CacheStore


class HealthLike(Protocol):
    """`health.OriginHealth`, or `standins.AlwaysOnline` in plain tests."""

    state: str
    since: float

    def is_online(self) -> bool: ...
    def record_failure(self, reason: str) -> None: ...
    def record_success(self) -> None: ...
    def suspect(self, reason: str) -> None: ...
    async def wait_online(self) -> None: ...


class AuthLike(Protocol):
    """`auth.CredentialVerifier`, or `standins.OpenAccess`."""

    def verify(self, request: Request) -> bool: ...
    def accepts(self, request: Request) -> bool: ...
    def is_admin(self, request: Request) -> bool: ...
    async def revoke(self, digest: str) -> bool: ...


class Component(Protocol):
    """A background part the wiring starts and stops (change feed, warmer)."""

    def start(self) -> object: ...
    async def stop(self) -> None: ...


class EdgeParts(Protocol):
    """The parts of one sidecar that the request path uses (`app.EdgeCache` has them)."""

    settings: Settings
    clock: Callable[[], float]
    metrics: Metrics
    store: CacheStore
    origin: OriginClient
    policies: Policies

    @property
    def health(self) -> HealthLike: ...
    @property
    def outbox(self) -> Outbox | None: ...
    @property
    def auth(self) -> AuthLike: ...
    def status(self) -> dict[str, object]: ...
