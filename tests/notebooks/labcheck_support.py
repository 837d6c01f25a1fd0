"""Helpers for the lab-check tests: tiny throwaway notebooks and running ``edgelab check``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"


def make_notebook(path: Path, cells: list[tuple[str, str] | tuple[str, str, str]]) -> Path:
    """Write a notebook from (kind, source[, tag]) tuples; kind is "code" or "md"."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    for kind, source, *tags in cells:
        cell = (
            nbformat.v4.new_code_cell(source)
            if kind == "code"
            else nbformat.v4.new_markdown_cell(source)
        )
        if tags:
            cell.metadata["tags"] = list(tags)
        nb.cells.append(cell)
    nbformat.write(nb, path)
    return path


@dataclass
class CheckRun:
    returncode: int
    stdout: str
    stderr: str
    run_dir: Path

    @property
    def summary(self) -> dict[str, Any]:
        return json.loads((self.run_dir / "summary.json").read_text())

    def checks(self, notebook: str) -> dict[str, dict[str, Any]]:
        for nb in self.summary["notebooks"]:
            if nb["notebook"] == notebook:
                return {c["name"]: c for c in nb["checks"]}
        raise KeyError(notebook)

    def results(self, notebook: str) -> dict[str, Any]:
        return json.loads((self.run_dir / notebook / "results.json").read_text())


def edgelab_check(
    run_dir: Path,
    *args: str,
    timeout: float = 280,
    cli: bool = False,
    extra_env: dict[str, str] | None = None,
) -> CheckRun:
    """Run ``edgelab check`` as a real process: the ``edgelab`` console script (``cli=True``)
    or ``python -m edgelab.labcheck``, the same runner without the rest of the CLI."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **(extra_env or {})}
    entry = (
        [str(Path(sys.executable).with_name("edgelab")), "check"]
        if cli
        else [sys.executable, "-m", "edgelab.labcheck"]
    )
    proc = subprocess.run(
        [*entry, "--no-progress", "--run-dir", str(run_dir), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
        env=env,
    )
    return CheckRun(proc.returncode, proc.stdout, proc.stderr, run_dir)
