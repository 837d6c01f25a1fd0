"""An outage over time: requests per second by outcome and their latency, the link-down span,
an online/offline strip per edge, and the outbox depth."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from edgelab.plots.language import human_duration, tr
from edgelab.plots.style import (
    MARK_COLOR,
    OUTCOME_COLORS,
    OUTCOME_LABELS,
    OUTCOME_ORDER,
    REFUSALS,
    STATE_COLORS,
    legend_outside,
    mark_outage,
    save,
)


def display_outcome(requests: pd.DataFrame, outcome_col: str = "outcome",
                    status_col: str = "status") -> pd.Series:
    """The outcome to draw: an edge's deliberate 503/507 is a *refusal*, not an error."""
    outcome = requests[outcome_col].astype("object").copy()
    if status_col in requests:
        status = pd.to_numeric(requests[status_col], errors="coerce")
        refused = (outcome == "error") & status.isin(REFUSALS)
        if "cache_status" in requests:  # only the edge refuses with a cache status
            refused &= requests["cache_status"].notna()
        outcome[refused] = "refused"
    return outcome


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
    states: pd.DataFrame | None = None,
    detected_at: float | None = None,
    drained_at: float | None = None,
) -> Figure:
    """Outcomes per second (stacked) above latency per request (log y), outage shaded; with
    ``states`` (``t``, ``edge``, ``state`` samples) an online/offline strip underneath;
    ``detected_at``/``drained_at`` mark when the edge went offline and the outbox was empty."""
    if reconnected_at is None and outage is not None:
        reconnected_at = outage[1]
    strip = states is not None and len(states) > 0
    fig = Figure(figsize=(10, 7.2 if strip else 6.5))
    ratios = [1, 1.3, 0.25] if strip else [1, 1.3]
    axes = fig.subplots(len(ratios), 1, sharex=True, height_ratios=ratios)
    ax_rate, ax_lat = axes[0], axes[1]
    t = requests[t_col].astype(float)
    end = float(t.max()) if len(t) else 1.0
    if drained_at is not None:
        end = max(end, float(drained_at))
    edges = np.arange(0.0, end + bin_s, bin_s)
    if len(edges) < 2:
        edges = np.array([0.0, bin_s])
    shown = display_outcome(requests, outcome_col)
    present = [o for o in OUTCOME_ORDER if o in set(shown)]
    present += sorted(set(shown.dropna()) - set(OUTCOME_ORDER))
    bottom = np.zeros(len(edges) - 1)
    for outcome in present:
        sel = shown == outcome
        counts, _ = np.histogram(t[sel], bins=edges)
        rate = counts / bin_s
        color = OUTCOME_COLORS.get(outcome, "#757575")
        label = tr(OUTCOME_LABELS.get(outcome, outcome))
        ax_rate.bar(edges[:-1], rate, width=bin_s, bottom=bottom, align="edge", color=color,
                    label=label, linewidth=0)
        bottom += rate
        ax_lat.scatter(t[sel], requests.loc[sel, latency_col].clip(lower=0.01), s=8, alpha=0.7,
                       color=color, linewidths=0)
    for ax in axes:
        mark_outage(ax, outage, reconnected_at, label=ax is ax_rate)
    for height, at, text in ((1.0, detected_at, "edge offline after {d}"),
                             (0.86, drained_at, "outbox empty {d} after reconnect")):
        if at is None:
            continue
        ref = outage[0] if text.startswith("edge") and outage else reconnected_at or 0.0
        label = tr(text, d=human_duration(float(at) - float(ref)))
        for ax in axes:
            ax.axvline(float(at), color=MARK_COLOR, linestyle=":", linewidth=1.4)
        right = float(at) > 0.7 * float(edges[-1])  # text on the side with room
        ax_rate.annotate(label, xy=(float(at), height), xycoords=("data", "axes fraction"),
                         xytext=(-3 if right else 3, -3), textcoords="offset points",
                         fontsize=8, va="top", ha="right" if right else "left",
                         color=MARK_COLOR,
                         bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "none",
                               "alpha": 0.85})
    ax_rate.set_ylabel(tr("requests per second (1/s)"))
    ax_rate.set_title(title)
    legend_outside(ax_rate)
    ax_rate.grid(axis="y", alpha=0.3)
    ax_lat.set_yscale("log")
    ax_lat.set_ylabel(tr("latency (ms, log scale)"))
    ax_lat.grid(alpha=0.3, which="both")
    ax_lat.set_xlim(0, edges[-1])
    if strip and states is not None:
        _state_strip(axes[2], states, end)
    axes[-1].set_xlabel(tr("time since start (s)"))
    return save(fig, path)


def _state_strip(ax: Axes, states: pd.DataFrame, end: float) -> None:
    """One row per edge: green while online, red while offline (from status samples)."""
    data = states.dropna(subset=["state"]).sort_values("t")
    names = sorted(data["edge"].astype(str).unique())
    for row, name in enumerate(names):
        samples = data[data["edge"].astype(str) == name]
        times = [*samples["t"].astype(float).tolist(), end]
        for (start, stop), state in zip(itertools.pairwise(times),
                                        samples["state"].astype(str), strict=True):
            ax.broken_barh([(start, max(stop - start, 0.0))], (row + 0.1, 0.8),
                           color=STATE_COLORS.get(state, STATE_COLORS["unknown"]), linewidth=0)
    ax.set_yticks([i + 0.5 for i in range(len(names))], names, fontsize=8)
    ax.set_ylim(0, max(len(names), 1))
    ax.set_ylabel(tr("edge state"), fontsize=8)
    handles = [Patch(color=STATE_COLORS[s], label=tr(s)) for s in ("online", "offline")]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.2), fontsize=8,
              frameon=False)


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
    drained_at: float | None = None,
    deadline: float | None = None,
) -> Figure:
    """Queued writes per edge over time (step lines), the drain and its deadline marked."""
    if reconnected_at is None and outage is not None:
        reconnected_at = outage[1]
    fig = Figure(figsize=(10, 4))
    ax = fig.subplots()
    data = samples.dropna(subset=[depth_col]).sort_values(t_col)
    for edge, group in data.groupby(edge_col, sort=True):
        ax.step(group[t_col], group[depth_col].astype(float), where="post", label=str(edge))
    mark_outage(ax, outage, reconnected_at, label=True)
    if drained_at is not None and reconnected_at is not None:
        label = tr("outbox empty {d} after reconnect",
                   d=human_duration(float(drained_at) - float(reconnected_at)))
        ax.axvline(float(drained_at), color=MARK_COLOR, linestyle=":", linewidth=1.4,
                   label=label)
    if deadline is not None:
        end = float(data[t_col].max()) if len(data) else 0.0
        if float(deadline) <= max(end * 1.5, end + 5):  # far-off deadlines would squash the plot
            ax.axvline(float(deadline), color="#c62828", linestyle="-.", linewidth=1.2,
                       label=tr("drain deadline"))
    ax.set_title(tr(title))
    ax.set_xlabel(tr("time since start (s)"))
    ax.set_ylabel(tr("queued writes (count)"))
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    legend_outside(ax)
    return save(fig, path)
