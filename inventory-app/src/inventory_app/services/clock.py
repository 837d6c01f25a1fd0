"""Bounds on times that come from clients (an edge's clock may be ahead of the cloud's)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

DEFAULT_MAX_FUTURE_SKEW = dt.timedelta(seconds=300)


@dataclass(frozen=True)
class BoundedTime:
    """The time to record, and how far the client's time was ahead when it was clamped."""

    value: dt.datetime
    clamped_by: dt.timedelta | None = None


def bound_future(claimed: dt.datetime, received: dt.datetime,
                 max_skew: dt.timedelta) -> BoundedTime:
    """`claimed` unless it is more than `max_skew` after `received`; then `received`.

    Times in the past are never changed (late arrivals are normal for an offline edge).
    """
    ahead = claimed - received
    if ahead > max_skew:
        return BoundedTime(received, ahead)
    return BoundedTime(claimed)
