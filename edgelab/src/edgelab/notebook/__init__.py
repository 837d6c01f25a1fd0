"""What a lab notebook imports: record values, declare checks, tear down safely, and the steps,
figures and answers of the walkthrough notebooks.

::

    from edgelab.notebook import Results
    results = Results(results_dir, notebook="03-disconnection", cleanup=cleanup)
    results.record("hit_ratio", 0.93)
    results.check("reads served offline", lambda r: r["hit_ratio"] > 0.9,
                  success="reads kept working", hint="warm the cache before cutting the link")
    results.summary()

``edgelab check`` (:mod:`edgelab.labcheck`) executes the notebooks and grades what they wrote
to ``results.json``; this package never imports it, so a notebook does not load papermill.
"""

from __future__ import annotations

from edgelab.notebook.results import Results, load_results

__all__ = ["Results", "load_results"]
