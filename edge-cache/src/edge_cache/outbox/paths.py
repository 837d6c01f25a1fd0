"""Which cached paths a queued write touches, and which queued writes must wait for each other."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class ReplayPlan:
    """Route policy for one queued write: extra paths it makes stale (`affects`) and whether
    POSTs to this route may replay in parallel with each other (`replay: parallel`)."""

    affects: tuple[str, ...] = field(default_factory=tuple)
    parallel: bool = False


PolicyLookup = Callable[[str, str], ReplayPlan]  # (method, path) -> plan


def default_policy(method: str, path: str) -> ReplayPlan:
    return ReplayPlan()


def parent_path(path: str) -> str | None:
    """The parent collection of `path` ("/api/products/17" → "/api/products"), or None."""
    trimmed = path.rstrip("/")
    if not trimmed or "/" not in trimmed[1:]:
        return None
    return trimmed.rsplit("/", 1)[0] or None


def ancestors(path: str) -> list[str]:
    """Proper ancestors of `path` with at least one segment, nearest first."""
    out: list[str] = []
    current = parent_path(path)
    while current:
        out.append(current)
        current = parent_path(current)
    return out


def marked_paths(path: str, affects: Iterable[str] = ()) -> tuple[str, ...]:
    """Paths whose cached responses a queued write to `path` makes pending/stale: the path
    itself, its parent collection and the route's `affects` paths (deduplicated, in order)."""
    seen: dict[str, None] = {path: None}
    parent = parent_path(path)
    if parent:
        seen[parent] = None
    for extra in affects:
        if extra:
            seen[extra] = None
    return tuple(seen)


class OrderGate:
    """Decides, for queued entries visited in queue order, whether an entry must wait for an
    earlier pending one: same path, or one path a prefix (ancestor) of the other — except two
    POSTs to the same `parallel` route, which do not wait for each other."""

    __slots__ = ("_all_exact", "_ancestors", "_strict_exact")

    def __init__(self) -> None:
        self._all_exact: set[str] = set()
        self._strict_exact: set[str] = set()
        self._ancestors: set[str] = set()

    def blocked(self, path: str, parallel: bool) -> bool:
        if path in self._strict_exact or (not parallel and path in self._all_exact):
            return True
        if path in self._ancestors:
            return True
        return any(a in self._all_exact for a in ancestors(path))

    def add(self, path: str, parallel: bool) -> None:
        """Record an earlier pending entry (call after `blocked`, for every visited entry)."""
        self._all_exact.add(path)
        if not parallel:
            self._strict_exact.add(path)
        self._ancestors.update(ancestors(path))
