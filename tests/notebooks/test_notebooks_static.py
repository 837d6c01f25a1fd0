"""The stored notebooks: no outputs, a tagged parameters cell, a teardown cell, ruff-clean code,
and identical to a fresh build of their
jupytext sources (notebooks/src)."""

from __future__ import annotations

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


def test_all_four_notebooks_exist() -> None:
    assert sorted(p.stem for p in NOTEBOOKS.glob("[0-9]*.ipynb")) == STEMS


def test_stored_without_outputs(notebook: tuple[str, nbformat.NotebookNode]) -> None:
    _, nb = notebook
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
    assert any("Reflection" in c.source for c in nb.cells if c.cell_type == "markdown")


def _ruff(*args: str) -> subprocess.CompletedProcess[str]:
    ruff = str(Path(sys.executable).with_name("ruff"))
    return subprocess.run(
        [ruff, "check", "--no-cache", "--config", str(REPO / "pyproject.toml"), *args],
        capture_output=True,
        text=True,
        cwd=REPO,
    )


def test_code_cells_pass_ruff(tmp_path: Path, notebook: tuple[str, nbformat.NotebookNode]) -> None:
    stem, nb = notebook
    # the notebook as ruff reads it (cell by cell) ...
    done = _ruff(str(NOTEBOOKS / f"{stem}.ipynb"))
    assert done.returncode == 0, done.stdout + done.stderr
    # ... and its code extracted into one script; imports mid-script (E402) and a cell's last
    # expression, which a notebook displays (B018), are normal there
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    script = tmp_path / f"{stem.replace('-', '_')}.py"
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
