"""Callbacks around the step: per-epoch history and test evaluation, time-to-target, NaN stop,
resumable early stopping, atomic checkpoints, and TensorBoard extras.

TensorBoard layout (what a person overlays): Keras's callback writes `tb/train` and
`tb/validation` (epoch_loss, epoch_accuracy, epoch_grad_norm, epoch_learning_rate); the recorder
writes the test set as its own run `tb/test` under the same tags, once each, and the run's own
curves to `tb/` itself (`weight_norm`, `epoch_time_s`), beside the HParams entry: TensorBoard
lists every folder with an event file as a run, and the entry alone left `tb` an empty one.
"""

import math
import time

import keras
import numpy as np
import tensorflow as tf

from tfreg import runs
from tfreg.timing import Timings


class BestValidation:
    """The epoch of best validation accuracy (the first reaching it) and, when that epoch's test
    pass was skipped (--test_every_epochs), a copy of its weights: `RunRecorder.finish` evaluates
    the test set on them once at the end, so the studies' endpoint costs one test pass, not one
    per new best. The checkpoint carries it (tfreg.train.checkpoint), so a resumed run ends the
    same."""

    def __init__(self, epoch=None, value=None, weights=None):
        self.epoch, self.value, self.weights = epoch, value, weights

    def state(self):
        return {"epoch": self.epoch, "value": self.value}


