"""Assembling a run from a Config and prepared data: the compiled trainer, the datasets, and the
human-readable descriptions (--dry_run, the active regularizers).

Importable on its own: the benchmark and the analysis tools build exactly what a run trains.
"""

import numpy as np

from tfreg import validation
from tfreg.data import pipeline, prepare
from tfreg.models import build as models
from tfreg.regularizers import registry
from tfreg.train import optimizers, schedules, transfer
from tfreg.train.trainer import Trainer


def count_params(net):
    return int(sum(np.prod(v.shape) for v in net.trainable_variables))


def steps_per_epoch(cfg, data):
    return prepare.steps_per_epoch(cfg, len(data.y_train))


def build(cfg, data, strategy, steps_per_epoch):
    """(trainer, net) under the strategy's scope, compiled, normalization statistics loaded."""
    validation.check_steps_per_execution(cfg, steps_per_epoch, strategy.num_replicas_in_sync)
    with strategy.scope():
        net = models.build_model(cfg, data.image_shape, data.num_classes,
                                 sync_batch_norm=strategy.num_replicas_in_sync > 1)
        net.get_layer("normalize").set_stats(data.norm_stats)
        net = transfer.apply(net, cfg, data.num_classes)
        trainer = Trainer(net, cfg, data.num_classes)
        schedule = schedules.from_config(cfg.train, steps_per_epoch)
        optimizer = optimizers.make_optimizer(cfg.train, schedule, net.trainable_variables)
        trainer.compile(optimizer=optimizer, jit_compile=cfg.run.jit_compile,
                        steps_per_execution=cfg.run.steps_per_execution)
    return trainer, net


def datasets(cfg, data, start_epoch):
    """(train, validation or None, test) tf.data pipelines; training resumes at start_epoch."""
    batch = cfg.data.batch_size
    train = pipeline.train_dataset(data, cfg.augment, batch, cfg.run.seed, start_epoch,
                                   cfg.train.epochs, cfg.train.steps_per_epoch)
    eval_batch = cfg.data.eval_batch_size or batch
    val = pipeline.eval_dataset(data.x_val, data.y_val, eval_batch) if len(data.y_val) else None
    return train, val, pipeline.eval_dataset(data.x_test, data.y_test, eval_batch)


def active_regularizers(cfg):
    """Human-readable list of every regularizer the flags turn on (tfreg.regularizers.registry)."""
    return registry.lines(cfg)


def dry_run_summary(cfg, data):
    """The one-screen summary --dry_run prints."""
    from tfreg.train.runtime import setup_runtime

    setup_runtime(cfg)
    validation.check_steps_per_execution(cfg, steps_per_epoch(cfg, data))
    net = transfer.apply(models.build_model(cfg, data.image_shape, data.num_classes), cfg,
                         data.num_classes)
    sizes = data.describe()["sizes"]
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
        f"batch {cfg.data.batch_size}, {cfg.train.epochs} epochs x {steps_per_epoch(cfg, data)} "
        f"steps, loss {cfg.train.loss}",
        "active regularizers:",
        *([f"  {r}" for r in active_regularizers(cfg)] or ["  none"]),
    ]
    return "\n".join(lines)
