"""Notebook 04's analysis: Che curves to preview, measured-vs-analytic comparison, nginx."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from edgelab.analysis import che_curve, simulate_lru

MONOTONE_SLACK = 0.03
SIGMAS = 3.5


def che_table(cache_sizes: Sequence[int], skews: Sequence[float], n_items: int) -> pd.DataFrame:
    """Che's LRU hit ratio on a fine size grid (plus the sweep's sizes), one row per point."""
    grid = np.unique(
        np.concatenate(
            [np.geomspace(1, max(n_items - 1, 2), 40).round(), np.asarray(cache_sizes, float)]
        )
    )
    grid = grid[(grid >= 1) & (grid < n_items)]
    rows = []
    for s in skews:
        for size, hit in zip(grid, che_curve(n_items, grid, float(s)), strict=True):
            rows.append(
                {
                    "zipf_s": float(s),
                    "cache_size": float(size),
                    "n_items": n_items,
                    "che_hit_ratio": float(hit),
                    "in_sweep": bool(np.isin(size, np.asarray(cache_sizes, float))),
                }
            )
    return pd.DataFrame(rows)


def lru_expectation(
    n_items: int,
    cache_size: int,
    s: float,
    requests: int,
    warmup: int,
    runs: int = 20,
    seed: int = 0,
) -> tuple[float, float]:
    """Mean and standard deviation of the hit ratio of an exact LRU cache over a window of
    ``requests`` after ``warmup`` (the same finite run the sweep measures), over ``runs``
    seeded simulations. Che's formula is the steady state; short runs include cold misses."""
    ratios = [
        simulate_lru(
            n_items, int(cache_size), float(s), int(requests), seed=seed + i, warmup=int(warmup)
        )
        for i in range(runs)
    ]
    return float(np.mean(ratios)), float(np.std(ratios))


