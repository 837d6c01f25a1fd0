"""Plots of experiment tables (matplotlib, Agg; no display needed).

Every function takes a pandas table (plus a few arguments), returns the `Figure`, and saves a
PNG (Agg renderer) when given `path`. Figures are built without pyplot, so importing this module
never changes the backend of a notebook, and no global figure state leaks; they still display in
Jupyter. Column names are the defaults below and can be overridden by keyword.

- `timeline`: requests per second by outcome and latency over time, outage shaded,
  reconnection marked. Table: the workload client's (``t``, ``latency_ms``, ``outcome``).
- `outbox_depth`: queued writes per edge over time. Table: ``t``, ``edge``, ``outbox_depth``.
- `latency_ecdf`: latency ECDF per cache status (log x). Table: ``latency_ms``, ``cache_status``.
- `hit_ratio_vs_cache_size`: measured hit ratio per skew with Che's LRU curve dashed.
  Table: ``cache_size``, ``skew``, ``hit_ratio``.
- `edge_vs_direct`: median (and p95 band) latency through the edge and directly to the cloud
  vs WAN latency. Table: ``wan_latency_ms``, ``path`` (``edge``/``direct``), ``latency_ms``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from edgelab.analysis.che import che_curve

OUTCOME_COLORS = {
    "ok": "#2e7d32",
    "queued": "#1565c0",
    "error": "#c62828",
    "timeout": "#ef6c00",
    "conn_error": "#6a1b9a",
}
OUTCOME_ORDER = ["ok", "queued", "error", "timeout", "conn_error"]
OUTAGE_COLOR = "#9e9e9e"
RECONNECT_COLOR = "#000000"
CJK_FONTS = ["Noto Sans CJK SC", "Noto Sans CJK JP", "Noto Sans SC", "WenQuanYi Zen Hei"]
_LANG = {"value": "en"}
# plot labels in 简体中文 (terms as in docs/glossary.md); English is the key
ZH: dict[str, str] = {}


def set_language(lang: str) -> None:
    """Titles, axis labels and legends in ``lang`` (``en`` or ``zh-CN``) from now on; zh-CN
    uses a CJK font (Debian: fonts-noto-cjk) when one is installed."""
    _LANG["value"] = lang
    if lang == "zh-CN":
        from matplotlib import font_manager

        installed = {f.name for f in font_manager.fontManager.ttflist}
        chosen = [f for f in CJK_FONTS if f in installed]
        matplotlib.rcParams["font.sans-serif"] = [*chosen, "DejaVu Sans"]
        matplotlib.rcParams["font.family"] = "sans-serif"
        matplotlib.rcParams["axes.unicode_minus"] = False


def tr(text: str) -> str:
    """``text`` in the current plot language (English when there is no translation)."""
    return ZH.get(text, text) if _LANG["value"] == "zh-CN" else text


def _finish(fig: Figure, path: str | Path | None) -> Figure:
    fig.tight_layout()
    if path is not None:
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out, dpi=120, format="png")
    return fig


def _mark_outage(
    ax: Axes,
    outage: tuple[float, float] | None,
    reconnected_at: float | None,
    label: bool,
) -> None:
    if outage is not None:
        ax.axvspan(
            outage[0],
            outage[1],
            color=OUTAGE_COLOR,
            alpha=0.25,
            label="link down" if label else None,
        )
    if reconnected_at is not None:
        ax.axvline(
            reconnected_at,
            color=RECONNECT_COLOR,
            linestyle="--",
            linewidth=1.2,
            label="reconnected" if label else None,
        )


def timeline(
    requests: pd.DataFrame,
    outage: tuple[float, float] | None = None,
    reconnected_at: float | None = None,
    path: str | Path | None = None,
    *,
    title: str = "Requests during a WAN outage",
    bin_s: float = 1.0,
    t_col: str = "t",
    latency_col: str = "latency_ms",
    outcome_col: str = "outcome",
) -> Figure:
    """Outcomes per second (stacked) above latency per request (log y), outage shaded."""
    if reconnected_at is None and outage is not None:
        reconnected_at = outage[1]
    fig = Figure(figsize=(10, 6.5))
    ax_rate, ax_lat = fig.subplots(2, 1, sharex=True, height_ratios=[1, 1.3])
    t = requests[t_col].astype(float)
    end = float(t.max()) if len(t) else 1.0
    edges = np.arange(0.0, end + bin_s, bin_s)
    if len(edges) < 2:
        edges = np.array([0.0, bin_s])
    present = [o for o in OUTCOME_ORDER if o in set(requests[outcome_col])]
    present += sorted(set(requests[outcome_col].dropna()) - set(OUTCOME_ORDER))
    bottom = np.zeros(len(edges) - 1)
    for outcome in present:
        sel = requests[outcome_col] == outcome
        counts, _ = np.histogram(t[sel], bins=edges)
        rate = counts / bin_s
        ax_rate.bar(
            edges[:-1],
            rate,
            width=bin_s,
            bottom=bottom,
            align="edge",
            color=OUTCOME_COLORS.get(outcome, "#757575"),
            label=outcome,
            linewidth=0,
        )
        bottom += rate
        ax_lat.scatter(
            t[sel],
            requests.loc[sel, latency_col].clip(lower=0.01),
            s=6,
            alpha=0.6,
            color=OUTCOME_COLORS.get(outcome, "#757575"),
            label=outcome,
            linewidths=0,
        )
    _mark_outage(ax_rate, outage, reconnected_at, label=True)
    _mark_outage(ax_lat, outage, reconnected_at, label=False)
    ax_rate.set_ylabel("requests per second (1/s)")
    ax_rate.set_title(title)
    ax_rate.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    ax_rate.grid(axis="y", alpha=0.3)
    ax_lat.set_yscale("log")
    ax_lat.set_ylabel("latency (ms, log scale)")
    ax_lat.set_xlabel("time since start (s)")
    ax_lat.grid(alpha=0.3, which="both")
    ax_lat.set_xlim(0, edges[-1])
    return _finish(fig, path)


def outbox_depth(
    samples: pd.DataFrame,
    outage: tuple[float, float] | None = None,
    reconnected_at: float | None = None,
    path: str | Path | None = None,
    *,
    title: str = "Outbox depth: writes queued at the edge",
    t_col: str = "t",
    depth_col: str = "outbox_depth",
    edge_col: str = "edge",
) -> Figure:
    """Queued writes per edge over time (step lines)."""
    if reconnected_at is None and outage is not None:
        reconnected_at = outage[1]
    fig = Figure(figsize=(10, 4))
    ax = fig.subplots()
    data = samples.dropna(subset=[depth_col]).sort_values(t_col)
    for edge, group in data.groupby(edge_col, sort=True):
        ax.step(group[t_col], group[depth_col].astype(float), where="post", label=str(edge))
    _mark_outage(ax, outage, reconnected_at, label=True)
    ax.set_title(title)
    ax.set_xlabel("time since start (s)")
    ax.set_ylabel("queued writes (count)")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    return _finish(fig, path)


def latency_ecdf(
    requests: pd.DataFrame,
    path: str | Path | None = None,
    *,
    by: str = "cache_status",
    title: str = "Latency by cache status",
    latency_col: str = "latency_ms",
) -> Figure:
    """ECDF of latency per group (log x), with p50 and p95 in the legend."""
    fig = Figure(figsize=(8, 5))
    ax = fig.subplots()
    groups = requests.assign(_group=requests[by].fillna(f"(no {by})").astype(str))
    for name, group in groups.groupby("_group", sort=True):
        values = group[latency_col].dropna().astype(float).clip(lower=0.01)
        if values.empty:
            continue
        p50, p95 = np.percentile(values, [50, 95])
        label = f"{name} (n={len(values)}, p50 {p50:.1f} ms, p95 {p95:.1f} ms)"
        ax.ecdf(values, label=label)
    ax.set_xscale("log")
    ax.set_xlabel("latency (ms, log scale)")
    ax.set_ylabel("fraction of requests ≤ latency")
    ax.set_ylim(0, 1.02)
    ax.set_title(title)
    ax.grid(alpha=0.3, which="both")
    ax.legend(loc="lower right", fontsize=8)
    return _finish(fig, path)


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
) -> Figure:
    """Measured hit ratio per skew (markers) with Che's analytic LRU curve (dashed)."""
    fig = Figure(figsize=(8, 5))
    ax = fig.subplots()
    colors = matplotlib.colormaps["viridis"]
    skews = sorted(table[skew_col].unique())
    for i, skew in enumerate(skews):
        color = colors(i / max(len(skews) - 1, 1) * 0.85)
        group = table[table[skew_col] == skew].sort_values(size_col)
        ax.plot(
            group[size_col], group[hit_col], "o-", color=color, label=f"s = {skew:g} measured"
        )
        if analytic:
            sizes = np.unique(
                np.concatenate(
                    [np.geomspace(1, max(n_items - 1, 1), 60), group[size_col].to_numpy(float)]
                )
            )
            sizes = sizes[(sizes >= 1) & (sizes < n_items)]
            ax.plot(
                sizes,
                che_curve(n_items, sizes, float(skew)),
                "--",
                color=color,
                alpha=0.8,
                label=f"s = {skew:g} Che (LRU)",
            )
    ax.set_xscale("log")
    ax.set_xlabel(f"cache size (entries, log scale; catalogue of {n_items})")
    ax.set_ylabel("hit ratio (fraction of requests)")
    ax.set_ylim(0, 1.02)
    ax.set_title(title, fontsize=11)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, loc="upper left")
    return _finish(fig, path)


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
    """Median latency (line) and p5–p95 band per access path vs added WAN latency."""
    fig = Figure(figsize=(8, 5))
    ax = fig.subplots()
    names = [n for n in order if n in set(table[path_col])]
    names += sorted(set(table[path_col]) - set(names))
    styles = {"edge": ("#1565c0", "o"), "direct": ("#c62828", "s")}
    for name in names:
        group = table[table[path_col] == name]
        stats = group.groupby(wan_col)[latency_col].describe(percentiles=[0.05, 0.5, 0.95])
        color, marker = styles.get(name, ("#555555", "^"))
        ax.plot(stats.index, stats["50%"], marker=marker, color=color, label=f"{name}: median")
        ax.fill_between(
            stats.index, stats["5%"], stats["95%"], color=color, alpha=0.15, label=f"{name}: p5–p95"
        )
    wan = np.sort(table[wan_col].unique().astype(float))
    wan = wan[wan > 0]
    if len(wan):
        ax.plot(wan, 2 * wan, ":", color="#616161", label="2 × one-way WAN latency (one RTT)")
    ax.set_xlabel("added one-way WAN latency (ms)")
    ax.set_ylabel("request latency (ms, log scale)")
    ax.set_yscale("log")
    ax.set_title(title)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, loc="upper left")
    return _finish(fig, path)


__all__ = [
    "edge_vs_direct",
    "hit_ratio_vs_cache_size",
    "latency_ecdf",
    "outbox_depth",
    "timeline",
]
