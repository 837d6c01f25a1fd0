"""Hit ratio against cache size: measured points, the LRU replay band, Che's curve."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from edgelab.analysis.che import che_curve
from edgelab.plots.language import tr
from edgelab.plots.style import legend_outside, save


def hit_ratio_vs_cache_size(
    table: pd.DataFrame,
    n_items: int,
    path: str | Path | None = None,
    *,
    title: str = "Hit ratio vs cache size (measured; Che approximation for LRU dashed)",
    size_col: str = "cache_size",
    skew_col: str = "skew",
    hit_col: str = "hit_ratio",
    analytic: bool = True,
    band_cols: tuple[str, str] = ("lru_band_low", "lru_band_high"),
    replay_col: str = "edge_replay_hit_ratio",
) -> Figure:
    """Measured hit ratio per skew (markers) with Che's analytic LRU curve (dashed); where the
    table has them, the band of an exact LRU replay of the run's own requests (error bars) and
    that replay's hit ratio (open markers)."""
    fig = Figure(figsize=(9, 5))
    ax = fig.subplots()
    colors = matplotlib.colormaps["viridis"]
    skews = sorted(table[skew_col].unique())
    for i, skew in enumerate(skews):
        color = colors(i / max(len(skews) - 1, 1) * 0.85)
        group = table[table[skew_col] == skew].sort_values(size_col)
        ax.plot(group[size_col], group[hit_col], "o-", color=color, markersize=7,
                label=f"s = {skew:g} {tr('measured')}")
        low, high = band_cols
        if low in group and high in group and group[low].notna().any():
            ax.errorbar(group[size_col], (group[low] + group[high]) / 2,
                        yerr=(group[high] - group[low]) / 2, fmt="none", ecolor=color,
                        elinewidth=6, alpha=0.25, label=f"s = {skew:g} {tr('LRU replay band')}")
        if replay_col in group and group[replay_col].notna().any():
            ax.plot(group[size_col], group[replay_col], "D", mfc="none", color=color,
                    label=f"s = {skew:g} {tr('exact LRU replay')}")
        if analytic:
            sizes = np.unique(np.concatenate(
                [np.geomspace(1, max(n_items - 1, 1), 60), group[size_col].to_numpy(float)]))
            sizes = sizes[(sizes >= 1) & (sizes < n_items)]
            ax.plot(sizes, che_curve(n_items, sizes, float(skew)), "--", color=color, alpha=0.8,
                    label=f"s = {skew:g} {tr('Che (LRU)')}")
    ax.set_xscale("log")
    ax.set_xlabel(tr("cache size (entries, log scale; catalogue of {n})", n=n_items))
    ax.set_ylabel(tr("hit ratio (fraction of requests)"))
    ax.set_ylim(-0.02, 1.02)
    ax.set_title(title, fontsize=11)
    ax.grid(alpha=0.3, which="both")
    legend_outside(ax)
    return save(fig, path)


def che_figure(curves: pd.DataFrame, path: str | Path | None = None) -> Figure:
    """Che's LRU hit ratio vs cache size per skew (dashed; dots: the sizes the sweep measures).
    Table: ``zipf_s``, ``cache_size``, ``che_hit_ratio``, ``in_sweep``, ``n_items``."""
    fig = Figure(figsize=(7, 4))
    ax = fig.subplots()
    for s, group in curves.groupby("zipf_s"):
        line = ax.plot(group["cache_size"], group["che_hit_ratio"], "--", label=f"s = {s:g}")
        marked = group[group["in_sweep"]]
        ax.plot(marked["cache_size"], marked["che_hit_ratio"], "o", color=line[0].get_color())
    n = int(curves["n_items"].iloc[0]) if len(curves) else 0
    ax.set_xscale("log")
    ax.set_xlabel(tr("cache size (entries, log scale; catalogue of {n})", n=n))
    ax.set_ylabel(tr("hit ratio (fraction of requests)"))
    ax.set_ylim(0, 1.02)
    ax.set_title(tr("Che's approximation for LRU under Zipf(s) (dots: sizes we will measure)"))
    ax.grid(alpha=0.3, which="both")
    legend_outside(ax)
    return save(fig, path)
