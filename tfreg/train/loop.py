"""train_and_evaluate(cfg, run_dir): one run from prepared data to the exported model.

Tests call it directly with a Config; `python -m tfreg.run` is a thin shell around it. Every ending
writes summary.json in the one schema of tfreg.runs: completed, stopped_early, failed (an
exception, a non-finite loss, a checkpoint that cannot be loaded) or interrupted (Ctrl-C,
SIGTERM); the last good checkpoint is always kept, and the same command resumes.
"""

import contextlib
import errno
import pathlib
import sys
import time

import numpy as np

from tfreg import config as config_lib
from tfreg import export, runs, rundir
from tfreg.timing import Timings
from tfreg.errors import Interrupted, RunEnded, UsageError, exit_status, interrupt_received
from tfreg.data import prepare
from tfreg import plots
from tfreg.train import assemble, evaluate, runtime
from tfreg.train import callbacks as cb
from tfreg.train.checkpoint import (CheckpointError, Checkpointer, CheckpointWriteError,
                                   truncate_history)


def _flags_text(cfg, run_dir):
    """flags.txt of the run: its resolved flags, run_dir included (the run directory's marker)."""
    return runs.FLAGS_HEADER + config_lib.to_flagfile(cfg.replace(run_dir=str(run_dir)))


def _write_config(cfg, run_dir, data, strategy, spe):
    resolved = cfg.replace(run_dir=str(run_dir))
    runs.atomic_write(run_dir / "flags.txt", _flags_text(cfg, run_dir))
    runs.write_json(run_dir / "config.json", {
        "flags": resolved.flat(), "environment": runtime.environment(strategy), "data": data.describe(),
        "normalization": {k: (None if v is None else np.asarray(v).tolist())
                          for k, v in data.norm_stats.items() if k != "whiten"},
        "steps_per_epoch": spe})
    return resolved


def _evaluate_and_export(cfg, net, test_ds, run_dir, data, timings):
    extra = {}
    with timings.phase("final_eval"):
        if cfg.eval.tta != "none":
            extra["tta"] = cfg.eval.tta
            extra["tta_test_accuracy"] = evaluate.tta_accuracy(net, test_ds, cfg.eval.tta,
                                                               cfg.eval.tta_crop_pixels)
        if cfg.eval.mc_dropout_samples:
            extra["mc_dropout_samples"] = cfg.eval.mc_dropout_samples
            extra["mc_dropout_test_accuracy"] = evaluate.mc_dropout_accuracy(
                net, test_ds, cfg.eval.mc_dropout_samples)
    export.export(net, run_dir, data.image_shape, saved_model=cfg.run.saved_model, timings=timings,
                  class_names=data.class_names)
    with timings.phase("export_check"):
        extra["export_check"] = export.reload_check(net, run_dir, data.x_test[:8],
                                                    saved_model=cfg.run.saved_model)
    return extra


def _verbosity(cfg):
    """Keras's progress bar only on a terminal: redirected to a file or a sweep's run.log,
    --verbose=1 prints one line per epoch (2), without carriage returns and escapes."""
    return 2 if cfg.run.verbose == 1 and not sys.stdout.isatty() else cfg.run.verbose


def _check_replicas(run_dir, strategy):
    """An unfinished run resumes only on as many replicas as it started with: dropout masks are
    drawn per replica and batch norm is synchronized across them, so another count would change
    the run half way (UsageError, nothing touched)."""
    env = runs.load_run(run_dir).config.get("environment") if pathlib.Path(run_dir).is_dir() else None
    before, now = (env or {}).get("replicas"), strategy.num_replicas_in_sync
    status = runs.read_summary(run_dir) or {}
    if before is not None and before != now and status.get("status") not in runs.FINISHED:
        raise UsageError(f"{run_dir} holds an unfinished run started on {before} replica(s) and this "
                         f"process has {now}; resume it on {before} (CUDA_VISIBLE_DEVICES, "
                         "--strategy), or pass --overwrite to start over")


class _Summary:
    """Builds summary.json for any ending from the run's state so far."""

    def __init__(self, cfg, net, started, timings):
        self.cfg, self.params, self.started, self.recorder = cfg, assemble.count_params(net), started, None
        self.timings = timings

    def __call__(self, status, **extra):
        r = self.recorder
        return runs.make_summary(
            status, r.rows if r else [], self.cfg.train.epochs, params=self.params,
            wall_time_s=time.perf_counter() - self.started,
            target_train_accuracy=self.cfg.train.target_train_accuracy,
            time_to_target_s=r and r.time_to_target_s, epoch_to_target=r and r.epoch_to_target,
            timings=self.timings.as_dict(), **extra)


