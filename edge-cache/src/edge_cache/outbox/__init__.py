"""Durable write outbox: queued unsafe requests, their replay, and the dead-letter list."""

from edge_cache.outbox.entry import DEAD, QUEUED, OutboxEntry
from edge_cache.outbox.paths import ReplayPlan, marked_paths
from edge_cache.outbox.replay import Replayer
from edge_cache.outbox.store import (
    Outbox,
    OutboxFull,
    OutboxStartupError,
    OutboxStorageError,
)

__all__ = [
    "DEAD",
    "QUEUED",
    "Outbox",
    "OutboxEntry",
    "OutboxFull",
    "OutboxStartupError",
    "OutboxStorageError",
    "ReplayPlan",
    "Replayer",
    "marked_paths",
]
