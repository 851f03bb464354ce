"""python -m comparison.sweep (comparison/sweep/cli.py)."""

import sys

from comparison.sweep.cli import main

sys.exit(main())
