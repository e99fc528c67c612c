"""The one validation path of every tool (tfreg.run, tfreg.sweep, tfreg.analyze), in one order:

1. `validate(cfg)`: the values alone, reading nothing: each field's range and the cross-flag
   checks (`config.check`, which the command line also runs at parse time), the list flags against
   the architecture (`models.specs.check`), the augmentation sizes against the dataset's image size
   (`data.prepare.check_settings`);
2. `check_files(cfg)`: what reads the disk: --init_from's run (model.keras, and flags.txt for its
   architecture);
3. the tool's own output place (run directory, sweep directory, --out), then loading the data
   (`data.prepare.prepare`, which reads the dataset), and what needs the data's size
   (`check_steps_per_execution`).

No TensorFlow import: every check runs before TensorFlow starts. Building a model reads nothing.
"""

import os

from tfreg import config
from tfreg.data import prepare
from tfreg.errors import UsageError
from tfreg.models import specs
from tfreg.train import transfer


def validate(cfg):
    """UsageError (one line with the fix) for a Config no run can use; reads no file."""
    config.check(cfg)
    specs.check(cfg)
    prepare.check_settings(cfg)


def check_files(cfg):
    """UsageError when --init_from is not a completed tfreg run of the same architecture."""
    source = cfg.train.init_from
    if not source:
        return
    if not os.path.isfile(os.path.join(source, "model.keras")):
        raise UsageError(f"flag --init_from={source}: must be the directory of a completed tfreg "
                         "run (it holds model.keras)")
    transfer.check(cfg, transfer.source_config(source))


def check_steps_per_execution(cfg, steps_per_epoch, replicas=1):
    """UsageError unless --steps_per_execution divides the epoch's steps (Keras runs whole calls,
    so a remainder would train past the epoch's end and off the learning-rate schedule) and, above
    1, the run is on one device: Keras 3.15's multi-step loop fails under MirroredStrategy and
    MultiWorkerMirroredStrategy ("You must feed a value for placeholder tensor", reproduced on two
    logical CPU devices; keras-team/keras#19246)."""
    k = cfg.run.steps_per_execution
    if k > 1 and replicas > 1:
        raise UsageError(f"--steps_per_execution={k} runs on one device only (Keras 3.15 fails "
                         f"with several replicas, keras-team/keras#19246); this run has {replicas}: "
                         "use --steps_per_execution=1 or --strategy=one_device")
    if steps_per_epoch % k:
        divisors = [d for d in range(1, steps_per_epoch + 1) if steps_per_epoch % d == 0]
        raise UsageError(
            f"--steps_per_execution={k} does not divide the {steps_per_epoch} steps of an epoch; "
            f"use one of {', '.join(map(str, divisors[-6:]))} (or set --steps_per_epoch)")
