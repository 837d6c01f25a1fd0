"""edgelab.jsonio: the one JSON helper (results, experiment summaries, CLI --json, the grader)."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
from edgelab.jsonio import dumps, jsonable, read_json, write_json


@dataclasses.dataclass
class Point:
    size: int
    ratio: float


def test_nan_and_infinity_become_null_anywhere() -> None:
    data = {"a": math.nan, "b": [math.inf, -math.inf, 1.5], "c": np.float64("nan"),
            "d": pd.Series([1.0, math.nan], index=["x", "y"]), "e": pd.NaT}
    text = dumps(data)
    assert json.loads(text) == {"a": None, "b": [None, None, 1.5], "c": None,
                                "d": {"x": 1.0, "y": None}, "e": None}
    assert "NaN" not in text and "Infinity" not in text


def test_scientific_and_standard_values() -> None:
    frame = pd.DataFrame({"size": [10, 20], "ratio": [0.5, math.nan]})
    assert jsonable(frame) == [{"size": 10, "ratio": 0.5}, {"size": 20, "ratio": None}]
    assert jsonable(np.int64(7)) == 7 and type(jsonable(np.int64(7))) is int
    assert jsonable(np.array([1, 2])) == [1, 2]
    assert jsonable(Point(3, math.inf)) == {"size": 3, "ratio": None}
    assert jsonable(Path("/tmp/x")) == "/tmp/x"
    assert jsonable({"b", "a"}) == ["a", "b"]


def test_text_keeps_chinese_and_one_line_without_indent() -> None:
    assert dumps({"提示": "发件箱"}, indent=None) == '{"提示": "发件箱"}'


def test_write_is_atomic_and_read_tolerates_broken_files(tmp_path: Path) -> None:
    path = write_json(tmp_path / "sub" / "summary.json", {"x": math.nan})
    assert read_json(path) == {"x": None}
    assert [p.name for p in path.parent.iterdir()] == ["summary.json"]  # no .tmp left behind
    path.write_text('{"x": ')
    assert read_json(path) is None
    path.write_text("[1, 2]")
    assert read_json(path) is None  # not an object
    assert read_json(tmp_path / "missing.json") is None
