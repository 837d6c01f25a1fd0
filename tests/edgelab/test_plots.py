"""Each plot function renders a non-empty, labelled PNG from a fixed small table."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure

from edgelab import plots

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def requests_table() -> pd.DataFrame:
    """40 s of requests from two edges; the link is down from 10 s to 25 s."""
    rng = np.random.default_rng(0)
    rows = []
    for i in range(800):
        t = i * 0.05
        edge = "shop-1" if i % 2 else "shop-2"
        write = i % 5 == 0
        down = 10 <= t < 25
        if write:
            outcome, status, cache = ("queued", 202, "QUEUED") if down else ("ok", 201, "BYPASS")
            latency = rng.gamma(2, 2) if down else 40 + rng.gamma(2, 5)
        elif down and i % 7 == 0:
            outcome, status, cache, latency = "error", 503, None, rng.gamma(2, 1)
        elif down:
            outcome, status, cache, latency = "ok", 200, "OFFLINE-HIT", rng.gamma(2, 0.8)
        elif i % 3 == 0:
            outcome, status, cache, latency = "ok", 200, "MISS", 40 + rng.gamma(2, 5)
        else:
            outcome, status, cache, latency = "ok", 200, "HIT", rng.gamma(2, 0.5)
        if 25 <= t < 26 and i % 4 == 0:
            outcome, status, cache, latency = "timeout", None, None, 2000.0
        rows.append(
            {
                "t": t,
                "edge": edge,
                "method": "POST" if write else "GET",
                "outcome": outcome,
                "status": status,
                "cache_status": cache,
                "latency_ms": latency,
            }
        )
    return pd.DataFrame(rows)


def outbox_table() -> pd.DataFrame:
    rows = []
    for edge, rate in (("shop-1", 2.0), ("shop-2", 3.0)):
        for step in range(0, 81):
            t = step * 0.5
            if t < 10:
                depth = 0.0
            elif t < 25:
                depth = (t - 10) * rate
            else:
                depth = max(0.0, 15 * rate - (t - 25) * 12)
            rows.append({"t": t, "edge": edge, "outbox_depth": round(depth)})
    return pd.DataFrame(rows)


def sweep_table() -> pd.DataFrame:
    rows = []
    for skew, bonus in ((0.6, -0.02), (0.9, 0.01), (1.2, 0.0)):
        for size in (10, 30, 100, 300):
            from edgelab.analysis import che_hit_ratio

            rows.append(
                {
                    "cache_size": size,
                    "skew": skew,
                    "hit_ratio": min(1.0, che_hit_ratio(1000, size, skew) + bonus),
                }
            )
    return pd.DataFrame(rows)


def wan_table() -> pd.DataFrame:
    rng = np.random.default_rng(1)
    rows = []
    for wan in (0, 10, 25, 50, 100):
        for _ in range(40):
            rows.append({"wan_latency_ms": wan, "path": "edge", "latency_ms": rng.gamma(2, 0.6)})
            rows.append(
                {"wan_latency_ms": wan, "path": "direct", "latency_ms": 2 * wan + rng.gamma(2, 2)}
            )
    return pd.DataFrame(rows)


CASES = {
    "timeline": lambda p: plots.timeline(
        requests_table(), outage=(10, 25), reconnected_at=26.5, path=p
    ),
    "outbox_depth": lambda p: plots.outbox_depth(outbox_table(), outage=(10, 25), path=p),
    "latency_ecdf": lambda p: plots.latency_ecdf(requests_table(), path=p),
    "hit_ratio_vs_cache_size": lambda p: plots.hit_ratio_vs_cache_size(
        sweep_table(), n_items=1000, path=p
    ),
    "edge_vs_direct": lambda p: plots.edge_vs_direct(wan_table(), path=p),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_plot_writes_a_labelled_png(name: str, tmp_path: Path) -> None:
    out = tmp_path / "figs" / f"{name}.png"
    fig = CASES[name](out)
    assert isinstance(fig, Figure)
    data = out.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 10_000
    axes = fig.get_axes()
    assert any(ax.get_title() for ax in axes)
    for ax in axes:
        assert ax.get_ylabel()
    assert axes[-1].get_xlabel()


def test_plot_without_path_returns_figure_only(tmp_path: Path) -> None:
    fig = plots.latency_ecdf(requests_table())
    assert isinstance(fig, Figure)
    assert list(tmp_path.iterdir()) == []


def probe_table() -> pd.DataFrame:
    parts = {"cloud": 1.0, "link shop-1": 40.0, "edge shop-1": 0.8}
    return pd.DataFrame([{"part": part, "latency_ms": ms * (1 + i / 10)}
                         for part, ms in parts.items() for i in range(5)])


def browse_table() -> pd.DataFrame:
    rows = []
    for path in ("/shop/products", "/shop/products/1"):
        for attempt, status in enumerate(("MISS", "HIT", "HIT"), start=1):
            rows.append({"path": path, "via": "edge", "attempt": attempt, "x_edge_cache": status,
                         "latency_ms": 45.0 if status == "MISS" else 0.9})
        rows.append({"path": path, "via": "cloud", "attempt": 1, "x_edge_cache": "",
                     "latency_ms": 41.0})
    return pd.DataFrame(rows)


def che_curves() -> pd.DataFrame:
    from edgelab.notebook.performance import che_table

    return che_table([10, 30, 100], [0.8, 1.2], n_items=300)


NOTEBOOK_FIGURES = {
    "probe_figure": lambda p: plots.probe_figure(probe_table(), p),
    "browse_figure": lambda p: plots.browse_figure(browse_table(), p),
    "che_figure": lambda p: plots.che_figure(che_curves(), p),
}


@pytest.mark.parametrize("name", sorted(NOTEBOOK_FIGURES))
def test_notebook_figure_writes_a_png_with_its_legend_beside_the_data(
        name: str, tmp_path: Path) -> None:
    out = tmp_path / f"{name}.png"
    fig = NOTEBOOK_FIGURES[name](out)
    assert out.read_bytes().startswith(PNG_MAGIC)
    (ax,) = fig.get_axes()
    assert ax.get_title() and ax.get_ylabel()
    legend = ax.get_legend()
    assert legend is not None and legend.get_texts()
    # outside the axes: the legend's anchor is right of the data (x > 1 in axes coordinates)
    anchor = legend.get_bbox_to_anchor().transformed(ax.transAxes.inverted())
    assert anchor.x0 > 1.0, anchor
