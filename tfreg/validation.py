"""The one validation path of every tool (tfreg.run, tfreg.sweep, tfreg.analyze), in one order:

1. `validate(cfg)`: the values alone, reading nothing: each field's range and the cross-flag
   checks (`config.check`, which the command line also runs at parse time), the list flags against
   the architecture (`models.specs.check`), the augmentation sizes against the dataset's image size
   (`data.prepare.check_settings`);
2. `check_files(cfg)`: what reads the disk: --init_from's run (model.keras, and flags.txt for its
   architecture);
3. the tool's own output place (run directory, sweep directory, --out), then loading the data
   (`data.prepare.prepare`, which reads the dataset).

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
