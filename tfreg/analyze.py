"""`python -m tfreg.analyze COMMAND ...`: the analysis tools (tfreg/analysis/cli.py)."""

from tfreg import cli

if __name__ == "__main__":
    cli.call("tfreg.analysis.cli")
