"""Benchmark (not a test): what feeds a GPU (issue 26, item 10), on this machine.

    .venv/bin/python -m benchmarks.feed [--threads 2,8,16] [--executions 1,8] [--rounds 5]

(an empty --threads= or --executions= leaves that part out)

1. The input pipeline: images/s of tfreg's full per-example augmentation chain
   (benchmarks/input_pipeline.py's FULL_CHAIN) with tf.data's thread pool at 2, 8 and 16 threads.
   tfreg's maps ask for AUTOTUNE parallelism with autotuning off, which runs each map on as many
   threads as the pool has; the pool defaults to the machine's cores, so the parallel calls follow
   the cores without a flag. The rounds take turns (interleaved), median and min-max.
2. The train step with and without a host round trip per step: steps/s of `fit` on one in-memory
   batch (no input pipeline) of a small network (the quickstart's half-width ResNet-20 at batch
   128, where a step is short and a per-step sync costs most) at --steps_per_execution 1 and 8,
   interleaved, median and min-max, and the ratio of the medians.

Prints one JSON object. Run it on a quiet machine and write the CPU model beside its numbers.
"""

import argparse
import json
import statistics
import time

from tfreg import environment

environment.configure()  # TF_ENABLE_ONEDNN_OPTS, quiet logs, before TensorFlow loads
import tensorflow as tf

from benchmarks.bench import spread
from benchmarks.input_pipeline import FULL_CHAIN, in_memory_trainer, pipeline_rate
from tfreg import hardware
from tfreg.data.prepare import prepare
from tfreg.flags import make_config
from tfreg.train import runtime


def pipeline_threads(args):
    cfg = make_config(dataset="synthetic", synthetic_train_examples=args.examples,
                      synthetic_test_examples=10, batch_size=args.batch_size, **FULL_CHAIN)
    runtime.setup_runtime(cfg)
    data = prepare(cfg)
    rates = {n: [] for n in args.threads}
    for _ in range(args.rounds):
        for n in args.threads:
            options = tf.data.Options()
            options.threading.private_threadpool_size = n
            rates[n].append(pipeline_rate(cfg, data, args.batch_size, args.batches, options))
    return {str(n): spread(v) for n, v in rates.items()}


def step_trainers(args):
    """{k: (trainer, dataset)} of the same network compiled with steps_per_execution k."""
    out = {}
    for k in args.executions:
        cfg = make_config(dataset="synthetic", synthetic_train_examples=args.batch_size,
                          synthetic_test_examples=10, model="resnet20", width_multiplier=0.5,
                          batch_size=args.batch_size, steps_per_execution=k, seed=0)
        data = prepare(cfg)
        out[k] = in_memory_trainer(cfg, data, args.batch_size, args.steps)
    return out


def step_rates(args):
    trainers = step_trainers(args)
    rates = {k: [] for k in trainers}
    for r in range(args.rounds):
        order = list(trainers) if r % 2 == 0 else list(trainers)[::-1]
        for k in order:
            trainer, ds = trainers[k]
            start = time.perf_counter()
            trainer.fit(ds, steps_per_epoch=args.steps, epochs=1, verbose=0, shuffle=False)
            rates[k].append(args.steps / (time.perf_counter() - start))
    base = statistics.median(rates[args.executions[0]])
    return {str(k): {**spread(v), "ratio_to_first": round(statistics.median(v) / base, 3)}
            for k, v in rates.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", default="2,8,16")
    parser.add_argument("--executions", default="1,8")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--examples", type=int, default=5000)
    parser.add_argument("--batch_size", type=int, default=128)
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument("--steps", type=int, default=40, help="steps per timed window (a "
                        "multiple of every --executions value)")
    args = parser.parse_args()
    args.threads = [int(v) for v in args.threads.split(",") if v]  # empty: leave the part out
    args.executions = [int(v) for v in args.executions.split(",") if v]
    out = {"cpu": hardware.cpu_info(), "tensorflow": tf.__version__,
           "batch_size": args.batch_size}
    if args.threads:
        out["pipeline_images_per_s_by_threads"] = pipeline_threads(args)
    if args.executions:
        out["resnet20x0.5_steps_per_s_by_steps_per_execution"] = step_rates(args)
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
