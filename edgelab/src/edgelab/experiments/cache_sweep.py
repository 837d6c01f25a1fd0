"""The cache sweep: hit ratio and latency vs TTL, cache size, popularity skew and WAN latency.

For every point of the grid, one edge cache is restarted with an empty store,
`EDGE_CACHE_MAX_ENTRIES = cache_size` and a policy file that sets the freshness lifetime of
product resources to `ttl_s` (0: every request revalidates with the cloud); its link gets the
point's one-way WAN latency. A seeded read workload (`GET /api/products/{id}`, bounded Zipf(s)
over the real catalogue) runs through the edge: one sequence of `warmup_requests +
requests_per_point` reads (one seed, one popularity ranking), whose first `warmup_requests`
fill the cache and are not counted (rows with `phase == "warmup"`), the rest are measured
(`phase == "measure"`). Every point of one skew gets the same sequence (seed + the skew's
index), so cache sizes and TTLs are compared on the very same requests.

`hit_ratio` counts fresh hits only (`X-Edge-Cache: HIT`, no contact with the cloud).
`che_hit_ratio` is Che's approximation for an LRU cache of that size under the same Zipf law;
`ttl_hit_ratio` is the TTL-cache formula for the measured request rate (no size bound);
`expected_hit_ratio` = min of the two (an approximation of a TTL cache with an LRU bound).
The same requests replayed through exact models (`edgelab.analysis.replay`, no sampling):
`lru_replay_hit_ratio` / `fifo_replay_hit_ratio` — one client, the order sent, an exact LRU /
FIFO of that size (what Che approximates); `edge_replay_hit_ratio` — the exact LRU with the
run's concurrency (an answer enters the cache when its fetch is back; `coalesced` requests
waited for another one's fetch and are answered MISS), and `lru_band_low`..`lru_band_high`,
where the HIT ratio of a correct edge lies (`edge_band`; `lru_band_jitter_ms` is the timing
slack it allows).
After the grid, the largest, longest-lived cache configuration is compared with no cache at
every `compare_wan_ms` latency: the same reads through the edge (access `edge`) and to the
cloud through the link (access `direct`); `direct_latency_*` of a grid row is the direct
latency at that row's WAN latency (rows in `requests` with `phase == "compare"`).

Without a running `LocalTarget` the sweep starts its own one-edge lab in
`<lab_dir>-sweep` (free ports) and stops it at the end.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from edgelab.analysis import che_hit_ratio, ttl_hit_ratio
from edgelab.analysis.replay import edge_band, fifo_hits, lru_hits
from edgelab.experiments.cloud import CloudClient
from edgelab.experiments.runtime import run_async
from edgelab.jsonio import write_json
from edgelab.plots.runs import sweep_plots
from edgelab.results import write_csv
from edgelab.settings import LabSettings
from edgelab.targets.base import TargetError
from edgelab.targets.local import LocalTarget
from edgelab.workload import BoundedZipf, Operation, run_workload

COLUMNS = ["ttl_s", "cache_size", "zipf_s", "wan_latency_ms", "n_items", "requests", "hits",
           "revalidated", "misses", "errors", "hit_ratio", "che_hit_ratio", "ttl_hit_ratio",
           "expected_hit_ratio", "request_rate_per_s", "latency_mean_ms", "latency_p50_ms",
           "latency_p95_ms", "direct_latency_p50_ms", "direct_latency_p95_ms", "coalesced",
           "lru_replay_hit_ratio", "fifo_replay_hit_ratio", "edge_replay_hit_ratio",
           "lru_band_low", "lru_band_high", "lru_band_jitter_ms"]


@dataclass
class CacheSweepResult:
    table: pd.DataFrame
    requests: pd.DataFrame
    settings: dict[str, Any]
    plots: list[Path] = field(default_factory=list)

    def save(self, results_dir: Path | str) -> Path:
        out = Path(results_dir)
        out.mkdir(parents=True, exist_ok=True)
        write_csv(out / "cache_sweep.csv", self.table)
        write_csv(out / "requests.csv", self.requests)
        self.plots = sweep_plots(out, self.table, self.requests,
                                 int(self.settings.get("n_items", 0)))
        write_json(out / "summary.json", {"experiment": "cache-sweep", **self.settings,
                                          "points": self.table.to_dict(orient="records"),
                                          "plots": [p.name for p in self.plots]})
        return out


def _policy(path: Path, ttl_s: float) -> Path:
    path.write_text(
        "routes:\n"
        f"  - path: /api/products\n    methods: [GET, HEAD]\n    ttl: {float(ttl_s)!r}\n"
    )
    return path


def _reads(products: Sequence[int], s: float, n: int, seed: int, edge: str) -> list[Operation]:
    """`n` product reads, popularity bounded Zipf(s) over a seeded shuffle of the catalogue."""
    rng = np.random.default_rng(seed)
    order = [int(products[i]) for i in rng.permutation(len(products))]
    ranks = BoundedZipf(len(products), s, rng).sample(n)
    return [Operation("product", "GET", "/api/products/{id}", f"/api/products/{order[r]}", edge)
            for r in ranks.tolist()]


def cache_sweep(
    source: LabSettings | LocalTarget | None = None,
    *,
    ttls: Sequence[float] = (0.0, 300.0),
    cache_sizes: Sequence[int] = (5, 20, 60),
    zipf_s: Sequence[float] = (0.8, 1.2),
    wan_latency_ms: Sequence[float] = (20.0,),
    requests_per_point: int = 200,
    warmup_requests: int = 100,
    compare_wan_ms: Sequence[float] = (0.0, 20.0, 80.0),
    direct_requests: int = 60,
    concurrency: int = 8,
    edge: str = "shop-1",
    seed: int = 42,
    progress: bool = True,
    wan_loss: float = 0.0,
) -> CacheSweepResult:
    """Run the grid (module docstring); returns one row per point (`COLUMNS`).

    `wan_loss`: packet-loss fraction added on the link wherever a WAN latency is set (also
    with latency 0: then only the loss)."""
    if any(t < 0 for t in ttls) or any(c < 1 for c in cache_sizes) or any(s < 0 for s in zipf_s):
        raise ValueError("ttls and zipf exponents must be >= 0, cache sizes >= 1")
    if any(w < 0 for w in wan_latency_ms):
        raise ValueError("WAN latencies must be >= 0")
    if not 0 <= wan_loss < 1:
        raise ValueError(f"wan_loss must be a fraction in [0, 1), got {wan_loss}")
    if requests_per_point < 1:
        raise ValueError("requests_per_point must be >= 1")
    own = not isinstance(source, LocalTarget)
    if isinstance(source, LocalTarget):
        target = source
    else:
        s = source or LabSettings.from_env()
        target = LocalTarget(
            s.with_changes(lab_dir=Path(f"{s.lab_dir}-sweep"), edges=1, app_port=0,
                           edge_port=0, link_port=0, link_control_port=0, strict_ports=False)
        )
        target.up()
    try:
        return _sweep(target, edge, list(ttls), list(cache_sizes), list(zipf_s),
                      list(wan_latency_ms), requests_per_point, warmup_requests,
                      sorted(set(compare_wan_ms) | set(wan_latency_ms)), direct_requests,
                      concurrency, seed, progress, wan_loss)
    finally:
        if own:
            target.down()


def _sweep(
    target: LocalTarget, edge: str, ttls: list[float], sizes: list[int], skews: list[float],
    wans: list[float], n: int, warmup: int, compare: list[float], n_direct: int,
    concurrency: int, seed: int, progress: bool, loss: float = 0.0,
) -> CacheSweepResult:
    if edge not in target.edge_names():
        raise TargetError(f"unknown edge {edge!r} (this lab has: {target.edge_names()})")
    endpoints = target.endpoints()
    tokens = target.tokens()
    token = tokens.clerks[edge]
    link = target.link(edge)
    original_env = dict(target.edge_env.get(edge, {}))
    with CloudClient(endpoints.cloud, tokens.admin) as cloud:
        products = cloud.product_ids()
    if not products:
        raise TargetError("the cloud has no products; seed the demo data (`edgelab seed`)")
    policy_dir = target.lab_dir / "sweep"
    policy_dir.mkdir(parents=True, exist_ok=True)

    direct: dict[float, tuple[float, float]] = {}
    rows: list[dict[str, Any]] = []
    frames: list[pd.DataFrame] = []
    grid = list(itertools.product(wans, ttls, sizes, skews))
    bar = tqdm(grid, desc="cache sweep", unit="point", disable=not progress, leave=False)
    try:
        for wan, ttl, size, s in bar:
            if wan > 0 or loss > 0:
                link.degrade(latency_ms=wan, loss=loss)
            else:
                link.up()
            policy = _policy(policy_dir / f"policy-ttl-{ttl:g}.yaml", ttl)
            target.restart_edge(edge, {"EDGE_CACHE_MAX_ENTRIES": str(size),
                                       "EDGE_CACHE_HOT_ENTRIES": str(min(size, 4096)),
                                       "EDGE_CACHE_POLICY_FILE": str(policy)}, wipe=True)
            urls = {edge: target.endpoints().edges[edge]}
            # one sequence, one popularity ranking: the warm-up is the start of the measured run;
            # the same sequence for every size of a skew, so sizes are compared on equal terms
            ops = _reads(products, s, warmup + n, seed + skews.index(s), edge)
            warm = run_async(run_workload(ops[:warmup], urls, token=token,
                                          concurrency=concurrency, progress=False))
            table = run_async(run_workload(ops[warmup:], urls, token=token,
                                           concurrency=concurrency, progress=False))
            point = _point(table, ttl, size, s, wan, len(products))
            point.update(_replays(warm, table, [op.path for op in ops], warmup, ttl, size))
            rows.append(point)
            for part, phase in ((warm, "warmup"), (table, "measure")):
                part["ttl_s"], part["cache_size"], part["zipf_s"] = ttl, size, s
                part["wan_latency_ms"], part["access"], part["phase"] = wan, "edge", phase
                frames.append(part)
        # edge vs direct: the biggest, longest-lived cache of the grid, warm, per WAN latency
        urls = {edge: target.endpoints().edges[edge]}
        via_link = {edge: endpoints.direct[edge]}
        s_cmp = max(skews)
        reads_cmp = _reads(products, s_cmp, n_direct, seed + 1, edge)
        link.up()
        if (ttls[-1], sizes[-1]) != (max(ttls), max(sizes)):
            policy = _policy(policy_dir / f"policy-ttl-{max(ttls):g}.yaml", max(ttls))
            target.restart_edge(edge, {"EDGE_CACHE_MAX_ENTRIES": str(max(sizes)),
                                       "EDGE_CACHE_HOT_ENTRIES": str(min(max(sizes), 4096)),
                                       "EDGE_CACHE_POLICY_FILE": str(policy)}, wipe=True)
            urls = {edge: target.endpoints().edges[edge]}
        run_async(run_workload(reads_cmp, urls, token=token, concurrency=concurrency,
                               progress=False))  # the same reads at every latency: warm once
        for wan in compare:
            if wan > 0 or loss > 0:
                link.degrade(latency_ms=wan, loss=loss)
            else:
                link.up()
            for access, base in (("edge", urls), ("direct", via_link)):
                d = run_async(run_workload(reads_cmp, base, token=token,
                                           concurrency=concurrency, progress=False))
                d["access"], d["wan_latency_ms"], d["zipf_s"] = access, wan, s_cmp
                d["ttl_s"], d["cache_size"], d["phase"] = max(ttls), max(sizes), "compare"
                frames.append(d)
                ok = d[d["status"] == 200]["latency_ms"]
                if access == "direct":
                    direct[wan] = (float(ok.quantile(0.5)) if len(ok) else float("nan"),
                                   float(ok.quantile(0.95)) if len(ok) else float("nan"))
        for row in rows:
            row["direct_latency_p50_ms"], row["direct_latency_p95_ms"] = direct.get(
                row["wan_latency_ms"], (float("nan"), float("nan")))
    finally:
        bar.close()
        link.up()
        target.restart_edge(edge, original_env, wipe=True)
    result_table = pd.DataFrame(rows, columns=COLUMNS)
    settings = {"ttls": ttls, "cache_sizes": sizes, "zipf_s": skews, "wan_latency_ms": wans,
                "wan_loss": loss,
                "compare_wan_ms": compare,
                "requests_per_point": n, "warmup_requests": warmup, "concurrency": concurrency,
                "seed": seed, "n_items": len(products)}
    requests = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return CacheSweepResult(table=result_table, requests=requests, settings=settings)


def _on_one_clock(warm: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """The warm-up and measured rows in one table, on one time base (s since the warm-up)."""
    parts = []
    t0 = float(warm.attrs.get("started_at", 0.0)) if len(warm) else float(
        table.attrs.get("started_at", 0.0))
    for part, measured in ((warm, False), (table, True)):
        if not len(part):
            continue
        shift = float(part.attrs.get("started_at", t0)) - t0
        one = part[["path", "t", "latency_ms", "status", "cache_status"]].copy()
        one["start"] = one["t"].astype(float) + shift
        one["end"] = one["start"] + one["latency_ms"].fillna(0.0).astype(float) / 1000.0
        one["measured"] = measured
        parts.append(one)
    if not parts:
        return pd.DataFrame(columns=["path", "start", "end", "measured", "status"])
    return pd.concat(parts, ignore_index=True).sort_values("start", kind="stable")


def _replays(warm: pd.DataFrame, table: pd.DataFrame, sent: list[str], warmup: int,
             ttl: float, size: int) -> dict[str, Any]:
    """The point's requests through the exact models (module docstring)."""
    n = len(sent) - warmup
    both = _on_one_clock(warm, table)
    ok = both["status"].isin((200, 304)).to_numpy(bool)
    measured = both["measured"].to_numpy(bool)
    hits_ms = table.loc[table["cache_status"] == "HIT", "latency_ms"].dropna()
    if len(hits_ms) >= 5:
        jitter_ms = float(hits_ms.quantile(0.95))
    else:  # (almost) no hits: the fastest requests are the closest thing to a bare lookup
        jitter_ms = float(table["latency_ms"].dropna().quantile(0.05)) if len(table) else 0.0
    band = edge_band(both["path"].tolist(), both["start"].to_numpy(float),
                     both["end"].to_numpy(float), size, measured, ok,
                     jitter_s=jitter_ms / 1000.0, ttl_s=ttl)
    answered = int((ok & measured).sum())
    nan = float("nan")
    return {
        "coalesced": band.coalesced,
        "lru_replay_hit_ratio": lru_hits(sent, size, warmup) / n if n else nan,
        "fifo_replay_hit_ratio": fifo_hits(sent, size, warmup) / n if n else nan,
        # ratios of the answered requests, as hit_ratio (none answered: nothing to compare)
        "edge_replay_hit_ratio": band.expected / answered if answered else nan,
        "lru_band_low": band.low / answered if answered else nan,
        "lru_band_high": min(band.high / answered, 1.0) if answered else nan,
        "lru_band_jitter_ms": jitter_ms,
    }


