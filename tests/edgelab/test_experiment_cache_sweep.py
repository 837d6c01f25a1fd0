"""cache_sweep on the session's real local lab with a tiny grid (seconds)."""

from __future__ import annotations

from pathlib import Path

import pytest
from edgelab.analysis import che_hit_ratio
from edgelab.experiments import cache_sweep
from edgelab.notebook import performance
from edgelab.targets.local import LocalTarget

pytestmark = pytest.mark.slow


def test_tiny_sweep(local_lab: LocalTarget, tmp_path: Path) -> None:
    result = cache_sweep(local_lab, ttls=(300.0,), cache_sizes=(3, 40), zipf_s=(1.0,),
                         wan_latency_ms=(0.0,), compare_wan_ms=(0.0, 15.0),
                         requests_per_point=80, warmup_requests=60, direct_requests=20,
                         concurrency=4, seed=3, progress=False)
    table = result.table.sort_values("cache_size").reset_index(drop=True)
    assert list(table["cache_size"]) == [3, 40]
    assert table["errors"].sum() == 0
    assert table["hit_ratio"].between(0, 1).all()
    # a cache holding most of the 60-product catalogue hits far more than one of 3 entries
    assert table.loc[1, "hit_ratio"] > table.loc[0, "hit_ratio"]
    n_items = int(table.loc[0, "n_items"])
    for row in table.to_dict("records"):
        assert row["che_hit_ratio"] == pytest.approx(che_hit_ratio(n_items, row["cache_size"], 1.0))
    # the warm-up is the start of the measured sequence (one seed, one ranking), recorded too
    phases = result.requests.groupby("phase").size().to_dict()
    assert phases["warmup"] == 2 * 60 and phases["measure"] == 2 * 80
    for row in table.to_dict("records"):
        # a true LRU edge: its HIT ratio lies in the band of the exact replay of its requests
        assert row["lru_band_low"] <= row["hit_ratio"] <= row["lru_band_high"], row
        assert row["lru_band_low"] <= row["edge_replay_hit_ratio"] <= row["lru_band_high"]
    verdict = performance.compare(result.table, 0.0, requests=result.requests, warmup=60)
    assert verdict["matches_lru"], verdict["model"]
    compare = result.requests[result.requests["phase"] == "compare"]
    assert set(compare["access"]) == {"edge", "direct"}
    assert set(compare["wan_latency_ms"]) == {0.0, 15.0}
    assert table["direct_latency_p50_ms"].notna().all()
    # the edge was put back as it was
    assert all(r.healthy for r in local_lab.health())
    assert local_lab.link("shop-1").state().state == "up"
    out = result.save(tmp_path / "sweep")
    for name in ("cache_sweep.csv", "requests.csv", "summary.json", "hit_ratio_ttl-300.png",
                 "edge_vs_direct.png"):
        assert (out / name).stat().st_size > 0, name


def test_bad_grid(local_lab: LocalTarget) -> None:
    with pytest.raises(ValueError, match="cache sizes"):
        cache_sweep(local_lab, cache_sizes=(0,), progress=False)
    with pytest.raises(ValueError, match="WAN"):
        cache_sweep(local_lab, wan_latency_ms=(-1.0,), progress=False)
