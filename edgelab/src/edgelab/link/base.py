"""The `Link` interface shared by the local emulator and the cluster (Ansible) link.

A link is the WAN between one edge node and the cloud. It is `up`, `down` (in one of two
modes) or `degraded` (extra latency, jitter, loss, a rate limit):

- ``refuse``: new connections are reset and existing ones are cut (the cloud is unreachable
  and the network says so quickly).
- ``blackhole``: packets vanish; connections are accepted (locally) or time out (cluster) and
  never answered; existing connections stall.

`latency_ms` is a one-way delay added in *each* direction, so a request/response round trip
gains twice `latency_ms`.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

LinkStateName = Literal["up", "down", "degraded"]
LinkMode = Literal["refuse", "blackhole"]
LINK_MODES: tuple[str, ...] = ("refuse", "blackhole")
LINK_STATES: tuple[str, ...] = ("up", "down", "degraded")


class LinkError(RuntimeError):
    """A link could not be controlled (control API unreachable, playbook failed, ...)."""


@dataclass(frozen=True)
class LinkState:
    """What a link is doing now. `since` is a Unix timestamp (seconds) of the last change."""

    state: LinkStateName = "up"
    mode: LinkMode | None = None
    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    loss: float = 0.0
    rate_kbit: float | None = None
    since: float = field(default_factory=time.time)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LinkState:
        state = str(data.get("state", "up"))
        if state not in LINK_STATES:
            raise ValueError(f"unknown link state {state!r}; expected one of {LINK_STATES}")
        mode = data.get("mode")
        if mode is not None:
            validate_mode(str(mode))
        rate = data.get("rate_kbit")
        return cls(
            state=state,  # type: ignore[arg-type]
            mode=mode,
            latency_ms=float(data.get("latency_ms", 0.0)),
            jitter_ms=float(data.get("jitter_ms", 0.0)),
            loss=float(data.get("loss", 0.0)),
            rate_kbit=None if rate is None else float(rate),
            since=float(data.get("since", time.time())),
        )


def validate_mode(mode: str) -> LinkMode:
    """Return `mode` if it is a known down mode, else raise `ValueError`."""
    if mode not in LINK_MODES:
        raise ValueError(f"unknown link mode {mode!r}; expected 'refuse' or 'blackhole'")
    return mode  # type: ignore[return-value]


def _finite(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number, got {value!r}")
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return number


def validate_degrade(
    latency_ms: Any = 0,
    jitter_ms: Any = 0,
    loss: Any = 0.0,
    rate_kbit: Any = None,
) -> tuple[float, float, float, float | None]:
    """Check degrade parameters; return them as floats or raise `ValueError` naming the bad one."""
    latency = _finite("latency_ms", latency_ms)
    if latency < 0:
        raise ValueError(f"latency_ms must be >= 0, got {latency_ms!r}")
    jitter = _finite("jitter_ms", jitter_ms)
    if jitter < 0:
        raise ValueError(f"jitter_ms must be >= 0, got {jitter_ms!r}")
    loss_f = _finite("loss", loss)
    if not 0.0 <= loss_f <= 1.0:
        raise ValueError(f"loss must be a fraction between 0 and 1, got {loss!r}")
    rate: float | None = None
    if rate_kbit is not None:
        rate = _finite("rate_kbit", rate_kbit)
        if rate <= 0:
            raise ValueError(f"rate_kbit must be > 0 (or omitted for no limit), got {rate_kbit!r}")
    return latency, jitter, loss_f, rate


@runtime_checkable
class Link(Protocol):
    """Control of one WAN link. Methods are synchronous and return when the change is in force."""

    def up(self) -> LinkState:
        """Restore the link: no impairment at all."""
        ...

    def down(self, mode: str = "refuse") -> LinkState:
        """Cut the link (`refuse` or `blackhole`)."""
        ...

    def degrade(
        self,
        latency_ms: float = 0,
        jitter_ms: float = 0,
        loss: float = 0.0,
        rate_kbit: float | None = None,
    ) -> LinkState:
        """Keep the link up but slow/lossy. All-zero parameters mean `up`."""
        ...

    def state(self) -> LinkState:
        """The link's current state."""
        ...
