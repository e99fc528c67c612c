"""`python -m tfreg`: lists the command-line tools; `python -m tfreg experiments ...` lists and
copies the bundled experiments."""

from tfreg import cli

cli.call(cli.main)
