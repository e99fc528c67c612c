"""`python -m tfreg`: lists the command-line tools."""

from tfreg import cli

cli.finish(cli.main())
