"""The stored notebooks: no outputs, a tagged parameters cell, a teardown cell, ruff-clean code,
and identical to a fresh build of their
jupytext sources (notebooks/src)."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from tests.notebooks.labcheck_support import NOTEBOOKS, REPO

STEMS = ["01-install", "02-deploy", "03-disconnection", "04-cache-performance"]
COMMON = {"target", "kubeconfig", "inventory", "seed", "results_dir", "cleanup"}


@pytest.fixture(params=STEMS)
def notebook(request: pytest.FixtureRequest) -> tuple[str, nbformat.NotebookNode]:
    path = NOTEBOOKS / f"{request.param}.ipynb"
    return request.param, nbformat.read(path, as_version=4)


@pytest.fixture(params=[f"{s}{lang}" for s in STEMS for lang in ("", ".zh-CN")])
def stored(request: pytest.FixtureRequest) -> tuple[str, nbformat.NotebookNode]:
    return request.param, nbformat.read(NOTEBOOKS / f"{request.param}.ipynb", as_version=4)


def test_all_four_notebooks_exist_in_both_languages() -> None:
    names = sorted(p.name for p in NOTEBOOKS.glob("[0-9]*.ipynb"))
    assert names == sorted([f"{s}.ipynb" for s in STEMS] + [f"{s}.zh-CN.ipynb" for s in STEMS])


def _shape(code: str) -> str:
    """The code with every string literal blanked: the same program in any language."""
    tree = ast.parse(code)
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            node.value = ""
        if isinstance(node, ast.JoinedStr):
            node.values = []
    return ast.dump(tree)


def _untranslated_messages(notebook: nbformat.NotebookNode) -> list[str]:
    """Every ``success=``/``hint=`` of a call (checks, exercises) and every skip reason that
    holds no Chinese character: a message built in English elsewhere (e.g. a value returned
    by edgelab) is not translated by the builder."""
    found: list[str] = []
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        for node in ast.walk(ast.parse(cell.source)):
            if not isinstance(node, ast.Call):
                continue
            texts = [kw.value for kw in node.keywords if kw.arg in ("success", "hint")]
            if isinstance(node.func, ast.Attribute) and node.func.attr == "skip":
                texts += node.args[1:2]
            for text in texts:
                source = ast.get_source_segment(cell.source, text) or ""
                if not re.search(r"[\u4e00-\u9fff]", source):
                    found.append(f"{cell.id}: {source[:80]}")
    return found


@pytest.mark.parametrize("stem", STEMS)
def test_chinese_hints_and_messages_are_chinese(stem: str) -> None:
    zh = nbformat.read(NOTEBOOKS / f"{stem}.zh-CN.ipynb", as_version=4)
    assert _untranslated_messages(zh) == []
    en = nbformat.read(NOTEBOOKS / f"{stem}.ipynb", as_version=4)
    assert _untranslated_messages(en), "the English notebook has English messages"


@pytest.mark.parametrize("stem", STEMS)
def test_chinese_notebook_has_the_same_cells_code_and_checks(stem: str) -> None:
    from edgelab.labcheck.outcome import declared_checks

    en = nbformat.read(NOTEBOOKS / f"{stem}.ipynb", as_version=4)
    zh = nbformat.read(NOTEBOOKS / f"{stem}.zh-CN.ipynb", as_version=4)
    assert [c.id for c in en.cells] == [c.id for c in zh.cells]
    assert [c.metadata for c in en.cells] == [c.metadata for c in zh.cells]
    names = [d.name for d in declared_checks(NOTEBOOKS / f"{stem}.ipynb")]
    assert names and names == [d.name for d in declared_checks(NOTEBOOKS / f"{stem}.zh-CN.ipynb")]
    for a, b in zip(en.cells, zh.cells, strict=True):
        if a.cell_type == "code":
            assert _shape(a.source) == _shape(b.source), a.id
        else:
            assert re.search(r"[\u4e00-\u9fff]", b.source), f"{stem} cell {a.id} untranslated"
    assert zh.metadata["edgelab"] == {"notebook": stem, "lang": "zh-CN"}


def test_stored_without_outputs(stored: tuple[str, nbformat.NotebookNode]) -> None:
    _, nb = stored
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, cell.source[:80]
    assert "papermill" not in nb.metadata


def test_tagged_parameters_and_teardown(notebook: tuple[str, nbformat.NotebookNode]) -> None:
    import papermill

    stem, nb = notebook
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    params = papermill.inspect_notebook(str(NOTEBOOKS / f"{stem}.ipynb"))
    assert set(params) >= COMMON, COMMON - set(params)
    assert params["results_dir"]["default"].strip("'\"").endswith(stem)
    assert params["cleanup"]["default"] == "True"
    teardown = [c for c in nb.cells if "teardown" in c.metadata.get("tags", [])]
    assert len(teardown) == 1 and nb.cells.index(teardown[0]) == len(nb.cells) - 1
    assert nb.cells[0].cell_type == "markdown"
    first = nb.cells[0].source
    for heading in ("Learning goals", "Time budget", "Prerequisites", "Targets"):
        assert heading in first, heading
    kinds = [c.metadata.get("edgelab", {}).get("answer") for c in nb.cells]
    assert "reflection" in kinds or any("Reflection" in c.source for c in nb.cells)
    if stem != "01-install":  # predict → observe → explain
        assert "prediction" in kinds, stem
        first_prediction = kinds.index("prediction")
        raw = [i for i, c in enumerate(nb.cells) if "raw-data" in c.metadata.get("tags", [])]
        assert raw and first_prediction < raw[0], "the prediction comes before the experiment"
        seen = [i for i, c in enumerate(nb.cells)
                if c.cell_type == "markdown" and "What you should see" in c.source]
        assert seen and seen[-1] > raw[0], "'What you should see' comes after the run"


def _ruff(*args: str) -> subprocess.CompletedProcess[str]:
    ruff = str(Path(sys.executable).with_name("ruff"))
    return subprocess.run(
        [ruff, "check", "--no-cache", "--config", str(REPO / "pyproject.toml"), *args],
        capture_output=True,
        text=True,
        cwd=REPO,
    )


def test_code_cells_pass_ruff(tmp_path: Path, stored: tuple[str, nbformat.NotebookNode]) -> None:
    stem, nb = stored
    # the notebook as ruff reads it (cell by cell) ...
    done = _ruff(str(NOTEBOOKS / f"{stem}.ipynb"))
    assert done.returncode == 0, done.stdout + done.stderr
    # ... and its code extracted into one script; imports mid-script (E402) and a cell's last
    # expression, which a notebook displays (B018), are normal there
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    script = tmp_path / f"{stem.replace('-', '_').replace('.', '_')}.py"
    script.write_text("\n\n\n".join(code) + "\n")
    done = _ruff("--extend-ignore", "E402,B018", str(script))
    assert done.returncode == 0, done.stdout + done.stderr


def test_stored_notebooks_equal_a_fresh_build_from_the_sources() -> None:
    from edgelab.labcheck import sources

    assert sorted(p.stem for p in sources.sources()) == STEMS
    assert sources.write_all(check=True) == [], "rebuild: python notebooks/build.py"


def test_sources_pass_ruff() -> None:
    done = _ruff(str(NOTEBOOKS / "src"), str(NOTEBOOKS / "build.py"))
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_changed_source_makes_the_stored_notebook_stale(tmp_path: Path) -> None:
    from edgelab.labcheck import sources

    source = NOTEBOOKS / "src" / "01-install.py"
    edited = tmp_path / source.name
    edited.write_text(source.read_text("utf-8").replace("Install and verify", "Install"))
    stored = (NOTEBOOKS / "01-install.ipynb").read_text("utf-8")
    assert sources.render(source) == stored
    assert sources.render(edited) != stored
