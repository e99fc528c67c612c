"""`python -m tfreg.report SWEEP_OR_RUN_DIRS... --study=NAME --out=reports/NAME` writes a study's
report (tfreg.report.build); `python -m tfreg.report --index reports/` writes reports/README.md,
one table over every study's results.csv.

Reads runs through tfreg.runs and never imports TensorFlow. Bad input: one line
`tfreg.report: error: ...` on stderr, exit status 2, nothing written.
"""

import argparse
import pathlib
import sys

from tfreg import runs
from tfreg.report.studies import STUDIES


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        fail(message)


def fail(message):
    print(f"tfreg.report: error: {message}", file=sys.stderr)
    sys.exit(2)


def parse(argv):
    p = _Parser(prog="python -m tfreg.report", description=__doc__.split("\n\n")[0])
    p.add_argument("inputs", nargs="*", metavar="SWEEP_OR_RUN_DIR",
                   help="sweep directories, run directories or folders holding them")
    p.add_argument("--study", choices=sorted(STUDIES), help="the study whose reference table to use")
    p.add_argument("--out", help="output folder (default: reports/<study>)")
    p.add_argument("--index", metavar="REPORTS_DIR",
                   help="write REPORTS_DIR/README.md from every REPORTS_DIR/<study>/results.csv")
    args = p.parse_args(argv)
    if args.index is not None:
        if args.inputs or args.study:
            fail("--index takes no run directories and no --study")
        if not pathlib.Path(args.index).is_dir():
            fail(f"--index: {args.index!r} is not a directory")
        return args
    if not args.study:
        fail(f"--study is required, one of: {', '.join(sorted(STUDIES))}")
    if not args.inputs:
        fail("give at least one sweep or run directory")
    for given in args.inputs:
        if not pathlib.Path(given).is_dir():
            fail(f"{given!r} is not a directory")
    out = pathlib.Path(args.out or f"reports/{args.study}")
    if out.exists() and not out.is_dir():
        fail(f"--out={out} is a file, not a folder; choose another --out")
    probe = runs.unwritable(out)
    if probe:
        fail(f"cannot write --out={out} ({probe} is not a writable folder); choose another --out")
    return args


def main(argv=None):
    args = parse(sys.argv[1:] if argv is None else argv)
    if args.index is not None:
        from tfreg.report import index
        path = index.write_index(pathlib.Path(args.index))
        print(f"wrote {path}")
        return 0
    from tfreg.report import collect
    entries = collect.gather(args.inputs)
    if not entries:
        fail(f"no run directories (flags.txt or summary.json) under {' '.join(args.inputs)}")
    from tfreg.report import build  # pandas, scipy, matplotlib: about two seconds
    out_text = args.out or f"reports/{args.study}"
    out = pathlib.Path(out_text)
    result = build.build(STUDIES[args.study], entries, args.inputs, out, out_text)
    print(f"{len(result['finished'])} finished runs in {len(result['arms'])} arms "
          f"({len(result['unfinished'])} unfinished left out); wrote {out}/README.md, results.csv "
          "and figures")
    return 0


if __name__ == "__main__":
    from tfreg import cli

    cli.call(main)
