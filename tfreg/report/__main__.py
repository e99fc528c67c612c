"""`python -m tfreg.report SWEEP_OR_RUN_DIRS... --study=NAME_OR_FILE --out=reports/NAME` writes a
study's report (tfreg.report.build): a built-in study or a study file of your own
(tfreg.report.studies). `python -m tfreg.report SWEEP_DIR --baseline=ARM --out=DIR` reports any
sweep without a study file, every arm against ARM. `python -m tfreg.report --index reports/`
writes reports/README.md, one table over every study's results.csv.

Reads runs through tfreg.runs and never imports TensorFlow. Bad input: one line
`tfreg.report: error: ...` on stderr, exit status 2, nothing written.
"""

import argparse
import pathlib
import sys

from tfreg import runs
from tfreg.errors import UsageError
from tfreg.report import studies


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
    p.add_argument("--study", metavar="NAME_OR_FILE",
                   help=f"a built-in study ({', '.join(studies.builtin_names())}) or the path of a "
                        "study file (TOML; docs/guide/reports.md)")
    p.add_argument("--baseline", metavar="ARM",
                   help="without a study: report any sweep, every arm against this arm")
    p.add_argument("--out", help="output folder (default: reports/<study>)")
    p.add_argument("--index", metavar="REPORTS_DIR",
                   help="write REPORTS_DIR/README.md from every REPORTS_DIR/<study>/results.csv")
    args = p.parse_args(argv)
    if args.index is not None:
        if args.inputs or args.study or args.baseline:
            fail("--index takes no run directories, no --study and no --baseline")
        if not pathlib.Path(args.index).is_dir():
            fail(f"--index: {args.index!r} is not a directory")
        return args
    if bool(args.study) == bool(args.baseline):
        fail(f"give --study=NAME_OR_FILE (built-in: {', '.join(studies.builtin_names())}) or "
             "--baseline=ARM (any sweep, every arm against ARM)" if not args.study else
             "give --study or --baseline, not both: a study file names its own baseline")
    try:
        args.study = studies.resolve(args.study) if args.study else None
    except UsageError as e:
        fail(str(e))
    if not args.inputs:
        fail("give at least one sweep or run directory")
    for given in args.inputs:
        if not pathlib.Path(given).is_dir():
            fail(f"{given!r} is not a directory")
    if args.baseline and not args.out:
        fail("--baseline needs --out=FOLDER, the folder the report goes to")
    args.out = args.out or f"reports/{args.study.name}"
    out = pathlib.Path(args.out)
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
    out = pathlib.Path(args.out)
    study = args.study
    if study is None:  # a sweep without a study file: every arm against --baseline
        arms = sorted({e.arm for e in entries if e.finished})
        from tfreg.report import aliases
        identical, _ = aliases.recorded(args.inputs)  # an arm its sweep ran as another
        if args.baseline not in arms and identical.get(args.baseline) not in arms:
            fail(f"--baseline={args.baseline}: no finished run of that arm under "
                 f"{' '.join(args.inputs)}; arms: {', '.join(arms) or 'none'}")
        study = studies.Study(name=out.resolve().name, source="", setup="", baseline=args.baseline)
    from tfreg.report import build  # pandas, scipy, matplotlib: about two seconds
    result = build.build(study, entries, args.inputs, out, args.out)
    print(f"{len(result['finished'])} finished runs in {len(result['arms'])} arms "
          f"({len(result['unfinished'])} unfinished left out); wrote {out}/README.md, results.csv "
          "and figures")
    return 0


if __name__ == "__main__":
    from tfreg import cli

    cli.call(main)
