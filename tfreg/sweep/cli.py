"""python -m tfreg.sweep: run a study (arms x seeds, or a grid) as one resumable command.

Order of work: parse and validate every run (nothing written on a mistake: one line, exit 2),
skip finished runs, launch the rest, record each as it ends in sweep.csv. Exit status 0 when
every run of the sweep is finished, 1 otherwise, 130/143 after Ctrl-C/SIGTERM.
"""

import argparse
import contextlib
import json
import pathlib
import shlex
import signal
import sys

from tfreg import rundir, runs
from tfreg.sweep import launch, plan as planlib, progress, record

EXAMPLES = """\
Run flags: any other --FLAG=VALUE goes to every run (e.g. --epochs=2 for a short version).

examples:
  # three arm flagfiles x three seeds, one after another
  python -m tfreg.sweep experiments/<study>/mini/*.flags --seeds=0,1,2 --sweep_dir=sweeps/<study>
  # a 3x3 grid over a base flagfile ('|' separates values; list values keep their commas)
  python -m tfreg.sweep --flagfile=experiments/<study>/base.flags --seeds=0,1 \\
      --grid='norm_stages=1|1,2|1,2,3' --grid='dropout_rates=0.2,0.2,0.2|0.1,0.2,0.3|0,0,0.3' \\
      --sweep_dir=sweeps/<study> --epochs=2
  # the same as a Slurm job array
  python -m tfreg.sweep ... --launcher=slurm --slurm_partition=gpu --slurm_time_min=240

Run it again to resume: finished runs are skipped, unfinished ones resume from their last
epoch, failed ones are retried only with --retry_failed. An arm identical to an earlier one
(the same flags but the run directory) is not run: the earlier arm's runs are its runs
(SWEEP_DIR/sweep.json "identical"; --list says so). Each run goes to
SWEEP_DIR/<arm>/seed_<k>/ (its output in run.log); SWEEP_DIR/sweep.csv has one row per run;
tensorboard --logdir SWEEP_DIR shows the HParams dashboard."""


class _Formatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    pass


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise planlib.UsageError(message)


