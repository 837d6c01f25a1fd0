"""Figures of the walkthrough notebooks: health round trips per part (01), browsing through
the edge (02)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from edgelab.plots.language import tr
from edgelab.plots.style import STATUS_COLORS, save

CLOUD = "cloud over the WAN (no cache)"
STATUS_COLOURS = {**STATUS_COLORS, "": "#9e9e9e"}


def probe_figure(probes: pd.DataFrame, path: str | Path | None = None) -> Figure:
    """Median and p95 round trip of a health request to each part (log y: parts differ by
    decades once a link is slow)."""
    stats = probes.groupby("part")["latency_ms"].describe(percentiles=[0.5, 0.95])
    fig = Figure(figsize=(8, 3.8))
    ax = fig.subplots()
    ax.bar(stats.index, stats["50%"], label=tr("median"), color="#1565c0")
    ax.scatter(stats.index, stats["95%"], marker="_", s=400, color="black", label="p95")
    ax.set_yscale("log")
    ax.set_ylabel(tr("round trip (ms, log scale)"))
    ax.set_title(tr("Health request round trip per part"))
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    ax.tick_params(axis="x", labelrotation=20)
    ax.grid(axis="y", alpha=0.3, which="both")
    fig.tight_layout()
    return save(fig, path)


def browse_figure(requests: pd.DataFrame, path: str | Path | None = None) -> Figure:
    """Latency of each browse request, coloured by the edge's X-Edge-Cache status; log y so
    a 1 ms hit and an 80 ms round trip are both visible; the legend beside the bars."""
    fig = Figure(figsize=(9, 4.2))
    ax = fig.subplots()
    labels = [
        f"{p}\n#{a} {v}"
        for p, a, v in zip(requests["path"], requests["attempt"], requests["via"], strict=True)
    ]
    status = requests["x_edge_cache"].fillna("").where(requests["via"] == "edge", "")
    colours = [STATUS_COLOURS.get(s, "#9e9e9e") for s in status]
    ax.bar(range(len(requests)), requests["latency_ms"].clip(lower=0.1), color=colours)
    ax.set_xticks(range(len(requests)), labels, fontsize=6, rotation=90)
    ax.set_yscale("log")
    ax.set_ylabel(tr("latency (ms, log scale)"))
    ax.set_title(tr("Browsing through the edge: MISS, then served from the cache"))
    ax.grid(axis="y", alpha=0.3, which="both")
    shown = [s for s in STATUS_COLOURS if s in set(status)]
    handles = [Patch(color=STATUS_COLOURS[s], label=s or tr(CLOUD)) for s in shown]
    ax.legend(handles=handles, fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0),
              frameon=False)
    fig.tight_layout()
    return save(fig, path)
