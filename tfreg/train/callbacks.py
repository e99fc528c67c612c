"""Callbacks around the step: per-epoch history and test evaluation, time-to-target, NaN stop,
extra TensorBoard scalars, hparams and the sample batch."""

import csv
import io
import math
import time

import keras
import numpy as np
import tensorflow as tf

from tfreg import rundir

HISTORY_COLUMNS = ("epoch", "lr", "loss", "accuracy", "val_loss", "val_accuracy", "test_loss",
                   "test_accuracy", "weight_norm", "grad_norm", "epoch_time_s")


class RunRecorder(keras.callbacks.Callback):
    """Evaluates the test set after every epoch, adds lr / weight_norm / test_* / epoch_time_s to
    the epoch logs (so TensorBoard gets them too), rewrites history.csv atomically, tracks the
    first epoch whose training accuracy reaches the target, and stops on a non-finite loss."""

    def __init__(self, run_dir, test_data, target_accuracy, history=()):
        super().__init__()
        self.run_dir = run_dir
        self.test_data = test_data
        self.target_accuracy = target_accuracy
        self.rows = list(history)
        self.train_time_s = sum(r["epoch_time_s"] for r in self.rows)
        self.time_to_target_s = None
        self.epoch_to_target = None
        self.failure = None
        for r in self.rows:
            self._check_target(r)

    def _check_target(self, row):
        if self.target_accuracy and self.epoch_to_target is None and row["accuracy"] >= self.target_accuracy:
            self.epoch_to_target = int(row["epoch"])
            self.time_to_target_s = round(sum(r["epoch_time_s"] for r in self.rows
                                              if r["epoch"] <= row["epoch"]), 3)

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()
        # The rate of the epoch's first step (Keras evaluates the schedule at `iterations`).
        self._lr = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.failure = f"non-finite loss at epoch {len(self.rows) + 1} step {batch + 1}"
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        logs = logs if logs is not None else {}
        elapsed = time.perf_counter() - self._start
        if self.failure:
            return
        test = self.model.evaluate(self.test_data, verbose=0, return_dict=True)
        weight_norm = float(tf.linalg.global_norm(self.model.net.trainable_variables))
        logs.update({"lr": self._lr, "test_loss": test["loss"], "test_accuracy": test["accuracy"],
                     "weight_norm": weight_norm, "epoch_time_s": elapsed})
        row = {"epoch": epoch + 1}
        for col in HISTORY_COLUMNS[1:]:
            value = logs.get(col)
            row[col] = None if value is None else float(value)
        self.rows.append(row)
        self.train_time_s += elapsed
        self._check_target(row)
        self.write()

    def write(self):
        columns = [c for c in HISTORY_COLUMNS if any(r.get(c) is not None for r in self.rows)]
        out = io.StringIO()
        writer = csv.DictWriter(out, columns, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        for r in self.rows:
            writer.writerow({c: ("" if r.get(c) is None else _fmt(r[c])) for c in columns})
        rundir.atomic_write(rundir.path(self.run_dir, "history.csv"), out.getvalue())


def _fmt(v):
    return str(v) if isinstance(v, int) else repr(float(v))


def read_history(path):
    rows = []
    with open(path) as f:
        for r in csv.DictReader(f):
            row = {k: (None if v == "" else float(v)) for k, v in r.items()}
            row["epoch"] = int(row["epoch"])
            rows.append(row)
    return rows


def write_tensorboard_extras(tb_dir, cfg_flat, sample_images, sample_labels):
    """hparams entry for the HParams dashboard and the first augmented training batch."""
    from tensorboard.plugins.hparams import api as hp

    writer = tf.summary.create_file_writer(str(tb_dir / "train"))
    hparams = {k: (v if isinstance(v, (bool, int, float, str)) else ",".join(map(str, v)))
               for k, v in cfg_flat.items()}
    with writer.as_default():
        hp.hparams(hparams)
        images = np.clip(sample_images[:16] / 255.0, 0, 1)
        tf.summary.image("augmented_train_batch", images, step=0, max_outputs=16,
                         description="labels: " + " ".join(str(int(v)) for v in sample_labels[:16]))
    writer.flush()
    writer.close()
