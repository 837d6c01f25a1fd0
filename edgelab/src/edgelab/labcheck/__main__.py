"""``python -m edgelab.labcheck`` = ``edgelab check``."""

import sys

from edgelab.labcheck.runner import main

sys.exit(main())
