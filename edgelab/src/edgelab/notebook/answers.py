"""The student's side of a notebook: predictions before a run, exercises after it.

- :func:`predict` records the values the student filled in before an experiment (None: not
  predicted yet) and says so;
- :func:`compare` puts a prediction beside the measured value (recorded under
  ``predictions`` in results.json; ``edgelab check`` shows the same table in its report);
- :func:`exercise` calls the student's function and checks its answer. While ``edgelab
  check`` grades a notebook it does not call it here: the grader calls it in a separate
  process and compares with the value it recomputes from the raw data itself.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from typing import Any

from edgelab.notebook.results import Results

GRADING_ENV = "EDGELAB_GRADING"


def grading() -> bool:
    """True while ``edgelab check`` grades the student's answers."""
    return os.environ.get(GRADING_ENV) == "1"


def predict(results: Results, lang: str = "en", **values: Any) -> dict[str, Any]:
    """Record predictions (keyword = value); print which are still missing."""
    stored: dict[str, Any] = dict(results.values.get("predictions_made") or {})
    stored.update(values)
    results.record("predictions_made", stored)
    missing = [k for k, v in values.items() if v is None]
    if missing:
        print(("还没有预测: " if lang == "zh-CN" else "not predicted yet: ") + ", ".join(missing))
    else:
        head = "你的预测: " if lang == "zh-CN" else "your prediction: "
        print(head + ", ".join(f"{k} = {v!r}" for k, v in values.items()))
    return stored


def compare(results: Results, name: str, predicted: Any, measured: Any,
            unit: str = "", lang: str = "en") -> dict[str, Any]:
    """Record ``predicted`` beside ``measured`` under ``predictions[name]`` and print both."""
    table: dict[str, Any] = dict(results.values.get("predictions") or {})
    entry = {"predicted": predicted, "measured": measured, "unit": unit}
    table[name] = entry
    results.record("predictions", table)
    shown = fmt(predicted)
    if lang == "zh-CN":
        print(f"{name}: 预测 {shown}{unit}，实测 {fmt(measured)}{unit}")
    else:
        print(f"{name}: predicted {shown}{unit}, measured {fmt(measured)}{unit}")
    return entry


def fmt(value: Any) -> str:
    """A predicted or measured value as the notebook and the grader's report show it."""
    return "—" if value is None else f"{value:.3g}" if isinstance(value, float) else str(value)


def exercise(results: Results, name: str, func: Callable[..., Any] | None,
             args: tuple[Any, ...],
             expected: Any, *, tolerance: float = 0.01, success: str = "", hint: str = "",
             lang: str = "en") -> bool | None:
    """Check ``func(*args)`` against ``expected`` (None when graded outside the kernel)."""
    if grading():
        results.skip(name, "由 edgelab check 在内核之外评分" if lang == "zh-CN"
                     else "graded by edgelab check outside this kernel")
        return None
    if func is None:
        return results.check(name, False, hint=hint, observed="the exercise cell defines no "
                             "function (run it first)")
    try:
        got = func(*args)
    except Exception as exc:
        return results.check(name, False, hint=hint, observed=f"{type(exc).__name__}: {exc}")
    ok = close(got, expected, tolerance)
    results.record(f"exercise {name}", {"yours": got, "expected": expected})
    return results.check(name, ok, success=success.format(got=fmt(got), expected=fmt(expected)),
                         hint=hint, observed={"yours": got, "expected": expected})


def close(got: Any, expected: Any, tolerance: float) -> bool:
    """``got`` within ``tolerance`` of ``expected`` (both None counts; a non-number never)."""
    if got is None or expected is None:
        return got is None and expected is None
    try:
        return math.isclose(float(got), float(expected), abs_tol=tolerance)
    except (TypeError, ValueError):
        return False
