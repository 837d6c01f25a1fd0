"""Who queued which outbox entry: per-credential views, read-your-writes counts and shares.

An owner is the credential digest of the request that queued the entry (`proxy.credential_of`:
Authorization plus the credential cookies; '' for anonymous writes, which count together as
one owner and have no share of their own). Only digests are kept. The index covers queued
entries; it is rebuilt from the outbox's stored headers at start and pruned lazily when
entries leave the queue.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol


class QueuedLike(Protocol):
    size: int
    marks: tuple[str, ...]


class QueueLike(Protocol):
    max_entries: int
    max_bytes: int

    def queued_ref(self, entry_id: int) -> QueuedLike | None: ...


@dataclass(frozen=True, slots=True)
class Usage:
    entries: int
    bytes: int


class OutboxOwners:
    def __init__(self, share: float = 0.5) -> None:
        self.share = share  # fraction of the outbox bounds one owner may use
        self._ids: dict[str, set[int]] = {}

    def add(self, entry_id: int, owner: str) -> None:
        self._ids.setdefault(owner, set()).add(entry_id)

    def load(self, owned: Iterable[tuple[int, str]]) -> None:
        for entry_id, owner in owned:
            self.add(entry_id, owner)

    def _live(self, owner: str, queue: QueueLike) -> list[QueuedLike]:
        ids = self._ids.get(owner)
        if not ids:
            return []
        refs = []
        for entry_id in list(ids):
            ref = queue.queued_ref(entry_id)
            if ref is None:
                ids.discard(entry_id)  # replayed, or moved to the dead letters
            else:
                refs.append(ref)
        return refs

    def pending_for(self, owner: str, path: str, queue: QueueLike) -> int:
        """The owner's queued writes that mark `path` (X-Edge-Pending)."""
        return sum(1 for ref in self._live(owner, queue) if path in ref.marks)

    def usage(self, owner: str, queue: QueueLike) -> Usage:
        refs = self._live(owner, queue)
        return Usage(len(refs), sum(ref.size for ref in refs))

    def limits(self, queue: QueueLike) -> Usage:
        return Usage(
            max(1, math.ceil(self.share * queue.max_entries)),
            max(1, math.ceil(self.share * queue.max_bytes)),
        )

    def has_room(self, owner: str, size: int, queue: QueueLike) -> bool:
        """False when one more entry of `size` bytes would pass the owner's share. Anonymous
        writes have no share (nothing tells their writers apart): only the outbox bounds."""
        if not owner:
            return True
        used = self.usage(owner, queue)
        limit = self.limits(queue)
        return used.entries + 1 <= limit.entries and used.bytes + size <= limit.bytes
