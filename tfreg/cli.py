"""The console scripts' shared entry (`tfreg-run`, `tfreg-sweep`, `tfreg-report`,
`tfreg-analyze`) and `python -m tfreg`, which lists them.

Every tool ends the same way: its exit status, and a reader that closes the pipe early
(`tfreg-run --help | head`) ends it quietly instead of with a BrokenPipeError traceback.
"""

import importlib
import os
import sys

from tfreg import environment

TOOLS = {
    "tfreg-run": ("tfreg.run", "main", "train, evaluate and export one run (python -m tfreg.run)"),
    "tfreg-sweep": ("tfreg.sweep.cli", "main", "run arms x seeds or a grid, resumable "
                                               "(python -m tfreg.sweep)"),
    "tfreg-report": ("tfreg.report.__main__", "main", "a study's report, or the index of reports "
                                                      "(python -m tfreg.report)"),
    "tfreg-analyze": ("tfreg.analysis.cli", "main", "loss landscape, gradient predictiveness, "
                                                    "feature maps, LR range test, the recipe "
                                                    "(python -m tfreg.analyze)"),
}


def finish(code, fast=False):
    """Flushes the output and exits with `code`; a closed pipe ends quietly (status 0). fast:
    os._exit after the flush, skipping interpreter and TensorFlow teardown (tfreg.run: every
    result is written and renamed into place before it returns)."""
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:
        code = 0
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # the interpreter's own final flush stays quiet
    if fast:
        os._exit(code)
    sys.exit(code)


def call(main, fast=False):
    """Runs a tool's main() (a function, or the module that defines one) and exits with its
    status (`finish`), after setting TensorFlow's environment (tfreg.environment.configure)."""
    environment.configure()  # TensorFlow's environment, before the tool can load it
    if isinstance(main, str):
        main = importlib.import_module(main).main
    try:
        code = main()
    except BrokenPipeError:
        code = 0
    finish(code or 0, fast)


def run():
    call("tfreg.run", fast=True)


def sweep():
    call("tfreg.sweep.cli")


def report():
    call("tfreg.report.__main__")


def analyze():
    call("tfreg.analysis.cli")


def main():
    """`python -m tfreg`: the tools and what each does."""
    print("tfreg: reproduce regularization studies of image classifiers (Keras 3, TensorFlow)\n")
    for name, (_, _, what) in TOOLS.items():
        print(f"  {name:14s} {what}")
    print("\nEach takes --help.")
    return 0
