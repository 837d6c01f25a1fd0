"""The grader cannot be fooled by the student's copy of a notebook.

A tiny reference source named like notebook 03 writes the same raw files as the real
experiment (requests.csv, writes.csv, summary.json) from a parameter, so the tests run real
kernels through `edgelab check --sources DIR` in seconds: the reference solutions pass; a
tampered copy (check cell deleted, forged `results.check(..., True)` in a new cell, in the
prediction cell and in the exercise cell) still fails on the recomputed raw data, while the
student's correct exercise passes when called outside the kernel.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import nbformat
import pytest
from edgelab.labcheck import grading, sources
from edgelab.labcheck.outcome import NotebookRun, evaluate
from edgelab.labcheck.restore import filter_exercise, filter_prediction, restore

from tests.notebooks.labcheck_support import edgelab_check

STEM = "03-disconnection"
FORGED = 'results.check("every write applied exactly once", True)'

TINY = '''# %% [markdown] id="title"
# # A tiny disconnection lab

# %% tags=["parameters"] id="params"
results_dir = "results"
cleanup = True
lost = 0  # accepted writes the fake experiment loses
min_read_success = 0.5

# %% id="setup"
import json
from pathlib import Path

import pandas as pd
from edgelab.notebook import Results, answers

results = Results(results_dir, notebook="03-disconnection", cleanup=cleanup)

# %% id="predict" answer="prediction"
predicted_read_success = None

# %% id="predict" solution=true
predicted_read_success = 0.9

# %% id="experiment" tags=["raw-data"]
out = Path(results_dir)
pd.DataFrame({
    "t": [0.5, 1.2, 1.5, 2.0, 2.5, 3.5],
    "variant": ["edge"] * 6,
    "method": ["GET", "GET", "GET", "POST", "GET", "GET"],
    "status": [200, 200, 200, 202, 200, 200],
    "cache_status": ["HIT", "MISS", "OFFLINE-HIT", "QUEUED", "OFFLINE-HIT", "HIT"],
    "idempotency_key": [None, None, None, "k1", None, None],
}).to_csv(out / "requests.csv", index=False)
pd.DataFrame({
    "doc_id": ["d1", "d2"], "accepted": [True, True], "applied": [True, lost == 0],
    "ledger_posts": [1, 1 if lost == 0 else 0],
}).to_csv(out / "writes.csv", index=False)
(out / "summary.json").write_text(json.dumps({"t_cut": 1.0, "t_restore": 3.0,
                                              "drain_time_s": 0.4}))
results.record("lost", lost)

# %% id="check"
results.check("every write applied exactly once", lost == 0, hint="see writes.csv")

# %% id="ex" answer="exercise"
def detection_delay(requests, t_cut):
    return None

# %% id="ex" solution=true
def detection_delay(requests, t_cut):  # noqa: F811
    offline = requests[(requests["t"] >= t_cut) & (requests["cache_status"] == "OFFLINE-HIT")]
    return None if offline.empty else float(offline["t"].min() - t_cut)

# %% id="ex-check"
answers.exercise(results, "exercise: detection delay", globals().get("detection_delay"),
                 (pd.read_csv(out / "requests.csv"), 1.0), 0.5)

# %% [markdown] id="q1"
# 1. Why did the edge answer offline?

# %% [markdown] id="a1" answer="reflection"
# *Your answer:*

# %% tags=["teardown"] id="teardown"
results.teardown()
'''

STUDENT_EXERCISE = '''import pandas as pd
results.check("exercise: detection delay", True)


def detection_delay(requests: pd.DataFrame, t_cut: float) -> float | None:
    edge = requests[requests["variant"] == "edge"]
    hits = edge[(edge["t"] >= t_cut) & (edge["cache_status"] == "OFFLINE-HIT")]
    return float(hits["t"].min() - t_cut) if len(hits) else None
'''


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tiny")
    (root / "src").mkdir()
    (root / "src" / f"{STEM}.py").write_text(TINY, "utf-8")
    nbformat.write(sources.build(root / "src" / f"{STEM}.py"), root / f"{STEM}.ipynb")
    return root


def _tampered(lab: Path, tmp: Path) -> Path:
    nb = nbformat.read(lab / f"{STEM}.ipynb", as_version=4)
    cells = {c.id: c for c in nb.cells}
    nb.cells = [c for c in nb.cells if c.id != "check"]  # the check cell deleted
    cells["predict"].source = f"predicted_read_success = 0.8\n{FORGED}"
    cells["ex"].source = STUDENT_EXERCISE
    cells["a1"].source = "The prober saw the link refuse connections."
    forged = nbformat.v4.new_code_cell(FORGED)
    forged.id = "forged"
    nb.cells.insert(len(nb.cells) - 1, forged)
    path = tmp / f"{STEM}.ipynb"
    nbformat.write(nb, path)
    return path


def test_reference_solutions_pass(tmp_path: Path, lab: Path) -> None:
    run = edgelab_check(tmp_path / "run", "--sources", str(lab / "src"), "--solutions",
                        str(lab / f"{STEM}.ipynb"), timeout=240)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    checks = run.checks(STEM)
    assert checks["exercise: detection delay"]["status"] == "passed"
    assert checks["predictions made"]["status"] == "passed"
    assert checks["hidden: each accepted write has its own idempotency key"]["status"] == "passed"
    assert "recomputed from writes.csv" in checks["every write applied exactly once"]["message"] \
        or checks["every write applied exactly once"]["status"] == "passed"


def test_a_tampered_notebook_fails_grading(tmp_path: Path, lab: Path) -> None:
    student = _tampered(lab, tmp_path)
    run = edgelab_check(tmp_path / "run", "--sources", str(lab / "src"), str(student),
                        "-p", "lost", "1", timeout=240)
    assert run.returncode == 1, run.stdout[-4000:] + run.stderr[-2000:]
    checks = run.checks(STEM)
    # the deleted check cell was restored from the reference; the forgeries never ran
    once = checks["every write applied exactly once"]
    assert once["status"] == "failed" and "lost 1" in once["detail"], once
    restored = checks["cells restored from the reference"]["message"]
    assert "check" in restored and "not in the reference were ignored" in restored
    assert "results.check" in restored  # dropped from the prediction and the exercise cell
    # the student's own answers still count: the exercise is graded outside the kernel
    exercise = checks["exercise: detection delay"]
    assert exercise["status"] == "passed", checks
    assert exercise["message"].startswith("your detection_delay() = 0.5 s"), exercise
    assert checks["predictions made"]["status"] == "passed"
    summary = next(n for n in run.summary["notebooks"] if n["notebook"] == STEM)
    assert summary["predictions"] == [
        {"name": "predicted_read_success", "predicted": 0.8, "measured": 1.0}
    ]
    assert summary["reflections"][0]["answer"].startswith("The prober saw")
    index = (run.run_dir / "index.html").read_text("utf-8")
    assert "The prober saw the link refuse connections." in index and "0.8" in index


def test_the_untouched_student_copy_fails_its_exercise_and_predictions(
    tmp_path: Path, lab: Path
) -> None:
    stub = sources.build(lab / "src" / f"{STEM}.py")
    done = restore(stub, stub)
    sealed = tmp_path / "sealed"
    sealed.mkdir()
    _fake_raw(sealed, lost=0)
    graded = {g.name: g for g in grading.grade(STEM, grading.RawData(sealed, {}), done.answers)}
    assert graded["exercise: detection delay"].status == "failed"
    assert "returned None" in graded["exercise: detection delay"].detail
    assert graded["predictions made"].status == "failed"


def test_recomputed_raw_data_overrides_a_forged_results_json(tmp_path: Path) -> None:
    out = tmp_path / STEM
    out.mkdir()
    forged = {"checks": [{"name": "every write applied exactly once", "status": "passed",
                          "success": "forged"}]}
    (out / "results.json").write_text(json.dumps(forged))
    _fake_raw(tmp_path / "sealed", lost=1)
    run = NotebookRun(stem=STEM, source=tmp_path / "none.ipynb", out_dir=out,
                      executed=out / "x.ipynb")
    graded = grading.grade(STEM, grading.RawData(tmp_path / "sealed", {}), {})
    outcome = {c.name: c for c in evaluate(run, graded)}["every write applied exactly once"]
    assert outcome.status == "failed"
    assert "notebook said passed" in outcome.detail and "lost 1" in outcome.detail


def test_answer_filters_keep_only_literals_and_plain_definitions() -> None:
    code, dropped = filter_prediction(f"x = 0.5\ny = open('f').read()\n{FORGED}", ["x", "y"])
    assert code == "x = 0.5" and len(dropped) == 2
    code, dropped = filter_exercise(
        "import os\nimport pandas as pd\n"
        "def f(a, b=results.check('x', True)):\n    return a\n"
        "@decorator\ndef g():\n    pass\n"
        "def h(a: float) -> float:\n    return a * 2\n"
        f"{FORGED}\n"
    )
    assert "import pandas as pd" in code and "def h" in code
    assert "def f" not in code and "def g" not in code and "import os" not in code
    assert len(dropped) == 4


def _fake_raw(sealed: Path, lost: int) -> None:
    import pandas as pd

    sealed.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"t": [1.5, 2.0], "variant": ["edge", "edge"], "method": ["GET", "POST"],
                  "status": [200, 202], "cache_status": ["OFFLINE-HIT", "QUEUED"],
                  "idempotency_key": [None, "k1"]}).to_csv(sealed / "requests.csv", index=False)
    pd.DataFrame({"doc_id": ["d1"], "accepted": [True], "applied": [lost == 0],
                  "ledger_posts": [1 - lost]}).to_csv(sealed / "writes.csv", index=False)
    (sealed / "summary.json").write_text(json.dumps({"t_cut": 1.0, "t_restore": 3.0}))


def test_che_exercise_is_graded_on_a_visible_and_two_hidden_cases() -> None:
    source = sources.build(sources.source_for("04-cache-performance") or Path(), reference=True)
    cell = next(c for c in source.cells if c.metadata.get("edgelab", {}).get("answer")
                == "exercise")
    solution = restore(source, source).answers[cell.id]
    graded = grading.exercise_04(grading.RawData(Path("/nonexistent"), {}),
                                 {cell.id: solution})
    assert [g.status for g in graded] == ["passed"] * 3, graded
    assert [g.hidden for g in graded] == [False, True, True]
    # right for the visible case only (hard-coded): the hidden cases catch it
    visible = grading.CHE_CASES[0]
    from edgelab.analysis.che import che_hit_ratio

    cheat = f"def che_hit_ratio(n_items, cache_size, s):\n    return {che_hit_ratio(*visible)!r}\n"
    cheated = grading.exercise_04(grading.RawData(Path("/nonexistent"), {}),
                                  {cell.id: dataclasses.replace(solution, executed=cheat)})
    assert [g.status for g in cheated] == ["passed", "failed", "failed"], cheated
