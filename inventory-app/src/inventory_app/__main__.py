"""`python -m inventory_app` is the `inventory-app` command line."""

import sys

from inventory_app.cli import main

sys.exit(main())
