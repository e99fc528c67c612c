"""Benchmark (not a test): what a dropout mask costs, against the random draws under it.

    python -m benchmarks.dropout_cost [--repeats 10]

Everything-on (bench.EVERYTHING_ON) costs more than issue 12's 5%, and its dropout group is most of
it. This measures, in one process, alternating, for one ResNet-18 stage-1 activation (64 x 32 x 32
x 64, 4.2M units), forward + backward of `sum(dropout(x) * w)` with tfreg's dropout
(tfreg.regularizers.dropout.dropout: a Philox `stateless_uniform` draw per unit, then compare,
cast, multiply, divide) against the same without dropout, the draw alone, and one element-wise
multiply; and where PyTorch is installed, `torch.nn.functional.dropout` and `torch.rand` on the
same shape. It also counts the units the everything-on ResNet-18 masks per step at batch 64.
Prints one JSON object (milliseconds, median and min over --repeats rounds of 5 calls).
"""

import argparse
import json
import time

import numpy as np

from tfreg import environment

environment.configure()  # TF_ENABLE_ONEDNN_OPTS, quiet logs, before TensorFlow loads
import tensorflow as tf

from tfreg import hardware
from tfreg.regularizers import dropout as tfreg_dropout

SHAPE = (64, 32, 32, 64)


def masked_units_per_step(batch=64):
    """Units under a dropout mask in one step of bench.EVERYTHING_ON's ResNet-18."""
    from benchmarks.bench import EVERYTHING_ON
    from tfreg.flags import make_config
    from tfreg.data.prepare import prepare
    from tfreg.train import assemble

    cfg = make_config(dataset="synthetic", synthetic_train_examples=batch, synthetic_test_examples=10,
                      model="resnet18", batch_size=batch, epochs=1, verbose=0, **EVERYTHING_ON)
    data = prepare(cfg)
    _, net = assemble.build(cfg, data, tf.distribute.get_strategy(), 1)
    layers = [layer for layer in net._flatten_layers() if isinstance(layer, tfreg_dropout.Dropout)]
    return len(layers), int(sum(batch * np.prod(layer.output.shape[1:]) for layer in layers))


def tf_contenders(rate):
    x = tf.random.normal(SHAPE)
    w = tf.random.normal(SHAPE)
    seed = tf.constant([1, 2], tf.int64)

    def fwd_bwd(fn):
        @tf.function
        def step():
            with tf.GradientTape() as tape:
                tape.watch(x)
                loss = tf.reduce_sum(fn(x) * w)
            return tape.gradient(loss, x)[0, 0, 0, 0]
        return step

    return {
        "tfreg dropout, forward + backward": fwd_bwd(lambda v: tfreg_dropout.dropout(v, rate, seed)),
        "no dropout, forward + backward": fwd_bwd(lambda v: v),
        "Philox draw alone (stateless_uniform)": tf.function(
            lambda: tf.random.stateless_uniform(SHAPE, seed)[0, 0, 0, 0]),
        "one element-wise multiply": tf.function(lambda: (x * 1.5)[0, 0, 0, 0]),
    }


def torch_contenders(rate):
    try:
        import torch
    except ImportError:
        return {}
    x = torch.randn(SHAPE[0], SHAPE[3], SHAPE[1], SHAPE[2], requires_grad=True)
    w = torch.randn(x.shape)

    def fwd_bwd(p):
        def step():
            y = torch.nn.functional.dropout(x, p, training=True) if p else x
            (y * w).sum().backward()
        return step
    return {"PyTorch dropout, forward + backward": fwd_bwd(rate),
            "PyTorch no dropout, forward + backward": fwd_bwd(0.0),
            "PyTorch torch.rand alone": lambda: torch.rand(x.shape)}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--rate", type=float, default=0.1)
    args = parser.parse_args()
    contenders = {**tf_contenders(args.rate), **torch_contenders(args.rate)}
    for fn in contenders.values():
        fn()
    ms = {name: [] for name in contenders}
    for r in range(args.repeats):
        for name in (list(contenders) if r % 2 == 0 else list(contenders)[::-1]):
            start = time.perf_counter()
            for _ in range(5):
                out = contenders[name]()
                if hasattr(out, "numpy"):
                    out.numpy()
            ms[name].append((time.perf_counter() - start) / 5 * 1000)
    layers, units = masked_units_per_step()
    print(json.dumps({
        "cpu": hardware.cpu_info(), "tensorflow": tf.__version__, "shape": SHAPE, "rate": args.rate,
        "ms": {k: {"median": round(float(np.median(v)), 1), "min": round(min(v), 1)}
               for k, v in ms.items()},
        "everything_on_resnet18_b64": {"dropout_layers": layers, "masked_units_per_step": units},
    }, indent=1))


if __name__ == "__main__":
    main()
