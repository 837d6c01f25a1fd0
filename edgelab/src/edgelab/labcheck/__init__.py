"""The check runner behind ``edgelab check``: execute notebooks with papermill, grade, report.

It takes the checks from the reference notebooks in the repository, restores the cells that are
not the student's answers, executes the notebook (whose kernel records through
:mod:`edgelab.notebook`), recomputes graded values from the raw data files and writes the ✔/✘
table, JUnit XML and an HTML report. The runner reads the notebook side's results format; the
notebook side never imports the runner.

:func:`add_arguments` and :func:`run` back the ``edgelab check`` subcommand; they are imported
lazily, so ``import edgelab.labcheck`` does not load papermill.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from edgelab.labcheck.runner import add_arguments, build_parser, main, run

__all__ = ["add_arguments", "build_parser", "main", "run"]

_RUNNER = {"add_arguments", "build_parser", "main", "run"}


def __getattr__(name: str) -> Any:
    if name in _RUNNER:
        from edgelab.labcheck import runner

        return getattr(runner, name)
    raise AttributeError(f"module 'edgelab.labcheck' has no attribute {name!r}")
