"""Lab checks: notebooks record results and declare checks; ``edgelab check`` runs them.

Notebook side::

    from edgelab.labcheck import Results
    results = Results(results_dir, notebook="03-disconnection", cleanup=cleanup)
    results.record("hit_ratio", 0.93)
    results.check("reads served offline", lambda r: r["hit_ratio"] > 0.9,
                  success="reads kept working", hint="warm the cache before cutting the link")
    results.summary()

Runner side: :func:`add_arguments` and :func:`run` back the ``edgelab check`` subcommand. They
are imported lazily, so a notebook importing :class:`Results` does not load papermill.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from edgelab.labcheck.results import Results, load_results

if TYPE_CHECKING:
    from edgelab.labcheck.runner import add_arguments, build_parser, main, run

__all__ = ["Results", "add_arguments", "build_parser", "load_results", "main", "run"]

_RUNNER = {"add_arguments", "build_parser", "main", "run"}


def __getattr__(name: str) -> Any:
    if name in _RUNNER:
        from edgelab.labcheck import runner

        return getattr(runner, name)
    raise AttributeError(f"module 'edgelab.labcheck' has no attribute {name!r}")
