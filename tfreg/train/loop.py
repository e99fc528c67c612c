"""train_and_evaluate(cfg, run_dir): one run from prepared data to the exported model.

Tests call it directly with a Config; `python -m tfreg.run` is a thin shell around it. Every ending
writes summary.json in the one schema of tfreg.runs: completed, stopped_early, failed (an
exception, a non-finite loss, a checkpoint that cannot be loaded) or interrupted (Ctrl-C,
SIGTERM); the last good checkpoint is always kept, and the same command resumes.
"""

import pathlib
import time

import numpy as np
import keras

from tfreg import export, runs, rundir
from tfreg.errors import Interrupted, RunEnded
from tfreg.data import prepare
from tfreg.report import plots
from tfreg.train import assemble, evaluate, runtime
from tfreg.train import callbacks as cb
from tfreg.train.checkpoint import CheckpointError, Checkpointer, truncate_history


def _write_config(cfg, run_dir, data, strategy, spe):
    resolved = cfg.replace(run_dir=str(run_dir))
    from tfreg import config as config_lib  # the flag layer renders flags.txt; the library never reads flags

    runs.atomic_write(run_dir / "flags.txt", "# tfreg resolved flags: python -m tfreg.run "
                      "--flagfile=THIS_FILE\n" + config_lib.to_flagfile(resolved))
    runs.write_json(run_dir / "config.json", {
        "flags": resolved.flat(), "environment": runtime.environment(strategy), "data": data.describe(),
        "normalization": {k: (None if v is None else np.asarray(v).tolist())
                          for k, v in data.norm_stats.items() if k != "whiten"},
        "steps_per_epoch": spe})
    return resolved


def _evaluate_and_export(cfg, net, test_ds, run_dir, data):
    extra = {}
    if cfg.eval.tta != "none":
        extra["tta"] = cfg.eval.tta
        extra["tta_test_accuracy"] = evaluate.tta_accuracy(net, test_ds, cfg.eval.tta,
                                                           cfg.eval.tta_crop_pixels)
    if cfg.eval.mc_dropout_samples:
        extra["mc_dropout_samples"] = cfg.eval.mc_dropout_samples
        extra["mc_dropout_test_accuracy"] = evaluate.mc_dropout_accuracy(
            net, test_ds, cfg.eval.mc_dropout_samples)
    export.export(net, run_dir, data.image_shape)
    extra["export_check"] = export.reload_check(net, run_dir, data.x_test[:8])
    return extra


def train_and_evaluate(cfg, run_dir, data=None):
    """Trains, evaluates and exports one run into run_dir; returns the summary dict.

    Raises RunEnded (summary written, checkpoint kept) when the run fails or is interrupted."""
    started = time.perf_counter()
    strategy = runtime.make_strategy(cfg.run)
    run_dir = runtime.worker_run_dir(strategy, pathlib.Path(run_dir))
    runtime.setup_runtime(cfg)
    data = data if data is not None else prepare.prepare(cfg)
    rundir.prepare(run_dir, cfg.run.overwrite)
    spe = assemble.steps_per_epoch(cfg, data)
    resolved = _write_config(cfg, run_dir, data, strategy, spe)
    trainer, net = assemble.build(cfg, data, strategy, spe)
    early = (cb.EarlyStopping(cfg.train.early_stopping_monitor, cfg.train.early_stopping_patience)
             if cfg.train.early_stopping_patience else None)
    checkpointer = Checkpointer(run_dir / "checkpoints")
    recorder = None

    def summary(status, **extra):
        rows = recorder.rows if recorder else []
        return runs.make_summary(
            status, rows, cfg.train.epochs, params=assemble.count_params(net),
            wall_time_s=time.perf_counter() - started,
            target_train_accuracy=cfg.train.target_train_accuracy,
            time_to_target_s=recorder and recorder.time_to_target_s,
            epoch_to_target=recorder and recorder.epoch_to_target, **extra)

    try:
        if early is not None:
            early.set_model(trainer)
        start_epoch = checkpointer.restore(trainer, early)
        runs.write_json(run_dir / "summary.json", runs.make_summary("running", [], cfg.train.epochs))
        train_ds, val_ds, test_ds = assemble.datasets(cfg, data, start_epoch)
        tb_dir = run_dir / "tb"
        if start_epoch == 0:
            sample_x, sample_y = next(iter(train_ds.take(1)))
            cb.write_tensorboard_extras(tb_dir, resolved.flat(), sample_x.numpy(), sample_y.numpy())
        recorder = cb.RunRecorder(run_dir, test_ds, cfg.train.target_train_accuracy,
                                  truncate_history(run_dir, start_epoch), tb_dir)
        callbacks = [recorder] + ([early] if early else []) + [
            keras.callbacks.TensorBoard(str(tb_dir), write_graph=False, profile_batch=0),
            cb.CheckpointCallback(checkpointer, recorder, early)]
        if start_epoch < cfg.train.epochs and not (early and early.stopped):
            trainer.fit(train_ds, epochs=cfg.train.epochs, initial_epoch=start_epoch,
                        steps_per_epoch=spe, validation_data=val_ds, callbacks=callbacks,
                        verbose=cfg.run.verbose, shuffle=False)
        elif early is not None:
            early.restore_best()  # what fit's on_train_end would have done
        if recorder.failure:
            raise RunEnded(f"{recorder.failure}; the last good checkpoint is kept", 1)
        extra = {"early_stopping_best_epoch": early.best_epoch + 1} if early and early.best_weights else {}
        extra.update(_evaluate_and_export(cfg, net, test_ds, run_dir, data))
        result = summary("stopped_early" if early and early.stopped else "completed", **extra)
    except (KeyboardInterrupt, Interrupted) as e:
        code = 143 if isinstance(e, Interrupted) else 130
        runs.write_json(run_dir / "summary.json", summary("interrupted"))
        raise RunEnded(f"interrupted; rerun the same command to resume from the last "
                       f"completed epoch ({len(recorder.rows) if recorder else 0})", code) from None
    except RunEnded:
        runs.write_json(run_dir / "summary.json", summary(f"failed: {recorder.failure}"))
        raise
    except CheckpointError as e:
        runs.write_json(run_dir / "summary.json", summary(f"failed: {e}"[:500]))
        raise RunEnded(f"{e}; move it out of the way to start again, or pass --overwrite", 1) from e
    except Exception as e:  # noqa: BLE001 - recorded, then reported by the shell in one line
        reason = f"{type(e).__name__}: {' '.join(str(e).split())}"[:400]
        runs.write_json(run_dir / "summary.json", summary(f"failed: {reason}"))
        raise RunEnded(f"run failed ({reason}); the last good checkpoint is kept, rerun the same "
                       "command to resume (--verbose=2 shows the traceback)", 1) from e
    if recorder.rows:
        plots.learning_curves(recorder.rows, run_dir / "plots")
    runs.write_json(run_dir / "summary.json", result)
    return result
