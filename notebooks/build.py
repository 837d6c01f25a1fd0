"""Build notebooks/*.ipynb (English) and notebooks/*.zh-CN.ipynb from notebooks/src/*.py.

    .venv/bin/python notebooks/build.py           # rewrite the notebooks that changed
    .venv/bin/python notebooks/build.py --check   # exit 1 if a stored notebook is stale

Edit the jupytext sources in notebooks/src, never the .ipynb files (see
edgelab.labcheck.sources for the cell metadata: id, lang, answer, solution).
"""

import sys

from edgelab.labcheck.sources import main

if __name__ == "__main__":
    sys.exit(main())