@contextlib.contextmanager
def _endings(run_dir, summary):
    """Every way a started run can end unfinished: summary.json says which, RunEnded tells the
    shell (one line, exit 1 / 130 / 143); the last good checkpoint stays."""
    def record(status):
        try:
            runs.write_json(run_dir / "summary.json", summary(status[:500]))
        except OSError as e:  # a full disk: summary.json keeps its last status; the line says why
            print(f"tfreg: could not record '{status[:80]}' in summary.json ({e.strerror or e})",
                  file=sys.stderr)

    def interrupted(e):
        record("interrupted")
        done = len(summary.recorder.rows) if summary.recorder else 0
        return RunEnded(f"interrupted after epoch {done}; rerun the same command to resume",
                        exit_status(e))

    try:
        yield
    except (KeyboardInterrupt, Interrupted) as e:
        raise interrupted(e) from None
    except RunEnded as e:
        record(f"failed: {(summary.recorder and summary.recorder.failure) or str(e).split(';')[0]}")
        raise e from None
    except Exception as e:  # noqa: BLE001 - recorded, then reported by the shell in one line
        if interrupt_received():  # the signal's exception, turned into another inside TensorFlow
            raise interrupted(interrupt_received()) from e
        if isinstance(e, CheckpointError):
            record(f"failed: {e}")
            raise RunEnded(f"{e}; move it out of the way to start again, or pass --overwrite", 1) from e
        if isinstance(e, CheckpointWriteError) or getattr(e, "errno", None) == errno.ENOSPC:
            record(f"failed: {e}")
            raise RunEnded(f"{e}; the last good checkpoint is kept: free some space and rerun the "
                           "same command to resume", 1) from e
        reason = f"{type(e).__name__}: {' '.join(str(e).split())}"[:400]
        record(f"failed: {reason}")
        raise RunEnded(f"run failed ({reason}); the last good checkpoint is kept, rerun the same "
                       "command to resume (--verbose=2 shows the traceback)", 1) from e


def train_and_evaluate(cfg, run_dir, data=None, timings=None):
    """Trains, evaluates and exports one run into run_dir; returns the summary dict.

    `timings` (a tfreg.timing.Timings) collects where the wall time goes; the command line passes
    one started before TensorFlow was imported, tests may leave it out.
    Raises RunEnded (summary written, checkpoint kept) when the run fails or is interrupted."""
    started = time.perf_counter()
    timings = timings or Timings(from_process_start=False)
    with timings.phase("setup"):
        strategy = runtime.make_strategy(cfg.run)
        run_dir = runtime.worker_run_dir(strategy, pathlib.Path(run_dir))
        if not cfg.run.overwrite:
            _check_replicas(run_dir, strategy)
        runtime.setup_runtime(cfg)
    if data is None:
        with timings.phase("data"):
            data = prepare.prepare(cfg)
    spe = assemble.steps_per_epoch(cfg, data)
    # Built before the run directory is touched: a refusal here (an --init_from whose layers do
    # not fit) leaves a previous run, finished or not, exactly as it was.
    with timings.phase("build"):
        trainer, net = assemble.build(cfg, data, strategy, spe)
    early = cb.EarlyStopping.from_config(cfg.train, trainer)
    checkpointer = Checkpointer(run_dir / "checkpoints")
    summary = _Summary(cfg, net, started, timings)
    rundir.prepare(run_dir, cfg.run.overwrite, _flags_text(cfg, run_dir))
    with _endings(run_dir, summary):
        resolved = _write_config(cfg, run_dir, data, strategy, spe)
        with timings.phase("restore"):
            start_epoch = checkpointer.restore(trainer, early)
        runs.write_json(run_dir / "summary.json", summary("running"))
        with timings.phase("datasets"):
            train_ds, val_ds, test_ds = assemble.datasets(cfg, data, start_epoch)
        if start_epoch == 0:
            with timings.phase("tensorboard_setup"):
                cb.write_tensorboard_extras(run_dir / "tb", resolved.flat(), train_ds,
                                            images=cfg.run.tensorboard_images)
        recorder = summary.recorder = cb.RunRecorder(
            run_dir, test_ds, cfg.train.target_train_accuracy,
            truncate_history(run_dir, start_epoch), run_dir / "tb", timings,
            epochs=cfg.train.epochs, test_every=cfg.eval.test_every_epochs,
            best_val=cb.BestValidation(**checkpointer.best_val), verbose=cfg.run.verbose)
        if start_epoch < cfg.train.epochs and not (early and early.stopped):
            trainer.fit(train_ds, epochs=cfg.train.epochs, initial_epoch=start_epoch,
                        steps_per_epoch=spe, validation_data=val_ds, verbose=_verbosity(cfg),
                        callbacks=cb.run_callbacks(recorder, early, checkpointer, run_dir / "tb",
                                                   timings),
                        shuffle=False)
        else:  # what fit's on_train_end would have done
            recorder.set_model(trainer)
            recorder.finish()
            if early is not None:
                early.restore_best()
        if recorder.failure:
            raise RunEnded(f"{recorder.failure}; the last good checkpoint is kept", 1)
        extra = {"early_stopping_best_epoch": early.best_epoch + 1} if early and early.best_weights else {}
        extra.update(_evaluate_and_export(cfg, net, test_ds, run_dir, data, timings))
        broken = [k for k, v in extra["export_check"].items() if v is not None and not np.isfinite(v)]
        if broken:  # a NaN prediction makes every difference NaN
            raise RunEnded(f"the exported model's predictions are not finite ({', '.join(broken)}); "
                           "the last good checkpoint is kept", 1)
        if recorder.rows:
            with timings.phase("plots"):
                plots.learning_curves(recorder.rows, run_dir / "plots")
        result = summary("stopped_early" if early and early.stopped else "completed", **extra)
        runs.write_json(run_dir / "summary.json", result)  # the last write: finished only now
    return result
