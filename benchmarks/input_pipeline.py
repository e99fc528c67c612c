"""Benchmark (not a test): images/s of the full per-example augmentation chain versus what a
ResNet-18 training step consumes, on this machine.

    .venv/bin/python benchmarks/input_pipeline.py [--examples 10000] [--batch_size 128]

The input pipeline must never be what a training step waits for; issue 4 asks for more than 10x
the ResNet-18 step's consumption. Prints one JSON line.
"""

import argparse
import json
import os
import time

from tfreg import environment

environment.configure()  # TF_ENABLE_ONEDNN_OPTS, quiet logs, before TensorFlow loads
import tensorflow as tf

from tfreg.flags import make_config
from tfreg.data import pipeline
from tfreg.data.prepare import prepare
from tfreg.train import assemble, runtime

FULL_CHAIN = dict(pad_crop_pixels=4, flip="horizontal", color_jitter=0.4, rotation_degrees=15,
                  translate_fraction=0.1, shear_degrees=10, zoom_fraction=0.1, noise_std=0.02,
                  cutout_pixels=16, random_erasing_prob=0.5, cutout_extra_per_batch=8)


def pipeline_rate(cfg, data, batch_size, batches, options=None):
    """images/s of tfreg's training pipeline; `options` (tf.data.Options) are applied on top."""
    ds = pipeline.train_dataset(data, cfg.augment, batch_size, 0, 0, 1000, 0)
    it = iter(ds.with_options(options) if options is not None else ds)
    for _ in range(5):
        next(it)
    images = 0
    start = time.perf_counter()
    for _ in range(batches):
        x, _ = next(it)
        images += int(x.shape[0])
    return images / (time.perf_counter() - start)


def in_memory_trainer(cfg, data, batch_size, steps):
    """(trainer, dataset): the trainer tfreg builds for `cfg`, fed one in-memory batch repeated,
    traced and warmed up by one `fit` of `steps` steps. The dataset runs with tf.data autotuning
    off, as tfreg's own pipelines do: with it on, each `fit`'s dropped iterator waits for the
    autotuner's next wake-up (tfreg/data/pipeline.py), which the timings would include."""
    trainer, _ = assemble.build(cfg, data, tf.distribute.get_strategy(), steps)
    x = tf.constant(data.x_train[:batch_size], tf.float32)
    y = tf.constant(data.y_train[:batch_size])
    ds = pipeline.without_autotune(tf.data.Dataset.from_tensors((x, y)).repeat())
    trainer.fit(ds, steps_per_epoch=steps, epochs=1, verbose=0, shuffle=False)
    return trainer, ds


def step_rate(cfg, data, batch_size, steps):
    trainer, ds = in_memory_trainer(cfg, data, batch_size, steps)
    start = time.perf_counter()
    trainer.fit(ds, steps_per_epoch=steps, epochs=1, verbose=0, shuffle=False)
    return steps * batch_size / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--examples", type=int, default=10000)
    parser.add_argument("--batch_size", type=int, default=128)
    parser.add_argument("--batches", type=int, default=60)
    parser.add_argument("--steps", type=int, default=5)
    args = parser.parse_args()
    cfg = make_config(dataset="synthetic", synthetic_train_examples=args.examples,
                      synthetic_test_examples=10, model="resnet18", batch_size=args.batch_size,
                      **FULL_CHAIN)
    runtime.setup_runtime(cfg)
    data = prepare(cfg)
    augment_rate = pipeline_rate(cfg, data, args.batch_size, args.batches)
    resnet18_rate = step_rate(cfg, data, args.batch_size, args.steps)
    print(json.dumps({
        "cpu_count": os.cpu_count(), "batch_size": args.batch_size,
        "augment_chain": [name for name, _ in pipeline.active_augmentations(cfg.augment)],
        "pipeline_images_per_s": round(augment_rate, 1),
        "resnet18_train_images_per_s": round(resnet18_rate, 1),
        "ratio": round(augment_rate / resnet18_rate, 1),
    }))


if __name__ == "__main__":
    main()
