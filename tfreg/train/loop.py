"""train_and_evaluate(cfg, run_dir): one run from prepared data to the exported model.

Tests call it directly with a Config; `python -m tfreg.run` is a thin shell around it.
"""

import json
import os
import pathlib
import platform
import time

import keras
import numpy as np
import tensorflow as tf

import tfreg
from tfreg import config as config_lib
from tfreg import export, rundir
from tfreg.models import build as models
from tfreg.data import pipeline, prepare
from tfreg.report import plots
from tfreg.train import callbacks as cb
from tfreg.train import evaluate, optimizers, schedules
from tfreg.train.trainer import Trainer


def setup_runtime(cfg):
    """Seeds, determinism and precision policy: before any model or data is built."""
    keras.utils.set_random_seed(cfg.run.seed)
    if cfg.run.deterministic:
        tf.config.experimental.enable_op_determinism()
    policy = {"none": "float32", "float16": "mixed_float16", "bfloat16": "mixed_bfloat16"}
    keras.mixed_precision.set_global_policy(policy[cfg.run.mixed_precision])


def check_runtime(run_cfg):
    """Combinations that only fail on the first step, refused before anything is written."""
    if run_cfg.strategy == "multi_worker":
        try:
            spec = json.loads(os.environ.get("TF_CONFIG", ""))
            spec["cluster"], spec["task"]["type"], spec["task"]["index"]
        except (ValueError, KeyError, TypeError):
            raise config_lib.UsageError(
                "--strategy=multi_worker needs TF_CONFIG, e.g. TF_CONFIG='{\"cluster\": {\"worker\": "
                "[\"host1:2222\", \"host2:2222\"]}, \"task\": {\"type\": \"worker\", \"index\": 0}}' "
                "on each host (README, multi-worker)") from None
        return  # listing devices here would start TensorFlow before the collective ops are set up
    if run_cfg.jit_compile and run_cfg.strategy == "mirrored" and len(tf.config.list_logical_devices("GPU")) < 2:
        raise config_lib.UsageError(
            "--jit_compile with --strategy=mirrored needs GPUs (XLA cannot compile the "
            "cross-device step on CPU devices); drop --jit_compile or use --strategy=one_device")


def make_strategy(run_cfg):
    if run_cfg.strategy == "multi_worker":  # before any other TensorFlow op
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_logical_devices("GPU")
    if run_cfg.strategy == "mirrored":
        return tf.distribute.MirroredStrategy()
    if run_cfg.strategy == "one_device":
        return tf.distribute.OneDeviceStrategy(gpus[0].name if gpus else "/cpu:0")
    return tf.distribute.MirroredStrategy() if len(gpus) > 1 else tf.distribute.get_strategy()


def worker_run_dir(strategy, run_dir):
    """The chief writes run_dir; under multi-worker, worker i writes run_dir/worker_i (every
    worker must take part in evaluation and saving, which run collective ops)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) or resolver is None:
        return run_dir
    task_type, task_id = resolver.task_type, resolver.task_id
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    if task_type == "chief" or (task_type == "worker" and task_id == 0 and not has_chief):
        return run_dir
    return run_dir / f"{task_type}_{task_id}"


def count_params(net):
    return int(sum(np.prod(v.shape) for v in net.trainable_variables))


def build(cfg, data, strategy, steps_per_epoch):
    """(trainer, net) under the strategy's scope, compiled, normalization statistics loaded."""
    with strategy.scope():
        net = models.build_model(cfg, data.image_shape, data.num_classes,
                                 sync_batch_norm=strategy.num_replicas_in_sync > 1)
        net.get_layer("normalize").set_stats(data.norm_stats)
        trainer = Trainer(net, cfg, data.num_classes)
        schedule = schedules.from_config(cfg.train, steps_per_epoch)
        optimizer = optimizers.make_optimizer(cfg.train, schedule, net.trainable_variables)
        trainer.compile(optimizer=optimizer, jit_compile=cfg.run.jit_compile)
    return trainer, net


