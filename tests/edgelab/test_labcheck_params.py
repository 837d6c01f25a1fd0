"""Notebook parameters are validated (names, types, ranges, choices) before anything runs."""

from __future__ import annotations

from pathlib import Path

import pytest
from edgelab.labcheck.params import (
    ParameterError,
    inspect_params,
    load_params_file,
    params_for,
    parse_value,
)

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb"))


@pytest.fixture(scope="module")
def nbs() -> list:
    return [inspect_params(p) for p in NOTEBOOKS]


@pytest.mark.parametrize("name", sorted(p.name for p in (ROOT / "notebooks/params").glob("*.yaml")))
def test_shipped_parameter_files_are_valid(nbs: list, name: str) -> None:
    per = params_for(nbs, load_params_file(ROOT / "notebooks/params" / name))
    assert set(per) == {nb.stem for nb in nbs}


def test_every_notebook_default_is_valid(nbs: list) -> None:
    for nb in nbs:
        defaults = {k: parse_value(str(v)) if not str(v).startswith(("'", '"')) else str(v)[1:-1]
                    for k, v in nb.defaults.items()}
        params_for([nb], defaults)


@pytest.mark.parametrize(
    "given,message",
    [
        ({"outage_s": "twenty"}, "outage_s: 'twenty' is not a number"),
        ({"outage_s": -5}, "outage_s: -5 must be > 0"),
        ({"edges": 0}, "edges: 0 must be >= 1"),
        ({"mode": "blackhol"}, "did you mean 'blackhole'"),
        ({"edges": 2.5}, "edges: 2.5 is not a whole number"),
        ({"baseline": "yes"}, "baseline: 'yes' is not True or False"),
        ({"write_share": 1.5}, "write_share: 1.5 must be <= 1"),
        ({"cache_sizes": [10, 0]}, "cache_sizes (list): 0 must be >= 1"),
        ({"zipf_s": []}, "zipf_s: the list is empty"),
        ({"target": "clouds"}, "target: 'clouds' is not one of local, cluster"),
        ({"outage_z": 3}, "did you mean 'outage_s'"),
        ({"02-deploy": {"edge": "shop-3"}, "edges": 2}, "edge: 'shop-3' is not one of"),
        ({"02-deploy": {"wan_latency_ms": "fast"}}, "wan_latency_ms: 'fast' is not a number"),
    ],
)
def test_bad_values_are_refused_with_one_clear_message(nbs: list, given: dict,
                                                       message: str) -> None:
    with pytest.raises(ParameterError) as info:
        params_for(nbs, given)
    assert message in str(info.value)
    assert "Traceback" not in str(info.value)


def test_all_problems_at_once_and_lists_from_a_number(nbs: list) -> None:
    with pytest.raises(ParameterError) as info:
        params_for(nbs, {"outage_s": "twenty", "edges": 0, "mode": "blackhol"})
    text = str(info.value)
    assert text.count("\n") == 3 and "edges: 0" in text and "mode:" in text
    per = params_for(nbs, {"04-cache-performance": {"ttl_s": 300, "cache_sizes": 3.0},
                           "drain_timeout_s": None})
    assert per["04-cache-performance"]["ttl_s"] == [300]
    assert per["04-cache-performance"]["cache_sizes"] == [3]
    assert per["03-disconnection"]["drain_timeout_s"] is None
    # a translation takes its original's section
    if "04-cache-performance.zh-CN" in per:
        assert per["04-cache-performance.zh-CN"]["ttl_s"] == [300]
