"""Benchmark (not a test): the tf.data autotuning stall, and what turning autotuning off costs.

    python -m benchmarks.iterator_stall [--repeats 6] [--out benchmarks/results/iterator-stall.json]

In TensorFlow 2.21 an iterator of a dataset with autotuning on (the default) starts an optimiser
thread that wakes 10 ms x (2^k - 1) after the iterator was made (the period doubles up to 60 s).
Dropping the iterator while the process is busy computing waits for the next wake-up, so the call
that made it (a Keras `evaluate`, a `fit` with its own iterator, a benchmark window) ends at 2.55,
5.11, 10.23 ... s. tfreg's pipelines turn autotuning off (tfreg/data/pipeline.py). Four parts,
autotuning on and off alternating within one process:

1. minimal: `Dataset.from_tensors(...).repeat().prefetch(AUTOTUNE)`, one element, then matrix
   multiplies for `busy` seconds, then `del iterator`: how long the `del` takes;
2. the quickstart network's test pass (`evaluate` of Fashion-MNIST's 10,000 test images, or
   10,000 synthetic 32x32x3 images with --dataset=synthetic): wall and CPU seconds per call;
3. the full augmentation chain (benchmarks/input_pipeline.py's FULL_CHAIN): images/s;
4. the quickstart's training steps fed by tfreg's training pipeline (pad-crop, flip): milliseconds
   per step inside `fit`, timed from the 6th to the last step of each call (the end of the call,
   where the stall falls, left out).
Prints and writes one JSON object.
"""

import argparse
import json
import time

import numpy as np

from tfreg import environment

environment.configure()  # TF_ENABLE_ONEDNN_OPTS, quiet logs, before TensorFlow loads
import keras
import tensorflow as tf

from benchmarks.input_pipeline import FULL_CHAIN, pipeline_rate
from tfreg import hardware
from tfreg.flags import make_config
from tfreg.data.prepare import prepare
from tfreg.train import assemble, runtime


def autotune_options(enabled):
    options = tf.data.Options()
    options.autotune.enabled = enabled
    return options


def autotune(ds, enabled):
    return ds.with_options(autotune_options(enabled))


def alternate(repeats, measure):
    """{True: [...], False: [...]}: measure(autotune_enabled) in ABBA order."""
    out = {True: [], False: []}
    for r in range(repeats):
        for enabled in ((True, False) if r % 2 == 0 else (False, True)):
            out[enabled].append(measure(enabled))
    return out


def minimal_delete_seconds(busy_s):
    x = tf.random.normal([512, 512])

    def measure(enabled):
        ds = autotune(tf.data.Dataset.from_tensors(tf.zeros([4])).repeat().prefetch(tf.data.AUTOTUNE),
                      enabled)
        start = time.perf_counter()
        it = iter(ds)
        next(it)
        while time.perf_counter() - start < busy_s:
            tf.linalg.matmul(x, x)
        t = time.perf_counter()
        del it
        return round(time.perf_counter() - t, 3)
    return measure


def summary(values):
    values = np.asarray(values, float)
    return {"median": round(float(np.median(values)), 3), "min": round(float(values.min()), 3),
            "max": round(float(values.max()), 3), "values": [round(float(v), 3) for v in values]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=6)
    parser.add_argument("--dataset", default="fashion_mnist", help="or synthetic")
    parser.add_argument("--out", default="")
    args = parser.parse_args()
    started = time.time()
    result = {"cpu": hardware.cpu_info(), "tensorflow": tf.__version__, "repeats": args.repeats}

    result["minimal_delete_s"] = {}
    for busy in (0.5, 1.5, 3.0, 4.0):
        got = alternate(args.repeats, minimal_delete_seconds(busy))
        result["minimal_delete_s"][f"busy {busy} s"] = {
            "autotune on": summary(got[True]), "autotune off": summary(got[False])}

    extra = {} if args.dataset == "fashion_mnist" else dict(
        synthetic_train_examples=1000, synthetic_test_examples=10000)
    cfg = make_config(dataset=args.dataset, model="resnet20", width_multiplier=0.5,
                      normalize="per_channel", batch_size=128, epochs=7, verbose=0, **extra)
    runtime.setup_runtime(cfg)
    data = prepare(cfg)
    trainer, _ = assemble.build(cfg, data, runtime.make_strategy(cfg.run),
                                assemble.steps_per_epoch(cfg, data))
    test = assemble.datasets(cfg, data, 0)[2]
    trainer.evaluate(test, verbose=0)

    def evaluate(enabled):
        start, cpu = time.perf_counter(), time.process_time()
        trainer.evaluate(autotune(test, enabled), verbose=0)
        return time.perf_counter() - start, time.process_time() - cpu
    got = alternate(args.repeats, evaluate)
    result["quickstart_test_pass"] = {
        "images": len(data.y_test), "eval_batch_size": cfg.data.eval_batch_size,
        **{f"autotune {k}": {"wall_s": summary([w for w, _ in got[e]]),
                             "cpu_s": summary([c for _, c in got[e]])}
           for k, e in (("on", True), ("off", False))}}

    chain_cfg = make_config(dataset="synthetic", synthetic_train_examples=10000,
                            synthetic_test_examples=10, model="resnet18", batch_size=128,
                            **FULL_CHAIN)
    chain_data = prepare(chain_cfg)

    def chain_rate(enabled):
        return pipeline_rate(chain_cfg, chain_data, 128, 40, autotune_options(enabled))
    got = alternate(args.repeats, chain_rate)
    result["full_chain_images_per_s"] = {"autotune on": summary(got[True]),
                                         "autotune off": summary(got[False])}
    train = assemble.datasets(cfg, data, 0)[0]
    steps = 60

    class StepClock(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.times = []

        def on_train_batch_end(self, batch, logs=None):
            self.times.append(time.perf_counter())
    clock = StepClock()
    trainer.fit(train, steps_per_epoch=5, epochs=1, verbose=0)

    def train_step_ms(enabled):
        trainer.fit(autotune(train, enabled), steps_per_epoch=steps, epochs=1, verbose=0,
                    callbacks=[clock])
        return (clock.times[-1] - clock.times[5]) / (steps - 6) * 1000
    got = alternate(args.repeats, train_step_ms)
    result["quickstart_train_step_ms"] = {"steps_timed_per_call": steps - 6,
                                          "autotune on": summary(got[True]),
                                          "autotune off": summary(got[False])}
    result["seconds"] = round(time.time() - started, 1)
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
