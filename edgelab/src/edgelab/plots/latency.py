"""Latency distributions: per cache status, and through the edge vs straight to the cloud."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from edgelab.plots.language import tr
from edgelab.plots.style import STATUS_COLORS, legend_outside, save


def latency_ecdf(
    requests: pd.DataFrame,
    path: str | Path | None = None,
    *,
    by: str = "cache_status",
    title: str = "Latency by cache status",
    latency_col: str = "latency_ms",
) -> Figure:
    """ECDF of latency per group (log x), with p50 and p95 in the legend (outside)."""
    fig = Figure(figsize=(9, 5))
    ax = fig.subplots()
    groups = requests.assign(_group=requests[by].fillna(f"(no {by})").astype(str))
    for name, group in groups.groupby("_group", sort=True):
        values = group[latency_col].dropna().astype(float).clip(lower=0.01)
        if values.empty:
            continue
        p50, p95 = np.percentile(values, [50, 95])
        label = f"{name} (n={len(values)}, p50 {p50:.1f} ms, p95 {p95:.1f} ms)"
        ax.ecdf(values, label=label, color=STATUS_COLORS.get(str(name), "#757575"))
    ax.set_xscale("log")
    ax.set_xlabel(tr("latency (ms, log scale)"))
    ax.set_ylabel(tr("fraction of requests ≤ latency"))
    ax.set_ylim(0, 1.02)
    ax.set_title(tr(title))
    ax.grid(alpha=0.3, which="both")
    legend_outside(ax)
    return save(fig, path)


def edge_vs_direct(
    table: pd.DataFrame,
    path: str | Path | None = None,
    *,
    title: str = "Latency through the edge cache vs directly to the cloud",
    wan_col: str = "wan_latency_ms",
    path_col: str = "path",
    latency_col: str = "latency_ms",
    order: Sequence[str] = ("edge", "direct"),
) -> Figure:
    """Median latency (line) and p5–p95 band per access path vs added WAN latency; the x axis
    starts at 0 so a single WAN latency is a point, not a 2 ms wide axis."""
    fig = Figure(figsize=(9, 5))
    ax = fig.subplots()
    names = [n for n in order if n in set(table[path_col])]
    names += sorted(set(table[path_col]) - set(names))
    styles = {"edge": ("#1565c0", "o"), "direct": ("#c62828", "s")}
    for name in names:
        group = table[table[path_col] == name]
        stats = group.groupby(wan_col)[latency_col].describe(percentiles=[0.05, 0.5, 0.95])
        color, marker = styles.get(name, ("#555555", "^"))
        ax.plot(stats.index, stats["50%"], marker=marker, color=color, markersize=7,
                label=f"{tr(name)}: {tr('median')}")
        if len(stats) > 1:
            ax.fill_between(stats.index, stats["5%"], stats["95%"], color=color, alpha=0.15,
                            label=f"{tr(name)}: p5–p95")
        else:
            ax.errorbar(stats.index, stats["50%"],
                        yerr=[stats["50%"] - stats["5%"], stats["95%"] - stats["50%"]],
                        color=color, capsize=6, linewidth=1, label=f"{tr(name)}: p5–p95")
    wan = np.sort(table[wan_col].unique().astype(float))
    wan = wan[wan > 0]
    if len(wan):
        line = np.linspace(0, float(wan.max()) * 1.15, 20)
        ax.plot(line[line > 0], 2 * line[line > 0], ":", color="#616161",
                label=tr("2 × one-way WAN latency (one RTT)"))
        ax.set_xlim(0, float(wan.max()) * 1.15)
    ax.set_xlabel(tr("added one-way WAN latency (ms)"))
    ax.set_ylabel(tr("request latency (ms, log scale)"))
    ax.set_yscale("log")
    ax.set_title(tr(title))
    ax.grid(alpha=0.3, which="both")
    legend_outside(ax)
    return save(fig, path)
