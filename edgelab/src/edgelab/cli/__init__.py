"""`edgelab`: start and stop the local lab, cut and slow its links, run experiments, bench, check.

Every command prints a human table (colours on a terminal) or, with `--json`, one JSON document.
Failures print one line `edgelab: error: …` on stderr and exit non-zero (no traceback).
"""

from __future__ import annotations

import sys

from edgelab.cli.app import main

__all__ = ["main"]

if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
