"""Where a run's wall time goes: named phases, summed, for summary.json's `timings` block.

No TensorFlow here: the command line starts the clock before TensorFlow is imported, and the
training loop and its callbacks add their phases to the same object. `process_s` runs from the
start of the Python process (read from /proc on Linux; from the Timings' creation elsewhere), so
interpreter start-up and imports count too. `other_s` is what no phase claimed.
"""

import contextlib
import os
import time

PHASES = (
    "startup",           # process start -> tfreg.run's main(): interpreter and tfreg imports
    "checks",            # flags parsed and validated, run directory checked
    "data",              # dataset loaded, split, normalization statistics fitted (numpy)
    "import_tensorflow",  # TensorFlow and Keras imported
    "setup",             # strategy, seeds, precision policy
    "build",             # model built and compiled, optimizer slots created
    "restore",           # checkpoint restored (resume) or none found
    "datasets",          # tf.data pipelines built
    "tensorboard_setup",  # hparams and the first augmented batch
    "first_step",        # the first training step of this invocation: tracing and compilation
    "train_steps",       # every other training step (the work the run exists for)
    "validation",        # Keras's per-epoch pass over the validation split (inside the epoch)
    "test_eval",         # per-epoch test evaluation (outside the epoch)
    "epoch_logging",     # history.csv, weight norm, TensorBoard scalars
    "checkpoints",       # atomic per-epoch checkpoints
    "final_eval",        # TTA and MC-dropout passes
    "model_keras",       # model.keras written
    "saved_model",       # SavedModel exported
    "export_check",      # exports reloaded and compared with the in-memory net
    "plots",             # learning-curve PNGs
)


def _process_start():
    """perf_counter() value at which this process started, or None where it cannot be read."""
    try:
        with open("/proc/self/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        started_ticks = int(fields[19])  # field 22 (starttime), counted after the ')' of comm
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        age = uptime - started_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None
    return time.perf_counter() - max(age, 0.0)


class Timings:
    """Seconds per phase, summed over repeated entries (every epoch's checkpoint adds to one)."""

    def __init__(self, from_process_start=True):
        self.created = time.perf_counter()
        start = _process_start() if from_process_start else None
        self.started = start if start is not None else self.created
        self.seconds = {}
        if start is not None:
            self.add("startup", self.created - start)

    def add(self, phase, seconds):
        if phase not in PHASES:
            raise KeyError(f"not a timing phase: {phase}")
        self.seconds[phase] = self.seconds.get(phase, 0.0) + seconds

    @contextlib.contextmanager
    def phase(self, name):
        start = time.perf_counter()
        try:
            yield
        finally:
            self.add(name, time.perf_counter() - start)

    def as_dict(self):
        """{"process_s": wall so far, "<phase>_s": ..., "other_s": the rest}, rounded to ms."""
        process = time.perf_counter() - self.started
        out = {"process_s": round(process, 3)}
        out.update({f"{p}_s": round(self.seconds[p], 3) for p in PHASES if p in self.seconds})
        out["other_s"] = round(process - sum(self.seconds.values()), 3)
        return out