class RunRecorder(keras.callbacks.Callback):
    """Evaluates the test set after every `test_every` epochs and after the last epoch trained
    (and, in `finish`, on the best validation epoch's weights when that epoch skipped it), rewrites
    history.csv atomically, logs the test run to TensorBoard, tracks the first epoch whose training
    accuracy reaches the target, and stops on a non-finite loss. It leaves the Keras logs
    untouched, so nothing is logged twice."""

    def __init__(self, run_dir, test_data, target_accuracy, history=(), tb_dir=None, timings=None,
                 epochs=None, test_every=1, best_val=None, verbose=0):
        super().__init__()
        self.verbose = verbose
        self.best_val = best_val or BestValidation()
        self.timings = timings or Timings(from_process_start=False)
        self.run_dir = run_dir
        self.test_data = test_data
        self.target_accuracy = target_accuracy
        self.epochs, self.test_every = epochs, test_every
        self.rows = list(history)
        self.time_to_target_s = None
        self.epoch_to_target = None
        self.failure = None
        self._writers = None if tb_dir is None else {
            "run": tf.summary.create_file_writer(str(tb_dir)),
            "test": tf.summary.create_file_writer(str(tb_dir / "test"))}
        for r in self.rows:
            self._check_target(r)
        vals = [r for r in self.rows if r.get("val_accuracy") is not None]
        if self.best_val.epoch is None and vals:  # a checkpoint from before the record existed
            top = max(vals, key=lambda r: (r["val_accuracy"], -r["epoch"]))
            self.best_val = BestValidation(top["epoch"], top["val_accuracy"])

    @property
    def train_time_s(self):
        return sum(r["epoch_time_s"] for r in self.rows)

    def _check_target(self, row):
        if self.target_accuracy and self.epoch_to_target is None and row["accuracy"] >= self.target_accuracy:
            self.epoch_to_target = int(row["epoch"])
            self.time_to_target_s = round(sum(r["epoch_time_s"] for r in self.rows
                                              if r["epoch"] <= row["epoch"]), 3)

    def _test_due(self, epochs_done):
        return epochs_done == self.epochs or bool(self.test_every and epochs_done % self.test_every == 0)

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
        elapsed = time.perf_counter() - self._start
        if self.failure:
            return
        test = self._evaluate_test() if self._test_due(epoch + 1) else {}
        with self.timings.phase("epoch_logging"):
            self._log_epoch(epoch, dict(logs or {}), test, elapsed)
            self._track_best_validation(self.rows[-1])
        bad = [k for k in ("loss", "val_loss", "test_loss", "accuracy", "val_accuracy",
                           "test_accuracy") if self.rows[-1].get(k) is not None
               and not math.isfinite(self.rows[-1][k])]
        if bad:  # the epoch's row stays in history.csv; its checkpoint is not written
            self.failure = f"non-finite {', '.join(bad)} at epoch {epoch + 1}"
            self.model.stop_training = True

    def _track_best_validation(self, row):
        val = row.get("val_accuracy")
        if (val is None or not math.isfinite(val)
                or (self.best_val.value is not None and val <= self.best_val.value)):
            return
        skipped = row.get("test_accuracy") is None
        weights = [np.copy(w) for w in self.model.net.get_weights()] if skipped else None
        self.best_val = BestValidation(row["epoch"], val, weights)

    def on_train_end(self, logs=None):
        self.finish()

    def finish(self):
        """The test passes the schedule skipped that the run's numbers need: the last epoch's (an
        early stop ends before the last planned epoch; evaluated before EarlyStopping restores
        the best weights) and the best validation epoch's, on its saved weights. Idempotent; the
        loop calls it too when a resumed run has no epoch left to train."""
        if self.failure or not self.rows:
            return
        last = self.rows[-1]
        if last.get("test_accuracy") is None:
            self._fill(last, self._evaluate_test(f"epoch {last['epoch']}"))
        best = next((r for r in self.rows if r["epoch"] == self.best_val.epoch), None)
        if best is not None and best.get("test_accuracy") is None and self.best_val.weights:
            current = self.model.net.get_weights()
            self.model.net.set_weights(self.best_val.weights)
            try:
                test = self._evaluate_test(f"best validation epoch {best['epoch']}")
            finally:
                self.model.net.set_weights(current)
            self._fill(best, test)

    def _fill(self, row, test):
        with self.timings.phase("epoch_logging"):
            row.update({k: float(v) for k, v in test.items()})
            runs.write_history(self.run_dir / "history.csv", self.rows)
            if self._writers:
                self._scalars("test", row["epoch"], epoch_loss=test["test_loss"],
                              epoch_accuracy=test["test_accuracy"])

    def _evaluate_test(self, label=None):
        with self.timings.phase("test_eval"):
            test = self.model.evaluate(self.test_data, verbose=0, return_dict=True)
        if self.verbose:
            print(f"{label or f'epoch {len(self.rows) + 1}'} test: loss {test['loss']:.4f}, "
                  f"accuracy {test['accuracy']:.4f}", flush=True)
        return {"test_loss": test["loss"], "test_accuracy": test["accuracy"]}

    def _log_epoch(self, epoch, logs, test, elapsed):
        weight_norm = float(tf.linalg.global_norm(self.model.net.trainable_variables))
        logs.update({"lr": self._lr, **test, "weight_norm": weight_norm, "epoch_time_s": elapsed})
        row = {"epoch": epoch + 1}
        for col in runs.HISTORY_COLUMNS[1:]:
            value = logs.get(col)
            row[col] = None if value is None else float(value)
        self.rows.append(row)
        self._check_target(row)
        runs.write_history(self.run_dir / "history.csv", self.rows)
        if self._writers:
            if test:
                self._scalars("test", epoch + 1, epoch_loss=test["test_loss"],
                              epoch_accuracy=test["test_accuracy"])
            self._scalars("run", epoch + 1, weight_norm=weight_norm, epoch_time_s=elapsed)

    def _scalars(self, split, step, **values):
        with self._writers[split].as_default():
            for tag, value in values.items():
                tf.summary.scalar(tag, float(value), step=step)
        self._writers[split].flush()


class EarlyStopping(keras.callbacks.EarlyStopping):
    """Keras EarlyStopping (restore_best_weights) whose state travels in the checkpoint, so a
    resumed run keeps its patience count and best weights, and a run that stopped stays stopped."""

    def __init__(self, monitor, patience):
        super().__init__(monitor, patience=patience, restore_best_weights=True,
                         mode="max" if monitor.endswith("accuracy") else "min")
        self._resumed = None

    @classmethod
    def from_config(cls, t, model):
        """The callback for --early_stopping_patience (None when 0), bound to `model`."""
        if not t.early_stopping_patience:
            return None
        early = cls(t.early_stopping_monitor, t.early_stopping_patience)
        early.set_model(model)
        return early

    def state(self):
        return {"wait": int(self.wait), "stopped_epoch": int(self.stopped_epoch),
                "best": None if self.best is None else float(self.best),
                "best_epoch": int(self.best_epoch)}

    def load_state(self, state, best_weights):
        self._resumed = (state, best_weights)
        self._apply()

    def _apply(self):
        state, self.best_weights = self._resumed
        self.wait, self.stopped_epoch = state["wait"], state["stopped_epoch"]
        self.best, self.best_epoch = state["best"], state["best_epoch"]

    @property
    def stopped(self):
        return self.stopped_epoch > 0

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)  # resets every field
        if self._resumed is not None:
            self._apply()

    def restore_best(self):
        """What on_train_end does, for a resumed run with no epoch left to train."""
        if self.best_weights is not None:
            self.model.set_weights(self.best_weights)