def compare(
    table: pd.DataFrame,
    tolerance: float,
    requests: pd.DataFrame | None = None,
    warmup: int = 0,
    sigmas: float = SIGMAS,
    seed: int = 0,
) -> dict[str, Any]:
    """Measured sweep vs theory: TTL-0 hits, monotonicity in size, measured vs an exact LRU
    replay of the run's own requests, |measured − Che|, and the median latency of fresh hits
    vs requests sent directly over the WAN (from ``requests``).

    "Matches an LRU cache" is deterministic for the recorded data: no simulation with other
    seeds. Each TTL > 0 point's measured HIT ratio must lie in ``[lru_band_low − tolerance,
    lru_band_high + tolerance]``: the band the sweep derived by replaying the very requests
    the run sent, with their recorded timing, through an exact LRU of that size that coalesces
    concurrent misses as the edge does (:func:`edgelab.analysis.replay.edge_band`: the range
    of replays with each decision moved anywhere the recorded request interval allows,
    the slack being the 95th percentile of the point's fresh-hit latency on this machine, plus
    two standard deviations and one request, plus every failed request). A loaded machine
    makes requests slower, which widens the slack with it; a correct edge stays inside.
    ``tolerance`` (the notebook's parameter) is added on both sides for what the client cannot
    see (e.g. the clock of another host). Tables without the replay columns (older results)
    fall back to an exact LRU simulation of the same length over ``runs`` seeds, within
    ``max(tolerance, sigmas × sd)``.
    """
    ttl0 = table[table["ttl_s"] == 0]
    fresh = table[table["ttl_s"] > 0]
    drops: list[dict[str, Any]] = []
    banded = {"lru_band_low", "lru_band_high"} <= set(fresh.columns)
    for (ttl, s, wan), group in fresh.groupby(["ttl_s", "zipf_s", "wan_latency_ms"]):
        ordered = group.sort_values("cache_size")
        hits = ordered["hit_ratio"].to_numpy(float)
        sizes = ordered["cache_size"].to_numpy()
        high = ordered["lru_band_high"].to_numpy(float) if banded else hits
        low = ordered["lru_band_low"].to_numpy(float) if banded else hits
        for i in range(1, len(hits)):
            # the sizes of one skew replay the same requests, so an exact LRU never hits less
            # with more room; a correct edge may still show a drop as large as its two bands
            # allow (the smaller cache at its band's top, the larger at its band's bottom)
            allowed = max(MONOTONE_SLACK, high[i - 1] - low[i]) if banded else MONOTONE_SLACK
            if hits[i] < hits[i - 1] - allowed:
                drops.append(
                    {
                        "ttl_s": ttl,
                        "zipf_s": s,
                        "wan_latency_ms": wan,
                        "from_size": int(sizes[i - 1]),
                        "to_size": int(sizes[i]),
                        "hit_ratios": [float(hits[i - 1]), float(hits[i])],
                    }
                )
    errors = (fresh["hit_ratio"] - fresh["che_hit_ratio"]).abs() if len(fresh) else pd.Series()
    model: list[dict[str, Any]] = []
    replayed = "lru_band_low" in fresh.columns
    for row in fresh.itertuples() if replayed else ():
        low = float(row.lru_band_low) - tolerance
        high = float(row.lru_band_high) + tolerance
        measured = float(row.hit_ratio)
        answered = not (np.isnan(measured) or np.isnan(low) or np.isnan(high))
        model.append(
            {
                "cache_size": int(row.cache_size),
                "zipf_s": float(row.zipf_s),
                "ttl_s": float(row.ttl_s),
                "wan_latency_ms": float(row.wan_latency_ms),
                "measured": measured if answered else None,
                "edge_replay": float(row.edge_replay_hit_ratio) if answered else None,
                "band_low": low if answered else None,
                "band_high": high if answered else None,
                "lru_replay": float(row.lru_replay_hit_ratio),
                "fifo_replay": float(row.fifo_replay_hit_ratio),
                "coalesced": int(row.coalesced),
                "errors": int(row.errors),
                "che": float(row.che_hit_ratio),
                "within": answered and low <= measured <= high,
                **({} if answered else {"note": "no request of this point was answered: "
                                        "see the errors column and the edge's log"}),
            }
        )
    for row in () if replayed else fresh.itertuples():
        mean, sd = lru_expectation(
            int(row.n_items),
            int(row.cache_size),
            float(row.zipf_s),
            int(row.requests),
            warmup,
            seed=seed,
        )
        band = max(tolerance, sigmas * sd)
        model.append(
            {
                "cache_size": int(row.cache_size),
                "zipf_s": float(row.zipf_s),
                "ttl_s": float(row.ttl_s),
                "measured": float(row.hit_ratio),
                "lru_mean": mean,
                "lru_sd": sd,
                "band": band,
                "che": float(row.che_hit_ratio),
                "within": abs(float(row.hit_ratio) - mean) <= band,
            }
        )
    pairs: list[dict[str, Any]] = []
    if requests is not None and len(requests):
        for wan, group in requests.groupby("wan_latency_ms"):
            if float(wan) <= 0:
                continue
            ok = group[group["status"].isin((200, 304))]
            if "phase" in ok:
                ok = ok[ok["phase"] != "warmup"]
            hits = ok[(ok["access"] == "edge") & (ok["cache_status"] == "HIT")]["latency_ms"]
            direct = ok[ok["access"] == "direct"]["latency_ms"]
            if len(hits) and len(direct):
                pairs.append(
                    {
                        "wan_latency_ms": float(wan),
                        "hit_p50_ms": float(hits.median()),
                        "direct_p50_ms": float(direct.median()),
                    }
                )
    faster = bool(pairs) and all(p["hit_p50_ms"] < p["direct_p50_ms"] for p in pairs)
    return {
        "ttl0_max_hit_ratio": float(ttl0["hit_ratio"].max()) if len(ttl0) else None,
        "monotone": not drops,
        "drops": drops,
        "model": model,
        "matches_lru": bool(model) and all(m["within"] for m in model),
        "che_max_abs_error": float(errors.max()) if len(errors) else None,
        "tolerance": tolerance,
        "hit_faster_than_direct": faster,
        "latency_pairs": pairs,
    }


def nginx_comparison(workdir: Path) -> dict[str, Any]:
    """``edgelab bench --quick`` (edge-cache beside nginx proxy_cache): rows as a table."""
    from edgelab.bench.edge_vs_nginx import run

    workdir.mkdir(parents=True, exist_ok=True)
    # the bench calls asyncio.run(); a notebook's kernel already runs an event loop in this
    # thread, so the bench gets a thread of its own
    with ThreadPoolExecutor(max_workers=1) as pool:
        report = pool.submit(run, workdir, True, lambda _msg: None).result()
    data = report.to_dict()
    table = pd.DataFrame(data["rows"])
    table.to_csv(workdir / "bench.csv", index=False)
    return {
        "rows": len(table),
        "skipped": data["skipped"],
        "failed": [m for m in data["skipped"] if "failed" in m],
        "table": table,
        "environment": data["environment"],
    }


def model_table(verdict: dict[str, Any]) -> pd.DataFrame:
    """The measured-vs-model rows of :func:`compare` as a table."""
    return pd.DataFrame(verdict.get("model", []))
