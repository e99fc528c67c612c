"""Atomic checkpoints: weights, optimizer state, seed states and early-stopping state, together.

Each checkpoint is a directory `checkpoints/epoch_NNNN/` (NNNN = epochs completed) built under a
temporary name, flushed to disk, and renamed into place in one step; only then is the previous one
removed. A kill at any instant (SIGKILL, Ctrl-C inside the h5 write) therefore leaves a complete
checkpoint behind: the old one until the rename, the new one after it. (Saving an epoch that
already has a checkpoint sets the old one aside under `.superseded_epoch_NNNN` first; `restore`
puts it back if its replacement never landed.) Keras's BackupAndRestore
writes its weights file over the previous one and the metadata after it, so a kill during that
save left runs that could not resume; that is why this module exists.

The weights and the optimizer's state go into one uncompressed `.npz` of every variable, in the
order the trainer lists them (`trainer.weights`, then `optimizer.variables`), restored by
position with each shape checked. Keras's `save_weights` stores the same variables (and leaves
out a Conv2D subclass's extra weights unless the layer saves them itself) but costs about 0.13 s
per epoch on a mini model against 0.02 s for the `.npz` (the issue 27 overhead); a checkpoint
written by an earlier tfreg (`trainer.weights.h5`) still restores.

`restore` always runs before training, including when no epoch is left to train, so a run killed
between its last checkpoint and its export exports the trained weights on the next invocation.
"""

import json
import os
import pathlib
import shutil

import numpy as np

from tfreg import runs

VARIABLES = "trainer.variables.npz"
LEGACY_WEIGHTS = "trainer.weights.h5"  # checkpoints written before 2026-12-05
META = "meta.json"
BEST = "best_weights.npz"
BEST_VAL = "best_val_weights.npz"  # the best validation epoch's weights when its test was skipped
SUPERSEDED = ".superseded_"  # a checkpoint of the same epoch being replaced


class CheckpointError(Exception):
    """A checkpoint exists but cannot be loaded."""


class CheckpointWriteError(Exception):
    """A checkpoint could not be written (a full disk); the previous one is kept."""


def _bytes(path):
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def seed_generators(trainer):
    """The batch-mixing generator and every random layer's generator, in a stable order (Keras
    weight files leave seed states out, so a resumed epoch would otherwise draw other masks)."""
    layers = trainer.net._flatten_layers()
    return [trainer.mix_seed] + [l.seed_generator for l in layers if hasattr(l, "seed_generator")]


def state_variables(trainer):
    """Every variable a checkpoint holds, in a stable order: the model's weights (trainable and
    non-trainable, e.g. batch norm's moving statistics) and the optimizer's (its step count and
    slots). Random layers' seed states are in the metadata (seed_generators)."""
    return [*trainer.weights, *trainer.optimizer.variables]


def _save_variables(trainer, path):
    np.savez(path, *[np.asarray(v.numpy()) for v in state_variables(trainer)])


def _read_arrays(path):
    """The arrays np.savez(path, *arrays) wrote, in order."""
    with np.load(path) as f:
        return [f[f"arr_{i}"] for i in range(len(f.files))]


def _load_variables(trainer, path):
    variables, arrays = state_variables(trainer), _read_arrays(path)
    if len(arrays) != len(variables):
        raise ValueError(f"it holds {len(arrays)} variables, the model and optimizer have "
                         f"{len(variables)}")
    for variable, array in zip(variables, arrays):
        if tuple(array.shape) != tuple(variable.shape):
            raise ValueError(f"{variable.path} has shape {tuple(variable.shape)}, the checkpoint's "
                             f"{tuple(array.shape)}")
    for variable, array in zip(variables, arrays):
        variable.assign(array)


