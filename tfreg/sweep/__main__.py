from tfreg import cli

cli.call("tfreg.sweep.cli")