def _point(table: pd.DataFrame, ttl: float, size: int, s: float, wan: float,
           n_items: int) -> dict[str, Any]:
    ok = table[table["status"].isin((200, 304))]
    status = table["cache_status"].fillna("")
    hits = int((status == "HIT").sum())
    revalidated = int((status == "REVALIDATED").sum())
    errors = int(len(table) - len(ok))
    measured = len(ok)
    duration = float(table["t"].max() - table["t"].min()) if len(table) > 1 else 0.0
    rate = measured / duration if duration > 0 else 0.0
    che = che_hit_ratio(n_items, min(size, n_items), s)
    ttl_ratio = ttl_hit_ratio(ttl, rate, n_items, s) if ttl > 0 else 0.0
    lat = ok["latency_ms"]
    return {
        "ttl_s": ttl, "cache_size": size, "zipf_s": s, "wan_latency_ms": wan,
        "n_items": n_items, "requests": len(table), "hits": hits, "revalidated": revalidated,
        "misses": int(measured - hits - revalidated), "errors": errors,
        "hit_ratio": hits / measured if measured else float("nan"),
        "che_hit_ratio": che, "ttl_hit_ratio": ttl_ratio,
        "expected_hit_ratio": min(che, ttl_ratio),
        "request_rate_per_s": rate,
        "latency_mean_ms": float(lat.mean()) if len(lat) else float("nan"),
        "latency_p50_ms": float(lat.quantile(0.5)) if len(lat) else float("nan"),
        "latency_p95_ms": float(lat.quantile(0.95)) if len(lat) else float("nan"),
        "direct_latency_p50_ms": float("nan"), "direct_latency_p95_ms": float("nan"),
    }
