"""Plots of experiment tables (matplotlib, Agg; no display needed).

Every function takes a pandas table (plus a few arguments), returns the `Figure`, and saves a
PNG (Agg renderer) when given `path`. Figures are built without pyplot, so importing this module
never changes the backend of a notebook, and no global figure state leaks; they still display in
Jupyter. Column names are the defaults below and can be overridden by keyword. Legends sit
outside the data; axes whose values span decades are logarithmic; durations in titles are
human (`human_duration`); labels follow `set_language` (English or 简体中文).

- `timeline`: requests per second by outcome and latency over time, outage shaded,
  reconnection marked, an online/offline strip per edge and marks for the moment the edge
  noticed the outage and the moment its outbox was empty. Table: the workload client's
  (``t``, ``latency_ms``, ``outcome``, ``status``, ``cache_status``).
- `outbox_depth`: queued writes per edge over time, drain time marked. Table: ``t``, ``edge``,
  ``outbox_depth``.
- `latency_ecdf`: latency ECDF per cache status (log x; QUEUED is not an error colour).
- `hit_ratio_vs_cache_size`: measured hit ratio per skew with Che's LRU curve dashed.
- `edge_vs_direct`: median (and p5–p95 band) latency through the edge and directly to the cloud
  vs WAN latency. Table: ``wan_latency_ms``, ``path`` (``edge``/``direct``), ``latency_ms``.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from edgelab.analysis.che import che_curve

OUTCOME_COLORS = {
    "ok": "#2e7d32",
    "queued": "#1565c0",
    "refused": "#f9a825",
    "error": "#c62828",
    "timeout": "#ef6c00",
    "conn_error": "#6a1b9a",
}
OUTCOME_ORDER = ["ok", "queued", "refused", "error", "timeout", "conn_error"]
OUTCOME_LABELS = {
    "ok": "answered (2xx/304)",
    "queued": "queued in the outbox (202)",
    "refused": "refused by the edge (503 not cached / 507 outbox full)",
    "error": "error (other 4xx/5xx)",
    "timeout": "timeout",
    "conn_error": "connection refused or reset",
}
# cache statuses: a fresh or offline answer is good news, QUEUED is a write that was kept
STATUS_COLORS = {
    "HIT": "#2e7d32",
    "OFFLINE-HIT": "#00838f",
    "STALE": "#8e24aa",
    "REVALIDATED": "#f9a825",
    "MISS": "#ef6c00",
    "QUEUED": "#1565c0",
    "BYPASS": "#757575",
}
STATE_COLORS = {"online": "#2e7d32", "offline": "#c62828", "unknown": "#bdbdbd"}
REFUSALS = (503, 507)
OUTAGE_COLOR = "#9e9e9e"
RECONNECT_COLOR = "#000000"
MARK_COLOR = "#37474f"
CJK_FONTS = ["Noto Sans CJK SC", "Noto Sans CJK JP", "Noto Sans SC", "WenQuanYi Zen Hei"]
_LANG = {"value": "en"}
# plot labels in 简体中文 (terms as in docs/glossary.md); the English text is the key
ZH: dict[str, str] = {
    "link down": "链路断开",
    "reconnected": "链路恢复",
    "requests per second (1/s)": "每秒请求数 (1/s)",
    "latency (ms, log scale)": "延迟（毫秒，对数坐标）",
    "time since start (s)": "开始后的时间（秒）",
    "edge state": "边缘状态",
    "online": "在线",
    "offline": "离线",
    "unknown": "未知",
    "answered (2xx/304)": "已应答（2xx/304）",
    "queued in the outbox (202)": "进入发件箱（202）",
    "refused by the edge (503 not cached / 507 outbox full)":
        "边缘拒绝（503 未缓存 / 507 发件箱满）",
    "error (other 4xx/5xx)": "错误（其他 4xx/5xx）",
    "timeout": "超时",
    "connection refused or reset": "连接被拒绝或重置",
    "edge offline after {d}": "{d} 后边缘离线",
    "outbox empty {d} after reconnect": "恢复后 {d} 发件箱排空",
    "Requests during a WAN outage": "广域网断网期间的请求",
    "With edge caches: link down {d} ({mode})": "有边缘缓存：链路断开 {d}（{mode}）",
    "No cache: clients straight to the cloud through the same link":
        "无缓存：客户端经同一链路直连云端",
    "Outbox depth: writes queued at the edge": "发件箱深度：边缘排队的写入",
    "queued writes (count)": "排队的写入（条）",
    "Latency by cache status": "按缓存状态的延迟",
    "Latency by cache status (with edge caches)": "按缓存状态的延迟（有边缘缓存）",
    "fraction of requests ≤ latency": "延迟不超过该值的请求比例",
    "Hit ratio vs cache size, TTL {d} (measured; Che approximation for LRU dashed)":
        "命中率与缓存大小，TTL {d}（实测；虚线为 LRU 的 Che 近似）",
    "Hit ratio vs cache size (measured; Che approximation for LRU dashed)":
        "命中率与缓存大小（实测；虚线为 LRU 的 Che 近似）",
    "cache size (entries, log scale; catalogue of {n})":
        "缓存大小（条目，对数坐标；目录共 {n} 种）",
    "hit ratio (fraction of requests)": "命中率（请求比例）",
    "measured": "实测",
    "Che (LRU)": "Che（LRU）",
    "Latency through the edge cache vs directly to the cloud": "经边缘缓存与直连云端的延迟",
    "added one-way WAN latency (ms)": "增加的单向广域网延迟（毫秒）",
    "request latency (ms, log scale)": "请求延迟（毫秒，对数坐标）",
    "2 × one-way WAN latency (one RTT)": "2 × 单向广域网延迟（一次往返）",
    "median": "中位数",
    "drain deadline": "排空期限",
    "LRU replay band": "LRU 重放范围",
    "exact LRU replay": "精确 LRU 重放",
    "round trip (ms, log scale)": "往返时间（毫秒，对数坐标）",
    "Health request round trip per part": "各部分健康请求的往返时间",
    "Browsing through the edge: MISS, then served from the cache":
        "经边缘浏览：先 MISS，之后由缓存应答",
    "cloud over the WAN (no cache)": "经广域网访问云端（无缓存）",
    "edge": "边缘",
    "direct": "直连",
}


def set_language(lang: str) -> None:
    """Titles, axis labels and legends in ``lang`` (``en`` or ``zh-CN``) from now on; zh-CN
    uses a CJK font (Debian: fonts-noto-cjk) when one is installed."""
    _LANG["value"] = lang
    if lang == "zh-CN":
        from matplotlib import font_manager

        installed = {f.name for f in font_manager.fontManager.ttflist}
        if not any(f in installed for f in CJK_FONTS):
            # installed after matplotlib cached its font list: add the files themselves
            for path in font_manager.findSystemFonts():
                if "CJK" in Path(path).name and "Regular" in Path(path).name:
                    font_manager.fontManager.addfont(path)
            installed = {f.name for f in font_manager.fontManager.ttflist}
        chosen = [f for f in CJK_FONTS if f in installed]
        matplotlib.rcParams["font.sans-serif"] = [*chosen, "DejaVu Sans"]
        matplotlib.rcParams["font.family"] = "sans-serif"
        matplotlib.rcParams["axes.unicode_minus"] = False


def tr(text: str, **values: object) -> str:
    """``text`` in the current plot language, with ``{placeholders}`` filled in."""
    chosen = ZH.get(text, text) if _LANG["value"] == "zh-CN" else text
    return chosen.format(**values) if values else chosen


def human_duration(seconds: float) -> str:
    """``31536000`` → ``1 year``, ``300`` → ``5 min``, ``0.19`` → ``0.19 s`` (zh: 年/分钟/秒)."""
    zh = _LANG["value"] == "zh-CN"
    units = [
        (365 * 86400, "year", "年"),
        (7 * 86400, "week", "周"),
        (86400, "day", "天"),
        (3600, "h", "小时"),
        (60, "min", "分钟"),
    ]
    s = float(seconds)
    for size, en, cn in units:
        if abs(s) >= size:
            n = s / size
            text = f"{n:.0f}" if abs(n - round(n)) < 0.05 else f"{n:.1f}"
            if zh:
                return f"{text} {cn}"
            plural = "s" if en in ("year", "week", "day") and text != "1" else ""
            return f"{text} {en}{plural}"
    text = f"{s:.0f}" if abs(s) >= 10 or s == int(s) else f"{s:.2g}"
    return f"{text} 秒" if zh else f"{text} s"


def _finish(fig: Figure, path: str | Path | None) -> Figure:
    if path is not None:
        out = Path(path)
        out.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(out, dpi=120, format="png", bbox_inches="tight")
    return fig


def _legend_outside(ax: Axes, **kwargs: object) -> None:
    handles, _ = ax.get_legend_handles_labels()
    if handles:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False,
                  **kwargs)


def _mark_outage(
    ax: Axes,
    outage: tuple[float, float] | None,
    reconnected_at: float | None,
    label: bool,
) -> None:
    if outage is not None:
        ax.axvspan(outage[0], outage[1], color=OUTAGE_COLOR, alpha=0.25,
                   label=tr("link down") if label else None)
    if reconnected_at is not None:
        ax.axvline(reconnected_at, color=RECONNECT_COLOR, linestyle="--", linewidth=1.2,
                   label=tr("reconnected") if label else None)


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
        _mark_outage(ax, outage, reconnected_at, label=ax is ax_rate)
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
    _legend_outside(ax_rate)
    ax_rate.grid(axis="y", alpha=0.3)
    ax_lat.set_yscale("log")
    ax_lat.set_ylabel(tr("latency (ms, log scale)"))
    ax_lat.grid(alpha=0.3, which="both")
    ax_lat.set_xlim(0, edges[-1])
    if strip and states is not None:
        _state_strip(axes[2], states, end)
    axes[-1].set_xlabel(tr("time since start (s)"))
    return _finish(fig, path)


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
    _mark_outage(ax, outage, reconnected_at, label=True)
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
    _legend_outside(ax)
    return _finish(fig, path)


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
    _legend_outside(ax)
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
    _legend_outside(ax)
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
    _legend_outside(ax)
    return _finish(fig, path)


__all__ = [
    "display_outcome",
    "edge_vs_direct",
    "hit_ratio_vs_cache_size",
    "human_duration",
    "latency_ecdf",
    "outbox_depth",
    "set_language",
    "timeline",
    "tr",
]