def _fsync(path):
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Checkpointer:
    def __init__(self, directory):
        self.directory = pathlib.Path(directory)
        self.best_val = {}

    def latest(self):
        """The newest complete checkpoint directory, or None."""
        done = [p for p in self.directory.glob("epoch_*") if (p / META).is_file()]
        return max(done, key=lambda p: p.name) if done else None

    def clean_partial(self):
        """Removes what a killed save left behind: temporary directories, and a superseded
        checkpoint whose replacement is complete (one whose replacement never landed goes back)."""
        for tmp in self.directory.glob(".epoch_*"):
            shutil.rmtree(tmp, ignore_errors=True)
        for old in self.directory.glob(f"{SUPERSEDED}epoch_*"):
            final = self.directory / old.name[len(SUPERSEDED):]
            if (final / META).is_file():
                shutil.rmtree(old, ignore_errors=True)
            else:
                shutil.rmtree(final, ignore_errors=True)
                os.rename(old, final)

    def _check_space(self, trainer, epochs_done):
        """Refuses a save that would not fit: on a full filesystem h5py's write fails inside the
        HDF5 library (seen: a segmentation fault). The new checkpoint is written before the old
        one is removed, so it needs its whole size free: the previous checkpoint's size, or the
        variables' bytes (weights, optimizer slots) for the first, plus a margin."""
        previous = self.latest()
        need = _bytes(previous) if previous else sum(
            int(np.prod(v.shape)) * 4 for v in state_variables(trainer))
        need = int(need * 1.1) + (1 << 20)
        free = shutil.disk_usage(self.directory).free
        if free < need:
            raise CheckpointWriteError(
                f"not enough disk space for the epoch {epochs_done} checkpoint in {self.directory} "
                f"({need / 2**20:.1f} MB needed, {free / 2**20:.1f} MB free)")

    def save(self, trainer, epochs_done, early_stopping=None, best_val=None):
        self.directory.mkdir(parents=True, exist_ok=True)
        self._check_space(trainer, epochs_done)
        tmp = self.directory / f".epoch_{epochs_done:04d}.{os.getpid()}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        try:
            self._write(trainer, epochs_done, early_stopping, best_val, tmp)
        except OSError as e:  # a disk that filled up during the write: the old checkpoint stays
            shutil.rmtree(tmp, ignore_errors=True)
            raise CheckpointWriteError(f"the epoch {epochs_done} checkpoint could not be written "
                                       f"in {self.directory} ({e.strerror or e})") from e

    def _write(self, trainer, epochs_done, early_stopping, best_val, tmp):
        _save_variables(trainer, tmp / VARIABLES)
        meta = {"epoch": epochs_done,
                "seed_states": [g.state.numpy().tolist() for g in seed_generators(trainer)],
                "early_stopping": None}
        if early_stopping is not None:
            meta["early_stopping"] = early_stopping.state()
            if early_stopping.best_weights is not None:
                np.savez(tmp / BEST, *early_stopping.best_weights)
        if best_val is not None and best_val.epoch is not None:
            meta["best_val"] = best_val.state()
            if best_val.weights is not None:
                np.savez(tmp / BEST_VAL, *best_val.weights)
        (tmp / META).write_text(json.dumps(meta) + "\n")
        for f in tmp.iterdir():
            _fsync(f)
        final = self.directory / f"epoch_{epochs_done:04d}"
        superseded = self.directory / f"{SUPERSEDED}{final.name}"
        if final.exists():  # the same epoch saved again: set aside until the new one is in place
            shutil.rmtree(superseded, ignore_errors=True)
            os.rename(final, superseded)
        os.rename(tmp, final)
        _fsync(self.directory)
        shutil.rmtree(superseded, ignore_errors=True)
        for old in self.directory.glob("epoch_*"):
            if old != final:
                shutil.rmtree(old, ignore_errors=True)

    def restore(self, trainer, early_stopping=None):
        """Loads the newest checkpoint into `trainer` (and the early-stopping state); returns
        the number of epochs it completed (0 when there is none). The best-validation record it
        holds is left in `self.best_val` (a callbacks.BestValidation's arguments) for the
        recorder."""
        self.best_val = {}
        self.clean_partial()
        path = self.latest()
        if path is None:
            return 0
        try:
            meta = json.loads((path / META).read_text())
            optimizer = trainer.optimizer
            if not optimizer.built:  # its slots exist only once it is built
                with trainer.distribute_strategy.scope():
                    optimizer.build(trainer.trainable_variables)
            if (path / VARIABLES).exists():
                _load_variables(trainer, path / VARIABLES)
            else:
                trainer.load_weights(str(path / LEGACY_WEIGHTS))
            for generator, state in zip(seed_generators(trainer), meta["seed_states"], strict=True):
                generator.state.assign(np.asarray(state, dtype=generator.state.dtype))
            if early_stopping is not None and meta.get("early_stopping") is not None:
                best = _read_arrays(path / BEST) if (path / BEST).exists() else None
                early_stopping.load_state(meta["early_stopping"], best)
            if meta.get("best_val"):
                weights = _read_arrays(path / BEST_VAL) if (path / BEST_VAL).exists() else None
                self.best_val = {**meta["best_val"], "weights": weights}
        except Exception as e:  # noqa: BLE001 - h5py, json and Keras raise many types
            raise CheckpointError(f"the checkpoint {path} cannot be loaded ({type(e).__name__}: "
                                  f"{' '.join(str(e).split())[:200]})") from e
        return int(meta["epoch"])


def truncate_history(run_dir, epochs_done):
    """history.csv rows of the epochs the checkpoint holds. history.csv is written before the
    checkpoint at an epoch end, so a kill between the two leaves one row too many."""
    rows = runs.read_history(pathlib.Path(run_dir) / "history.csv")
    return [r for r in rows if r["epoch"] <= epochs_done]
