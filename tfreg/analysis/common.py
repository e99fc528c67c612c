"""What every analysis command shares: the Config it studies (run flags, or --from_run=DIR's
flags.txt with its final weights), the trainer built exactly as `tfreg.run` builds it, a batched
gradient probe, and the output directory."""

import datetime
import math
import pathlib

import numpy as np

from tfreg import config as config_lib
from tfreg import flags as tfreg_flags
from tfreg import validation
from tfreg import runs
from tfreg.errors import UsageError


def load_config(run_args, from_run=None):
    """Config from tfreg run flags; with from_run, that run's flags.txt first (later flags
    override it) and its final weights (model.keras) through --init_from."""
    argv = ["tfreg.analyze"]
    if from_run:
        flags = pathlib.Path(from_run) / "flags.txt"
        if not flags.is_file() or not (flags.parent / "model.keras").is_file():
            raise UsageError(f"--from_run={from_run} holds no flags.txt and model.keras; give the "
                             "directory of a completed tfreg run")
        argv.append(f"--flagfile={flags}")
    cfg = tfreg_flags.parse_args(argv + list(run_args))
    if from_run:
        cfg = cfg.replace(init_from=str(from_run))
    validation.validate(cfg)
    validation.check_files(cfg)
    return cfg


def check_out_dir(out, command, overwrite):
    """The output directory (not created yet): refused when it holds files, unless --overwrite."""
    if not out:
        stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d-%H%M%S")
        out = f"runs/analyze_{command}_{stamp}"
    path = pathlib.Path(out)
    if path.exists() and not path.is_dir():
        raise UsageError(f"--out={out} is a file, not a folder; choose another --out")
    if path.exists() and any(path.iterdir()) and not overwrite:
        raise UsageError(f"--out={out} already holds files; choose another --out or pass --overwrite")
    probe = runs.unwritable(path)  # checked before the computation, so no work is lost to it
    if probe:
        raise UsageError(f"cannot write --out={out} ({probe} is not a writable folder); choose "
                         "another --out")
    return path


def write_flags(path, cfg, command_line):
    """flags.txt: the command, then the analysed run's resolved flags (a valid flagfile)."""
    path.mkdir(parents=True, exist_ok=True)
    runs.atomic_write(path / "flags.txt", f"# {command_line}\n" + config_lib.to_flagfile(cfg))


def write_csv(path, rows):
    """rows: a list of dicts with the same keys."""
    import csv
    import io

    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    runs.atomic_write(path, buf.getvalue())


def enough_epochs(cfg, data, steps):
    """cfg with epochs covering `steps` training steps."""
    from tfreg.train import assemble

    return cfg.replace(epochs=max(1, math.ceil(steps / assemble.steps_per_epoch(cfg, data))))


def build(cfg, data):
    """(trainer, net, train dataset) as tfreg.run builds them, seeds set first."""
    from tfreg.train import assemble, runtime

    runtime.setup_runtime(cfg)
    strategy = runtime.make_strategy(cfg.run)
    trainer, net = assemble.build(cfg, data, strategy, assemble.steps_per_epoch(cfg, data))
    return trainer, net, assemble.datasets(cfg, data, 0)[0]


def gradient_probe(trainer):
    """probe(images, labels, weights=None) -> (loss, [gradient arrays]) at the given weights (a list
    of arrays, one per trainable variable; None = the current ones), BatchNorm in training mode:
    the loss and gradient of a training step, through Trainer.loss_and_gradients' stateless path,
    so no weight, optimizer slot or BatchNorm statistic moves."""
    import tensorflow as tf

    @tf.function(reduce_retracing=True)
    def run(images, targets, weights):
        loss, grads, _, _ = trainer.loss_and_gradients(images, targets, training=True,
                                                       weights=weights)
        return loss, grads

    def probe(images, labels, weights=None):
        if weights is None:
            weights = [v.value for v in trainer.trainable_variables]
        weights = [tf.convert_to_tensor(w, tf.float32) for w in weights]
        loss, grads = run(images, trainer.targets(labels), weights)
        return float(loss), [g.numpy() for g in grads]

    return probe


def step_function(trainer):
    """step(images, labels) -> batch loss: one train_step (the same compiled step as fit's), its
    metrics reset so the loss is this batch's."""
    import tensorflow as tf

    step = tf.function(lambda x, y: trainer.train_step((x, y)))

    def run(images, labels):
        logs = step(images, labels)
        for m in trainer.metrics:
            m.reset_state()
        return {k: float(np.asarray(v).reshape(-1)[0]) for k, v in logs.items()}

    return run