class CheckpointCallback(keras.callbacks.Callback):
    """Saves an atomic checkpoint at every epoch end, unless the recorder saw a failure (the last
    good checkpoint is kept)."""

    def __init__(self, checkpointer, recorder, early_stopping=None, timings=None):
        super().__init__()
        self.timings = timings or Timings(from_process_start=False)
        self.checkpointer = checkpointer
        self.recorder = recorder
        self.early_stopping = early_stopping

    def on_epoch_end(self, epoch, logs=None):
        if self.recorder.failure is None:
            with self.timings.phase("checkpoints"):
                self.checkpointer.save(self.model, epoch + 1, self.early_stopping,
                                       getattr(self.recorder, "best_val", None))


class PhaseTimer(keras.callbacks.Callback):
    """Splits each epoch's window (epoch_time_s in history.csv) into the first step of the
    invocation (tracing), the validation pass and the other training steps. First in the list,
    so its epoch end comes before the test evaluation and the checkpoint."""

    def __init__(self, timings):
        super().__init__()
        self.timings = timings
        self._first = True
        self._epoch = self._batch = self._test = None

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch, self._claimed = time.perf_counter(), 0.0

    def on_train_batch_begin(self, batch, logs=None):
        if self._first:
            self._batch = time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        if self._first:
            self._first = False
            self._claim("first_step", time.perf_counter() - self._batch)

    def on_test_begin(self, logs=None):
        self._test = time.perf_counter()

    def on_test_end(self, logs=None):
        self._claim("validation", time.perf_counter() - self._test)

    def on_epoch_end(self, epoch, logs=None):
        self.timings.add("train_steps", time.perf_counter() - self._epoch - self._claimed)

    def _claim(self, phase, seconds):
        self.timings.add(phase, seconds)
        self._claimed += seconds


class EpochTensorBoard(keras.callbacks.TensorBoard):
    """Keras's TensorBoard callback with epochs numbered from 1, as in history.csv, and without the
    `evaluation_*_vs_iterations` scalars it writes beside the validation curves (the same numbers
    under a second tag)."""

    def on_test_end(self, logs=None):
        super().on_test_end({})  # closes the validation writer, writes nothing

    def on_epoch_end(self, epoch, logs=None):
        super().on_epoch_end(epoch + 1, logs)


def run_callbacks(recorder, early_stopping, checkpointer, tb_dir, timings):
    """In order: the phase timer, the recorder (history, test run), early stopping, Keras's
    TensorBoard (train and validation runs), then the checkpoint, which saves the early-stopping
    state of the epoch."""
    return [PhaseTimer(timings), recorder, *([early_stopping] if early_stopping else []),
            EpochTensorBoard(str(tb_dir), write_graph=False, profile_batch=0),
            CheckpointCallback(checkpointer, recorder, early_stopping, timings)]


def write_tensorboard_extras(tb_dir, cfg_flat, train_ds, images=False):
    """hparams entry for the HParams dashboard, at tb/ itself (TensorBoard reads a session's
    metrics from the runs below it: tb/train, tb/validation, tb/test; the recorder's weight_norm
    and epoch_time_s curves there keep tb from being a run without scalars), its trial named
    after the sweep arm (runs.trial_id), and with `images` (--tensorboard_images) the first
    augmented training batch in tb/train."""
    from tensorboard.plugins.hparams import api as hp

    session = tf.summary.create_file_writer(str(tb_dir))
    with session.as_default():
        hp.hparams({k: runs.hparam_value(v) for k, v in cfg_flat.items()},
                   trial_id=runs.trial_id(cfg_flat))
    session.close()
    if not images:
        return
    images, labels = (t.numpy() for t in next(iter(train_ds.take(1))))
    if labels.ndim == 2:  # soft targets of a mixed batch: the class with the largest weight
        labels = labels.argmax(-1)
    writer = tf.summary.create_file_writer(str(tb_dir / "train"))
    with writer.as_default():
        tf.summary.image("augmented_train_batch", np.clip(images[:16] / 255.0, 0, 1), step=1,
                         max_outputs=16,
                         description="labels: " + " ".join(str(int(v)) for v in labels[:16]))
    writer.close()