def active_regularizers(cfg):
    """Human-readable list of every regularizer the flags turn on."""
    m, t, a, e = cfg.model, cfg.train, cfg.augment, cfg.eval
    out = [f"augment.{name}: {desc}" for name, desc in pipeline.active_augmentations(a)]
    if m.norm != "none":
        out.append(f"norm: {m.norm} in stages {m.norm_stages or 'none'}")
    if m.dropout_rates:
        out.append(f"stage dropout: {','.join(f'{r:g}' for r in m.dropout_rates)}")
    if m.block_dropout_rates:
        out.append(f"block dropout at norm positions: {','.join(f'{r:g}' for r in m.block_dropout_rates)}")
    if m.head_dropout_rate:
        out.append(f"head dropout: {m.head_dropout_rate:g}")
    if m.drop_path_rate:
        out.append(f"stochastic depth: last block {m.drop_path_rate:g}, mode {m.drop_path_mode}")
    if m.weight_standardization:
        out.append("scaled weight standardization")
    if t.label_smoothing:
        out.append(f"label smoothing: {t.label_smoothing:g} ({t.label_smoothing_style})")
    if t.weight_decay:
        out.append(f"weight decay: {t.weight_decay:g} ({t.weight_decay_mode}, exclude {t.weight_decay_exclude})")
    if t.agc_clip:
        out.append(f"AGC: clip {t.agc_clip:g}, eps {t.agc_eps:g}, stages {t.agc_stages or 'none'}")
    if t.early_stopping_patience:
        out.append(f"early stopping: patience {t.early_stopping_patience} on {t.early_stopping_monitor}")
    if e.tta != "none":
        out.append(f"test-time augmentation: {e.tta}")
    if e.mc_dropout_samples:
        out.append(f"MC dropout: {e.mc_dropout_samples} masks")
    return out


def dry_run_summary(cfg, data):
    """The one-screen summary --dry_run prints."""
    setup_runtime(cfg)
    net = models.build_model(cfg, data.image_shape, data.num_classes)
    sizes = data.describe()["sizes"]
    spe = pipeline.steps_per_epoch(sizes["train"], cfg.data.batch_size, cfg.train.steps_per_epoch)
    lines = [
        f"dataset: {cfg.data.dataset} from {data.source}, images {data.image_shape}, "
        f"{data.num_classes} classes",
        f"  train {sizes['train']}, val {sizes['val']}, test {sizes['test']}; "
        f"normalize {cfg.data.normalize}",
        f"model: {cfg.model.model} (stem {cfg.model.stem}, width x{cfg.model.width_multiplier:g}, "
        f"activation {cfg.model.activation}, head {cfg.model.head}), "
        f"trainable parameters {count_params(net):,}",
        *models.layout(cfg),
        f"training: {cfg.train.optimizer} lr {cfg.train.learning_rate:g} ({cfg.train.lr_schedule}), "
        f"batch {cfg.data.batch_size}, {cfg.train.epochs} epochs x {spe} steps, loss {cfg.train.loss}",
        "active regularizers:",
        *([f"  {r}" for r in active_regularizers(cfg)] or ["  none"]),
    ]
    return "\n".join(lines)


def _environment(strategy):
    return {"tfreg": tfreg.__version__, "tensorflow": tf.__version__, "keras": keras.__version__,
            "python": platform.python_version(),
            "devices": [d.name for d in tf.config.list_logical_devices()],
            "replicas": strategy.num_replicas_in_sync}


def _resume_point(run_dir):
    """(start epoch, history rows) from a previous unfinished run in run_dir."""
    meta = rundir.path(run_dir, "checkpoints") / "training_metadata.json"
    if not meta.exists():
        return 0, []
    start = json.loads(meta.read_text())["epoch"]
    history = rundir.path(run_dir, "history.csv")
    rows = cb.read_history(history) if history.exists() else []
    return start, [r for r in rows if r["epoch"] <= start]


