"""Bounded Zipf and the operation mixes: seeded, deterministic, distributed as specified."""

from __future__ import annotations

import itertools
import uuid
from collections import Counter

import numpy as np
import pytest
from edgelab.workload import MIXES, BoundedZipf, generate, iter_operations, zipf_probabilities
from scipy.stats import chisquare

CATALOGUE = list(range(101, 141))  # 40 products
WAREHOUSES = {"shop-1": [2], "shop-2": [3, 4]}


@pytest.mark.parametrize("s", [0.0, 0.6, 0.99, 1.4])
def test_zipf_frequencies_match_target_distribution(s: float) -> None:
    n, draws = 50, 60_000
    sampler = BoundedZipf(n, s, seed=1234)
    counts = np.bincount(sampler.sample(draws), minlength=n)
    assert counts.sum() == draws and len(counts) == n
    expected = zipf_probabilities(n, s) * draws
    result = chisquare(counts, expected)
    assert result.pvalue > 0.001, (s, result)
    # Rank 1 is the most popular for s > 0; uniform for s = 0.
    if s > 0:
        assert counts[0] == counts.max()


def test_zipf_is_seeded_and_rejects_bad_parameters() -> None:
    a = BoundedZipf(100, 0.9, seed=7).sample(1000)
    b = BoundedZipf(100, 0.9, seed=7).sample(1000)
    c = BoundedZipf(100, 0.9, seed=8).sample(1000)
    assert (a == b).all() and not (a == c).all()
    assert a.min() >= 0 and a.max() < 100
    with pytest.raises(ValueError, match="exponent"):
        BoundedZipf(10, -0.5)
    with pytest.raises(ValueError, match="keys"):
        zipf_probabilities(0, 1.0)


@pytest.mark.parametrize("mix", sorted(MIXES))
def test_same_seed_same_sequence(mix: str) -> None:
    one = generate(mix, 300, seed=42, catalogue=CATALOGUE, warehouses=WAREHOUSES)
    two = generate(mix, 300, seed=42, catalogue=CATALOGUE, warehouses=WAREHOUSES)
    other = generate(mix, 300, seed=43, catalogue=CATALOGUE, warehouses=WAREHOUSES)
    assert one == two
    assert one != other


def test_shop_mix_operations_are_well_formed() -> None:
    ops = generate("shop", 4000, seed=5, catalogue=CATALOGUE, warehouses=WAREHOUSES, s=0.9)
    kinds = Counter(op.kind for op in ops)
    assert set(kinds) == {"browse", "product", "stock", "sell", "receive", "stocktake"}
    for kind, weight in MIXES["shop"].items():
        assert abs(kinds[kind] / len(ops) - weight) < 0.03, (kind, kinds[kind])
    doc_ids = [op.doc_id for op in ops if op.is_write]
    keys = [op.idempotency_key for op in ops if op.is_write]
    assert len(set(doc_ids)) == len(doc_ids) and len(set(keys)) == len(keys)
    for op in ops:
        assert op.edge in WAREHOUSES
        if op.is_write:
            assert op.body is not None and op.method == "POST" and op.path == "/api/documents"
            assert uuid.UUID(str(op.body["id"])).version == 4
            assert op.body["warehouse_id"] in WAREHOUSES[op.edge]
            assert op.body["post"] is True
            line = op.body["lines"][0]
            assert line["product_id"] in CATALOGUE
            doc_type = {"sell": "sales_issue", "receive": "purchase_receipt"}.get(op.kind)
            if doc_type:
                assert op.body["type"] == doc_type and line["qty"] > 0
            else:
                assert op.body["type"] == "stocktake"
                assert op.expected_from == (
                    f"/api/warehouses/{op.body['warehouse_id']}/stock/{line['product_id']}"
                )
        else:
            assert op.body is None and op.idempotency_key is None
            assert op.path.startswith("/api/")


def test_product_popularity_follows_zipf_over_the_catalogue() -> None:
    ops = generate("ycsb-c", 20_000, seed=9, catalogue=CATALOGUE, warehouses=WAREHOUSES, s=1.0)
    counts = Counter(op.path for op in ops)
    freqs = sorted(counts.values(), reverse=True)
    expected = zipf_probabilities(len(CATALOGUE), 1.0) * len(ops)
    assert len(freqs) == len(CATALOGUE)
    assert chisquare(freqs, expected).pvalue > 0.001


def test_rmw_is_a_read_followed_by_a_write_and_bad_mixes_fail() -> None:
    ops = generate("ycsb-f", 200, seed=1, catalogue=CATALOGUE, warehouses=WAREHOUSES)
    for first, second in itertools.pairwise(ops):
        if second.kind == "sell":
            assert first.kind == "stock" and first.edge == second.edge
    with pytest.raises(ValueError, match="unknown mix"):
        next(iter_operations("ycsb-z", 1, CATALOGUE, WAREHOUSES))
    with pytest.raises(ValueError, match="catalogue"):
        next(iter_operations("shop", 1, [], WAREHOUSES))
    with pytest.raises(ValueError, match="unknown operation kind"):
        next(iter_operations({"dance": 1.0}, 1, CATALOGUE, WAREHOUSES))


def test_spread_writes_keep_the_share_in_every_window() -> None:
    import itertools

    mix = {"product": 0.5, "stock": 0.38, "sell": 0.08, "receive": 0.04}
    ops = list(itertools.islice(iter_operations(mix, 42, list(range(1, 301)), {"s": [1]},
                                                spread_writes=True), 1200))
    writes = [op.is_write for op in ops]
    assert sum(writes) == pytest.approx(0.12 * 1200, abs=1)
    # every 9 consecutive operations (ceil(1 / 0.12)) hold a write
    assert all(any(writes[i:i + 9]) for i in range(len(writes) - 9))
    assert {op.kind for op in ops} == set(mix)
    again = list(itertools.islice(iter_operations(mix, 42, list(range(1, 301)), {"s": [1]},
                                                  spread_writes=True), 1200))
    assert [o.path for o in again] == [o.path for o in ops]
