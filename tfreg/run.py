"""python -m tfreg.run --flagfile=FILE [--flag=value ...]: train, evaluate and export one run.

`--experiment=NAME` stands for `--flagfile=experiments/NAME.flags`, found in the working directory
or among the experiments bundled with tfreg (tfreg.flagfiles); `--list_experiments` lists them.

Intentionally thin: parse flags into a Config, validate it (tfreg.validation: the values, then the
files they name), check the run directory, load the data, then either print the --dry_run summary or call train_and_evaluate.
Exit status: 0 completed or stopped early; 2 a mistake the user can fix (one line, nothing
written); 1 a run that started and failed (one line; summary.json says "failed: ..." and the last
checkpoint is kept); 130 / 143 after Ctrl-C / SIGTERM (status "interrupted"; the same command
resumes). Tracebacks only with --verbose=2 or TFREG_DEBUG=1.
"""

import os
import signal
import sys
import traceback

from tfreg import environment

environment.configure()  # TensorFlow's environment, before anything loads it

from tfreg import config as config_lib  # noqa: E402
from tfreg import flags as tfreg_flags  # noqa: E402
from tfreg import errors  # noqa: E402
from tfreg import rundir, runs  # noqa: E402
from tfreg import timing  # noqa: E402
from tfreg.data import prepare  # noqa: E402
from tfreg import validation  # noqa: E402

HELP_FLAGS = ("--help", "-h", "--helpfull", "--helpshort", "-?")


def _help(argv):
    import textwrap

    from absl import flags

    fv = tfreg_flags.define_flags(flags.FlagValues())
    print("usage: python -m tfreg.run [--flagfile=FILE | --experiment=NAME] [--flag=value ...]\n")
    print(textwrap.fill(
        "--flagfile=FILE reads flags from FILE (later flags override earlier ones); a relative "
        "FILE is found in the working directory, and one under experiments/ that is not there "
        "among the experiments bundled with tfreg; a --flagfile line inside FILE is found beside "
        "FILE or in a folder above it first. --experiment=NAME is --flagfile=experiments/"
        "NAME.flags. --list_experiments lists the bundled experiments; `python -m tfreg "
        "experiments copy NAME` copies one out to edit.", 96) + "\n")
    for section, names in tfreg_flags.SECTIONS.items():
        print(f"[{section}]")
        for name in names:
            flag = fv[name]
            choices = getattr(flag.parser, "enum_values", None)
            text = flag.help.split(">: ", 1)[-1] if choices else flag.help  # absl prefixes <a|b>:
            print(f"  --{name}" + (f" {{{','.join(choices)}}}" if choices else "")
                  + f" (default: {flag.default_as_str or repr(flag.default)})")
            print(textwrap.fill(text, 96, initial_indent=" " * 6, subsequent_indent=" " * 6))
    return 0


def _interrupted_before_training(e):
    print("tfreg: interrupted before training started; the same command starts it again",
          file=sys.stderr)
    return errors.exit_status(e)


def _debugging(argv, cfg):
    """Tracebacks are for debugging: TFREG_DEBUG=1, or --verbose=2 (given or in a flagfile)."""
    verbose = cfg.run.verbose if cfg is not None else None
    return os.environ.get("TFREG_DEBUG") == "1" or verbose == 2 or "--verbose=2" in argv


def _end_with_parent():
    """A run started by tfreg.sweep (TFREG_SWEEP_PID in its environment) ends when the sweep does:
    on Linux the kernel sends it SIGTERM when its parent dies (prctl PR_SET_PDEATHSIG), which
    checkpoints and ends it 'interrupted'; a sweep already gone by now ends it at once."""
    parent = os.environ.get("TFREG_SWEEP_PID")
    if not parent or not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM))  # 1: PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if str(os.getppid()) != parent:
        raise errors.Interrupted()


def main(argv=None):
    argv = list(sys.argv if argv is None else argv)
    if any(a in HELP_FLAGS for a in argv[1:]):
        return _help(argv)
    if "--list_experiments" in argv[1:]:
        from tfreg import cli

        return cli.experiments_main(["list"])
    run_dir = cfg = None
    timings = timing.Timings(from_process_start=True)
    try:
        _end_with_parent()
        with timings.phase("checks"):
            cfg = tfreg_flags.parse_args(argv)
            validation.validate(cfg)
            validation.check_files(cfg)
            run_dir = cfg.run.run_dir or rundir.default_run_dir(cfg)
            if not cfg.run.dry_run:
                rundir.check(run_dir, cfg.run.overwrite)
                recorded = (runs.load_run(run_dir).config.get("flags")
                            if os.path.isdir(run_dir) else None)
                rundir.check_resume(run_dir, config_lib.to_flagfile(cfg), cfg.run.overwrite,
                                    config_lib.default_flagfile(),
                                    recorded and config_lib.recorded_flagfile(recorded))
        if not cfg.run.dry_run:  # the first line, before data and TensorFlow load
            print(f"tfreg: run {run_dir}: {cfg.model.model} on {cfg.data.dataset}, "
                  f"{cfg.train.epochs} epochs, seed {cfg.run.seed}", flush=True)
        with timings.phase("data"):
            data = prepare.prepare(cfg)
        with timings.phase("import_tensorflow"), environment.quiet_tensorflow_import():
            from tfreg.train import assemble, loop, runtime  # TensorFlow loads here, after the checks

        runtime.check_runtime(cfg.run)
        if cfg.run.dry_run:
            print(assemble.dry_run_summary(cfg, data))
            return 0
        signal.signal(signal.SIGTERM, errors.raise_interrupted)
        # Slurm's warning before a time limit or preemption (submitit's --signal=USR2@90 reaches
        # every process of the step): checkpoint and end 'interrupted', as for SIGTERM
        signal.signal(signal.SIGUSR2, errors.raise_interrupted)
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:  # not when ignored (a
            signal.signal(signal.SIGINT, errors.raise_interrupted)  # shell's background job)
        summary = loop.train_and_evaluate(cfg, run_dir, data, timings)
    except config_lib.UsageError as e:
        print(f"tfreg: error: {e}", file=sys.stderr)
        return 2
    except (KeyboardInterrupt, errors.Interrupted) as e:  # before training began
        return _interrupted_before_training(e)
    except Exception as e:  # noqa: BLE001 - every ending is one line unless debugging
        if errors.interrupt_received() and not isinstance(e, errors.RunEnded):
            return _interrupted_before_training(errors.interrupt_received())
        if _debugging(argv, cfg):
            traceback.print_exc()
        if isinstance(e, errors.RunEnded):
            if sys.stdout.isatty():  # after a progress bar's carriage returns: a line of its own
                print(flush=True)
            print(f"tfreg: {e}" if e.exit_code != 1 else f"tfreg: error: {e}", file=sys.stderr)
            print(f"run directory: {run_dir}")
            return e.exit_code
        print(f"tfreg: error: {type(e).__name__}: {' '.join(str(e).split())[:300]} "
              "(--verbose=2 shows the traceback)", file=sys.stderr)
        return 1
    print(f"status: {summary['status']}")
    if summary["final_test_accuracy"] is not None:
        print(f"final test accuracy: {summary['final_test_accuracy']:.4f} "
              f"(best {summary['best_test_accuracy']:.4f} at epoch {summary['best_test_epoch']})")
    print(f"run directory: {run_dir}")
    return 0 if summary["status"] in ("completed", "stopped_early") else 1


if __name__ == "__main__":
    from tfreg import cli

    cli.call(main, fast=True)