class _Backup(keras.callbacks.BackupAndRestore):
    """BackupAndRestore that also saves the random layers' seed-generator states (Keras weight
    files leave them out, so a resumed epoch would draw other masks) and keeps the last good
    checkpoint when the recorder saw a failure."""

    def __init__(self, recorder, backup_dir, **kwargs):
        super().__init__(backup_dir, **kwargs)
        self.recorder = recorder
        self._rng_path = pathlib.Path(backup_dir) / "rng_state.json"

    def _seed_generators(self):
        layers = self.model.net._flatten_layers()
        return [self.model.mix_seed] + [l.seed_generator for l in layers if hasattr(l, "seed_generator")]

    def _save_model(self):
        # Written before the weights and metadata, tagged with the epoch it belongs to.
        states = [g.state.numpy().tolist() for g in self._seed_generators()]
        rundir.write_json(self._rng_path, {"epoch": self._current_epoch, "states": states})
        super()._save_model()

    def _load_model(self):
        super()._load_model()
        meta = pathlib.Path(self._training_metadata_path)
        if not (meta.exists() and self._rng_path.exists()):
            return
        saved = json.loads(self._rng_path.read_text())
        if saved["epoch"] == json.loads(meta.read_text())["epoch"]:
            for generator, state in zip(self._seed_generators(), saved["states"], strict=True):
                generator.state.assign(np.asarray(state, dtype=generator.state.dtype))

    def on_epoch_end(self, epoch, logs=None):
        if self.recorder.failure is None:
            super().on_epoch_end(epoch, logs)


def _best(rows, key):
    values = [(r[key], r["epoch"]) for r in rows if r.get(key) is not None]
    if not values:
        return None, None
    value, epoch = max(values, key=lambda v: (v[0], -v[1]))
    return value, epoch


def summarize(rows, recorder, params, status, cfg):
    last = rows[-1] if rows else {}
    summary = {"status": status, "epochs_completed": len(rows),
               "train_time_s": round(recorder.train_time_s, 3), "params": params}
    for split, prefix in (("train", ""), ("val", "val_"), ("test", "test_")):
        for metric in ("loss", "accuracy"):
            summary[f"final_{split}_{metric}"] = last.get(prefix + metric)
    for split, prefix in (("val", "val_"), ("test", "test_")):
        summary[f"best_{split}_accuracy"], summary[f"best_{split}_epoch"] = _best(rows, prefix + "accuracy")
    summary["target_train_accuracy"] = cfg.train.target_train_accuracy or None
    summary["time_to_target_s"] = recorder.time_to_target_s
    summary["epoch_to_target"] = recorder.epoch_to_target
    return summary


