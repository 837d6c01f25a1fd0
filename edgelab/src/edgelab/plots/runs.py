"""An experiment's figures, saved as PNG next to its CSV.

Plotting problems are logged and never fail a run; the list of files written is returned.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from edgelab.analysis.outage import first_offline_answer
from edgelab.plots.hit_ratio import hit_ratio_vs_cache_size
from edgelab.plots.language import human_duration, tr
from edgelab.plots.latency import edge_vs_direct, latency_ecdf
from edgelab.plots.timeline import outbox_depth, timeline

log = logging.getLogger(__name__)


def _try(path: Path, draw: Callable[[], Any], written: list[Path]) -> None:
    try:
        draw()
    except Exception as exc:  # a figure must never fail the experiment
        log.warning("figure %s failed: %s", path.name, exc)
        return
    if path.exists():
        written.append(path)


def disconnection_plots(out: Path, requests: pd.DataFrame, outbox: pd.DataFrame,
                        summary: dict[str, Any]) -> list[Path]:
    """timeline_edge.png, timeline_no_cache.png, outbox.png, latency_ecdf.png."""
    written: list[Path] = []
    edge = requests[requests["variant"] == "edge"] if "variant" in requests else requests
    outage = (float(summary["t_cut"]), float(summary["t_restore"]))
    drain = summary.get("drain_time_s")
    drained_at = outage[1] + float(drain) if drain is not None else None
    detected_at = first_offline_answer(edge, outage[0])
    states = outbox if "state" in outbox else None
    p = out / "timeline_edge.png"
    title = tr("With edge caches: link down {d} ({mode})",
                     d=human_duration(outage[1] - outage[0]),
                     mode=summary.get("mode", "refuse"))
    _try(p, lambda: timeline(edge, outage=outage, path=p, title=title, states=states,
                                   detected_at=detected_at, drained_at=drained_at), written)
    base = summary.get("baseline") or {}
    if "variant" in requests and base.get("t_cut") is not None:
        direct = requests[requests["variant"] == "no-cache"]
        b_outage = (float(base["t_cut"]), float(base["t_restore"]))
        p2 = out / "timeline_no_cache.png"
        t2 = tr("No cache: clients straight to the cloud through the same link")
        _try(p2, lambda: timeline(direct, outage=b_outage, path=p2, title=t2), written)
    p3 = out / "outbox.png"
    samples = outbox.dropna(subset=["outbox_depth"])
    deadline = summary.get("drain_deadline_t")
    _try(p3, lambda: outbox_depth(samples, outage=outage, path=p3, drained_at=drained_at,
                                        deadline=float(deadline) if deadline else None),
         written)
    p4 = out / "latency_ecdf.png"
    t4 = tr("Latency by cache status (with edge caches)")
    _try(p4, lambda: latency_ecdf(edge.dropna(subset=["latency_ms"]), path=p4, title=t4),
         written)
    return written


def sweep_plots(out: Path, table: pd.DataFrame, requests: pd.DataFrame,
                n_items: int) -> list[Path]:
    """hit_ratio_ttl-<ttl>.png per TTL and edge_vs_direct.png."""
    written: list[Path] = []
    for ttl, group in table.groupby("ttl_s"):
        columns = [c for c in ("hit_ratio", "lru_band_low", "lru_band_high",
                               "edge_replay_hit_ratio") if c in group]
        mean = group.groupby(["zipf_s", "cache_size"], as_index=False)[columns].mean()
        seconds = float(str(ttl))
        path = out / f"hit_ratio_ttl-{seconds:g}.png"
        title = tr(
            "Hit ratio vs cache size, TTL {d} (measured; Che approximation for LRU dashed)",
            d=human_duration(seconds))

        def draw(m: pd.DataFrame = mean, p: Path = path, t: str = title,
                 analytic: bool = seconds > 0) -> Any:
            # with TTL 0 nothing is ever fresh: Che's LRU curve does not apply
            return hit_ratio_vs_cache_size(m, n_items, path=p, skew_col="zipf_s", title=t,
                                                 analytic=analytic)

        _try(path, draw, written)
    if len(requests) and "access" in requests:
        if "phase" in requests:  # only the edge-vs-direct comparison, not the grid's cold runs
            requests = requests[requests["phase"] == "compare"]
        ok = requests[requests["status"].isin((200, 304))]
        p = out / "edge_vs_direct.png"
        _try(p, lambda: edge_vs_direct(ok, path=p, path_col="access"), written)
    return written