def _positive(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {text!r}")
    return value


def parser():
    p = _Parser(prog="python -m tfreg.sweep", allow_abbrev=False, epilog=EXAMPLES,
                formatter_class=_Formatter,
                usage="%(prog)s [ARM.flags ...] [--flagfile=BASE] [--grid=FLAG=V1|V2 ...] "
                      "[--seeds=0,1,2] --sweep_dir=DIR [--FLAG=VALUE ...]")
    p.add_argument("flagfiles", nargs="*", metavar="ARM.flags",
                   help="one arm per flagfile, named by its file name without .flags (found as "
                        "tfreg.run finds a --flagfile: experiments/... not in the working "
                        "directory is read from the bundled experiments)")
    p.add_argument("--flagfile", metavar="BASE",
                   help="flagfile under every arm (the arm flagfiles and the grid override it)")
    p.add_argument("--grid", action="append", default=[], metavar="FLAG=V1|V2",
                   help="a grid axis; several --grid make a product; arms are named by their "
                        "values, e.g. norm_stages=1,2+dropout_rates=0.1,0.2,0.3 (an empty value "
                        "reads none: norm_stages=none)")
    p.add_argument("--seeds", help="seeds of every arm, e.g. 0,1,2 (default: each arm's --seed)")
    p.add_argument("--sweep_dir", required=True, help="where the runs and sweep.csv go")
    p.add_argument("--retry_failed", action="store_true",
                   help="run failed runs again (they resume from their last good checkpoint)")
    p.add_argument("--list", action="store_true",
                   help="print the planned runs and their state; launch and write nothing")
    p.add_argument("--launcher", choices=("local", "slurm", "submitit_local"), default="local",
                   help="local: processes on this machine; slurm: one job array through "
                        "submitit; submitit_local: that array on this machine")
    p.add_argument("--parallel", type=_positive, default=1,
                   help="local: runs at once, each pinned to its own GPU when GPUs are listed, "
                        "else each with its share of the CPU cores")
    slurm = p.add_argument_group("slurm (--launcher=slurm)")
    slurm.add_argument("--slurm_partition", default="",
                       help="Slurm partition; empty: the cluster's default")
    slurm.add_argument("--slurm_time_min", type=_positive, default=240,
                       help="time limit per task; a run past it is requeued and resumes")
    slurm.add_argument("--slurm_gpus_per_task", type=int, default=1, help="GPUs of each run")
    slurm.add_argument("--slurm_cpus_per_task", type=_positive, default=8,
                       help="CPU cores of each run (its input pipeline)")
    slurm.add_argument("--slurm_array_parallelism", type=_positive, default=256,
                       help="tasks of the array running at once")
    slurm.add_argument("--slurm_nodes", type=_positive, default=1,
                       help="nodes of each run: above 1, each run trains on that many nodes "
                            "(one task per node, --strategy=multi_worker, the cluster from "
                            "Slurm's variables through TensorFlow's SlurmClusterResolver); with "
                            "submitit_local, that many tasks on this machine")
    return p


def build_plan(argv):
    """(args, planned runs); UsageError on any mistake, with nothing written. args.identical:
    {arm: the arm whose runs it shares} (its runs are not planned); args.names: {folder kept under
    an old grid name: its readable name}."""
    args, overrides = parser().parse_known_intermixed_args(argv)
    if args.slurm_nodes > 1:
        if args.launcher == "local":
            raise planlib.UsageError("--slurm_nodes needs --launcher=slurm (or submitit_local to "
                                     "try it on this machine)")
        overrides = [*overrides, "--strategy=multi_worker"]
    seeds = planlib.parse_seeds(args.seeds)
    grid = planlib.parse_grid(args.grid)
    planlib.check_overrides(overrides, grid)
    arms, args.names = planlib.named_arms(args.flagfiles, args.flagfile, grid, args.sweep_dir)
    planned = planlib.plan(arms, seeds, overrides, args.sweep_dir)
    # one experiment under two names runs once: the first arm's runs stand for both
    args.identical = planlib.identical_arms(planned)
    planned = [run for run in planned if run.arm not in args.identical]
    planlib.check_existing(planned)
    planlib.check_data(planned, load=args.launcher != "slurm")
    planlib.check_writable(args.sweep_dir)
    return args, planned


@contextlib.contextmanager
def sweep_lock(sweep_dir):
    """One sweep process per SWEEP_DIR: a second would launch the runs the first is running."""
    with open(sweep_dir / ".lock", "w") as f:
        if not rundir.lock_exclusive(f):
            raise planlib.UsageError(f"another tfreg.sweep is running in {sweep_dir}; wait for it "
                                     "or stop it first")
        yield


def make_launcher(args, sweep_dir):
    if args.launcher == "local":
        return launch.LocalLauncher(args.parallel, launch.local_gpus() if args.parallel > 1 else ())
    from tfreg.sweep import slurm

    return slurm.SubmititLauncher(
        sweep_dir, "slurm" if args.launcher == "slurm" else "local", args.slurm_partition or None,
        args.slurm_time_min, args.slurm_gpus_per_task, args.slurm_cpus_per_task,
        args.slurm_array_parallelism, args.slurm_nodes)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if any(a in ("-h", "--help") for a in argv):
        parser().print_help()
        return 0
    try:
        args, planned = build_plan(argv)
        for arm, first in args.identical.items():
            print(f"{arm} is identical to {first}: its runs are {first}'s", flush=True)
        if args.list:
            for run in planned:
                status = (runs.read_summary(run.dir) or {}).get("status") or "not started"
                print(f"{run.arm}\tseed {run.seed}\t{status}\t{run.dir}")
            return 0
        sweep_dir = pathlib.Path(args.sweep_dir).absolute()
        sweep_dir.mkdir(parents=True, exist_ok=True)
        with sweep_lock(sweep_dir):
            # the command as typed, for reports to quote (the last invocation's); the arms it ran
            # once for two names, and the readable names of folders kept to resume them
            runs.write_json(sweep_dir / "sweep.json",
                            {"command": "python -m tfreg.sweep " + shlex.join(argv),
                             "identical": args.identical, "names": args.names})
            return sweep(args, planned, sweep_dir)
    except planlib.UsageError as e:
        print(f"tfreg.sweep: error: {e}", file=sys.stderr)
        return 2
    except OSError as e:  # a full disk or a lost mount while writing the sweep's own files
        print(f"tfreg.sweep: error: {e}; the runs' own files hold what they finished, and the same "
              "command resumes the sweep", file=sys.stderr)
        return 1


def _write_table(sweep_dir, planned, varied, statuses, say):
    """Rewrites sweep.csv; on a write failure (a full disk) removes the old table, which would
    say `pending` for runs that have ended, says so with `say` and returns False."""
    try:
        record.write_csv(sweep_dir, planned, varied, statuses)
        return True
    except OSError as e:
        with contextlib.suppress(OSError):
            (sweep_dir / "sweep.csv").unlink(missing_ok=True)
        say(f"tfreg.sweep: could not write {sweep_dir / 'sweep.csv'} ({e.strerror or e}); the old "
            "table is removed (it no longer matched the runs); each run's summary.json holds its "
            "result, and the same command writes the table again")
        return False


def _command(sweep_dir):
    """The command that started this sweep (sweep.json), to say how to resume it."""
    try:
        return json.loads((sweep_dir / "sweep.json").read_text())["command"]
    except (OSError, ValueError, KeyError, TypeError):
        return "python -m tfreg.sweep ... (the same arguments)"


def sweep(args, planned, sweep_dir):
    varied = planlib.varied_flags(planned)
    experiment = [record.write_hparams_config(sweep_dir, planned, varied)]
    states = {run.dir: planlib.state(run) for run in planned}
    retry = ("unfinished", "failed") if args.retry_failed else ("unfinished",)
    todo = [run for run in planned if states[run.dir] in retry]
    skipped = len(planned) - len(todo)
    failed_before = sum(states[run.dir] == "failed" for run in planned) if not args.retry_failed else 0
    statuses, counts = {}, {"completed": 0, "failed": 0, "interrupted": 0}
    table = [_write_table(sweep_dir, planned, varied, statuses, print)]

    bar = progress.SweepBar(planned, {run.dir for run in planned} - {run.dir for run in todo},
                            dynamic_ncols=True, desc=sweep_dir.name)

    def on_done(run, returncode, seconds):
        status = launch.outcome(run, returncode)
        statuses[run.dir] = status
        kind = "completed" if status in ("completed", "stopped_early") else status.split(":")[0]
        counts[kind] += 1
        bar.write(record.run_line(run, status, seconds / 60))
        # said once while it fails; the runs go on (their own files hold their results)
        table[0] = _write_table(sweep_dir, planned, varied, statuses,
                                bar.write if table[0] else lambda line: None)
        if experiment[0] is None and kind == "completed":  # the first run with curves to hold it
            with contextlib.suppress(OSError):  # tried again after the next completed run
                experiment[0] = record.write_hparams_config(sweep_dir, planned, varied)
        bar.ended(run, done=kind != "interrupted")

    stop = launch.Stop()
    previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        not_started = make_launcher(args, sweep_dir).run(todo, on_done, stop) if todo else []
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        bar.close()
    table[0] = _write_table(sweep_dir, planned, varied, statuses,
                            print if table[0] else lambda line: None)
    line = (f"tfreg.sweep: {counts['completed']} completed, {counts['failed']} failed, "
            f"{skipped} skipped, {counts['interrupted']} interrupted")
    notes = [f"{len(not_started)} not started"] if not_started else []
    if failed_before:
        notes.append(f"{failed_before} skipped failed earlier; --retry_failed reruns them")
    if stop.signum:
        print("tfreg.sweep: stopped; the runs that were stopped checkpointed, and the same command "
              f"resumes the sweep: {_command(sweep_dir)}", flush=True)
    if not table[0]:
        notes.append("sweep.csv not written")
    print(line + (f" ({'; '.join(notes)})" if notes else "")
          + (f"; {sweep_dir / 'sweep.csv'}" if table[0] else ""), flush=True)
    if stop.signum:
        return 128 + stop.signum
    unfinished = [run for run in planned if planlib.state(run) != "finished"]
    return 1 if unfinished or counts["failed"] or not table[0] else 0
