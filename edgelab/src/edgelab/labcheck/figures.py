"""Figures of the walkthrough notebooks (01, 02); experiment plots live in ``edgelab.plots``.

Plain ``Figure`` objects (no pyplot state): a notebook shows one by ending a cell with it.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch

STATUS_COLOURS = {
    "MISS": "tab:red",
    "HIT": "tab:green",
    "REVALIDATED": "tab:orange",
    "STALE": "tab:purple",
    "OFFLINE-HIT": "tab:blue",
    "": "tab:gray",
}


def probe_figure(probes: pd.DataFrame) -> Figure:
    """Median and p95 round trip of a health request to each part."""
    stats = probes.groupby("part")["latency_ms"].describe(percentiles=[0.5, 0.95])
    fig = Figure(figsize=(7, 3.5))
    ax = fig.subplots()
    ax.bar(stats.index, stats["50%"], label="median", color="tab:blue")
    ax.scatter(stats.index, stats["95%"], marker="_", s=400, color="black", label="p95")
    ax.set_ylabel("round trip (ms)")
    ax.set_title("Health request round trip per part")
    ax.legend()
    fig.autofmt_xdate(rotation=20)
    fig.tight_layout()
    return fig


def browse_figure(requests: pd.DataFrame) -> Figure:
    """Latency of each browse request, coloured by the edge's X-Edge-Cache status."""
    fig = Figure(figsize=(8, 3.8))
    ax = fig.subplots()
    labels = [
        f"{p}\n#{a} {v}"
        for p, a, v in zip(requests["path"], requests["attempt"], requests["via"], strict=True)
    ]
    status = requests["x_edge_cache"].fillna("").where(requests["via"] == "edge", "")
    colours = [STATUS_COLOURS.get(s, "tab:gray") for s in status]
    ax.bar(range(len(requests)), requests["latency_ms"], color=colours)
    ax.set_xticks(range(len(requests)), labels, fontsize=6, rotation=90)
    ax.set_ylabel("latency (ms)")
    ax.set_title("Browsing through the edge: MISS, then served from the cache")
    shown = [s for s in STATUS_COLOURS if s in set(status)]
    handles = [
        Patch(color=STATUS_COLOURS[s], label=s or "cloud over the WAN (no cache)") for s in shown
    ]
    ax.legend(handles=handles, fontsize=7, ncols=len(handles) or 1, loc="upper left")
    fig.tight_layout()
    return fig


def save(fig: Figure, path: Path) -> Path:
    fig.savefig(path, dpi=120)
    return path
