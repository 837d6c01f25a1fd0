"""Lab checks: notebooks record results and declare checks; ``edgelab check`` runs them.

Notebook side::

    from edgelab.labcheck import Results
    lab = Results(results_dir, notebook="03-disconnection", cleanup=cleanup)
    lab.record("hit_ratio", 0.93)
    lab.check("reads served offline", lambda r: r["hit_ratio"] > 0.9,
              success="reads kept working", hint="warm the cache before cutting the link")
    lab.summary()

Runner side: :func:`add_arguments` and :func:`run` back the ``edgelab check`` subcommand.
"""

from edgelab.labcheck.results import Results, load_results
from edgelab.labcheck.runner import add_arguments, build_parser, main, run

__all__ = ["Results", "add_arguments", "build_parser", "load_results", "main", "run"]