def train_and_evaluate(cfg, run_dir, data=None):
    """Trains, evaluates and exports one run into run_dir; returns the summary dict."""
    strategy = make_strategy(cfg.run)
    run_dir = worker_run_dir(strategy, pathlib.Path(run_dir))
    setup_runtime(cfg)
    data = data if data is not None else prepare.prepare(cfg)
    rundir.prepare(run_dir, cfg.run.overwrite)
    n_train = len(data.y_train)
    spe = pipeline.steps_per_epoch(n_train, cfg.data.batch_size, cfg.train.steps_per_epoch)
    start_epoch, history = _resume_point(run_dir)

    resolved = cfg.replace(run_dir=str(run_dir))
    rundir.atomic_write(rundir.path(run_dir, "flags.txt"),
                        "# tfreg resolved flags: python -m tfreg.run --flagfile=THIS_FILE\n"
                        + config_lib.to_flagfile(resolved))
    rundir.write_json(rundir.path(run_dir, "config.json"), {
        "flags": resolved.flat(), "environment": _environment(strategy), "data": data.describe(),
        "normalization": {k: (None if v is None else np.asarray(v).tolist())
                          for k, v in data.norm_stats.items() if k != "whiten"},
        "steps_per_epoch": spe})
    rundir.write_json(rundir.path(run_dir, "summary.json"), {"status": "running"})

    trainer, net = build(cfg, data, strategy, spe)
    params = count_params(net)
    train_ds = pipeline.train_dataset(data, cfg.augment, cfg.data.batch_size, cfg.run.seed,
                                      start_epoch, cfg.train.epochs, cfg.train.steps_per_epoch)
    val_ds = (pipeline.eval_dataset(data.x_val, data.y_val, cfg.data.batch_size)
              if len(data.y_val) else None)
    test_ds = pipeline.eval_dataset(data.x_test, data.y_test, cfg.data.batch_size)

    tb_dir = rundir.path(run_dir, "tb")
    if start_epoch == 0:
        sample_x, sample_y = next(iter(train_ds.take(1)))
        cb.write_tensorboard_extras(tb_dir, resolved.flat(), sample_x.numpy(), sample_y.numpy())
    recorder = cb.RunRecorder(run_dir, test_ds, cfg.train.target_train_accuracy, history)
    callbacks = [recorder]
    early = None
    if cfg.train.early_stopping_patience:
        monitor = cfg.train.early_stopping_monitor
        early = keras.callbacks.EarlyStopping(monitor, patience=cfg.train.early_stopping_patience,
                                              mode="max" if monitor.endswith("accuracy") else "min",
                                              restore_best_weights=True)
        callbacks.append(early)
    callbacks += [keras.callbacks.TensorBoard(str(tb_dir), write_graph=False, profile_batch=0),
                  _Backup(recorder, str(rundir.path(run_dir, "checkpoints")), delete_checkpoint=False)]

    started = time.perf_counter()
    if start_epoch < cfg.train.epochs:
        try:
            trainer.fit(train_ds, epochs=cfg.train.epochs, initial_epoch=start_epoch,
                        steps_per_epoch=spe, validation_data=val_ds, callbacks=callbacks,
                        verbose=cfg.run.verbose, shuffle=False)
        except Exception as e:  # recorded, then re-raised: the run dir must not claim "running"
            rundir.write_json(rundir.path(run_dir, "summary.json"),
                              {"status": f"failed: {type(e).__name__}: {e}"[:500],
                               "epochs_completed": len(recorder.rows)})
            raise
    rows = recorder.rows
    if recorder.failure:
        status = f"failed: {recorder.failure}"
    elif early is not None and early.stopped_epoch > 0:
        status = "stopped_early"
    else:
        status = "completed"
    summary = summarize(rows, recorder, params, status, cfg)
    summary["wall_time_s"] = round(time.perf_counter() - started, 3)
    if early is not None and early.best_epoch is not None:
        # restore_best_weights: the exported model and the tta / mc numbers use this epoch's weights
        summary["early_stopping_best_epoch"] = early.best_epoch + 1
    if not recorder.failure:
        if cfg.eval.tta != "none":
            summary["tta"] = cfg.eval.tta
            summary["tta_test_accuracy"] = evaluate.tta_accuracy(net, test_ds, cfg.eval.tta,
                                                                 cfg.eval.tta_crop_pixels)
        if cfg.eval.mc_dropout_samples:
            summary["mc_dropout_samples"] = cfg.eval.mc_dropout_samples
            summary["mc_dropout_test_accuracy"] = evaluate.mc_dropout_accuracy(
                net, test_ds, cfg.eval.mc_dropout_samples)
        export.export(net, run_dir, data.image_shape)
        summary["export_check"] = export.reload_check(net, run_dir, data.x_test[:8])
    if rows:
        plots.learning_curves(rows, rundir.path(run_dir, "plots"))
    rundir.write_json(rundir.path(run_dir, "summary.json"), summary)
    return summary
