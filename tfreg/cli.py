"""The console scripts' shared entry (`tfreg-run`, `tfreg-sweep`, `tfreg-report`,
`tfreg-analyze`, `tfreg-experiments`) and `python -m tfreg`, which lists them
(`python -m tfreg experiments ...` is `tfreg-experiments ...`).

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
    "tfreg-experiments": ("tfreg.cli", "experiments_main", "list the bundled experiments, copy one "
                                                           "out to edit (python -m tfreg "
                                                           "experiments)"),
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


def experiments():
    call(experiments_main)


EXPERIMENTS_USAGE = """\
usage: python -m tfreg experiments [list [STUDY] | copy NAME [DEST] [--overwrite]]
       (or tfreg-experiments ...)

  list [STUDY]      the experiments bundled with tfreg (NAME, first header line), and the studies;
                    with STUDY, its arm flagfiles (STUDY/ARM and STUDY/mini/ARM)
  copy NAME [DEST]  copy the experiment NAME (e.g. quickstart) or a whole study (e.g.
                    cs5489_lecture) to DEST/experiments/ (DEST: the working directory), the path
                    the documented commands use: `tfreg-run --flagfile=experiments/NAME.flags` or
                    `--experiment=NAME` then runs the copy from DEST; --overwrite replaces files
                    already there

A --flagfile=experiments/... that is not in the working directory is read from the bundled
experiments, and a flagfile's own --flagfile lines are found beside it first (docs/guide/running.md,
"Where a flagfile is found")."""


def experiments_main(argv=None):
    """`python -m tfreg experiments`: list the bundled experiments or copy one out."""
    from tfreg import flagfiles
    from tfreg.errors import UsageError

    argv = sys.argv[1:] if argv is None else list(argv)
    if any(a in ("-h", "--help", "help") for a in argv):
        print(EXPERIMENTS_USAGE)
        return 0
    overwrite = "--overwrite" in argv
    args = [a for a in argv if a != "--overwrite"]
    command, args = (args[0], args[1:]) if args else ("list", [])
    try:
        if command == "list" and len(args) <= 1 and not overwrite:
            print(flagfiles.listing(*args))
            return 0
        if command == "copy" and 1 <= len(args) <= 2:
            written = flagfiles.copy(*args, overwrite=overwrite)
            for path in written:
                print(f"wrote {path}")
            name = args[0].strip("/").removeprefix("experiments/").removesuffix(".flags")
            run = f"tfreg-run --experiment={name}"
            if len(written) > 1:
                run += f"/ARM (arms: python -m tfreg experiments list {name})"
            where = "" if len(args) == 1 else f"from {args[1]}: "
            print(f"edit the copy, then run it {where}{run}")
            return 0
        raise UsageError(f"unexpected arguments {' '.join(argv)!r}; "
                         "python -m tfreg experiments --help shows the usage")
    except UsageError as e:
        print(f"tfreg: error: {e}", file=sys.stderr)
        return 2


def main(argv=None):
    """`python -m tfreg`: the tools and what each does; `python -m tfreg experiments ...`."""
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["experiments"]:
        return experiments_main(argv[1:])
    if argv:
        print(f"tfreg: error: unexpected arguments {' '.join(argv)!r}; the tools below take "
              "--help", file=sys.stderr)
        return 2
    print("tfreg: reproduce regularization studies of image classifiers (Keras 3, TensorFlow)\n")
    for name, (_, _, what) in TOOLS.items():
        print(f"  {name:17s} {what}")
    print("\nEach takes --help.")
    return 0
