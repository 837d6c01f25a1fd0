"""When an edge noticed an outage, from the requests a workload recorded.

The first answer an edge marks ``OFFLINE-HIT`` at or after the cut is the moment it stopped
asking the cloud: the timeline plot marks it and the grader recomputes the detection delay
from it (the reference of the 03 exercise).
"""

from __future__ import annotations

import pandas as pd


def first_offline_answer(requests: pd.DataFrame, t_cut: float) -> float | None:
    """Time ``t`` of the first ``OFFLINE-HIT`` at or after ``t_cut`` (through an edge, when
    the table has a ``variant`` column); None when there is none."""
    frame = requests
    if "cache_status" not in frame:
        return None
    if "variant" in frame:
        frame = frame[frame["variant"] == "edge"]
    offline = frame[(frame["t"] >= t_cut) & (frame["cache_status"] == "OFFLINE-HIT")]
    return None if offline.empty else float(offline["t"].min())


def detection_delay(requests: pd.DataFrame, t_cut: float) -> float | None:
    """Seconds from the cut to the first answer an edge marked ``OFFLINE-HIT``."""
    first = first_offline_answer(requests, t_cut)
    return None if first is None else first - float(t_cut)
