"""`python -m tfreg.analyze COMMAND ...`: the analysis tools (tfreg/analysis/cli.py)."""

import sys

from tfreg.analysis.cli import main

if __name__ == "__main__":
    sys.exit(main())
