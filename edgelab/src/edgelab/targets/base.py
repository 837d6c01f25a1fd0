"""What every target offers: endpoints, links, tokens and health of the lab's parts."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import pandas as pd

    from edgelab.link import Link


class TargetError(RuntimeError):
    """The lab cannot be reached, started or used; the message says why and what to do."""


class LabNotRunningError(TargetError):
    """No lab is running in the lab directory."""


class UnknownEdgeError(TargetError):
    """An edge name that the target does not have."""


@dataclass(frozen=True, slots=True)
class Endpoints:
    """Where to send requests: the cloud app and every edge cache (name → base URL).

    `direct` maps every edge name to a URL that reaches the *cloud* through that edge's WAN link
    (the no-cache baseline); it is empty where the target has no such path.
    """

    cloud: str
    edges: dict[str, str]
    direct: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Tokens:
    """API tokens the experiments use: admin (cloud), one clerk per edge, the edges' admin token."""

    admin: str
    clerks: dict[str, str]
    edge_admin: str = ""
    devices: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class PartHealth:
    """One row of `target.health()`."""

    name: str
    kind: str  # cloud | edge | link
    url: str
    pid: int | None = None
    node: str | None = None
    healthy: bool = False
    state: str = "unknown"
    outbox_depth: int | None = None
    hit_ratio: float | None = None
    detail: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def health_frame(rows: list[PartHealth]) -> pd.DataFrame:
    import pandas as pd

    columns = ["name", "kind", "url", "pid", "node", "healthy", "state", "outbox_depth",
               "hit_ratio", "detail"]
    return pd.DataFrame([r.to_json() for r in rows], columns=columns)


class Target(Protocol):
    """The interface experiments and notebooks use, the same for the local lab and a cluster."""

    def up(self) -> None: ...

    def down(self) -> None: ...

    def endpoints(self) -> Endpoints: ...

    def links(self) -> dict[str, Link]: ...

    def tokens(self) -> Tokens: ...

    def health(self) -> list[PartHealth]: ...

    def edge_names(self) -> list[str]: ...

    def warehouse_of(self, edge: str) -> str: ...
