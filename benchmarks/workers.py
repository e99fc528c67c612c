"""One benchmark contender per process (precision policies, oneDNN settings and thread pools are
process-wide), driven by benchmarks/bench.py through JSON lines on stdin/stdout:

    python -m benchmarks.workers '<spec as JSON>'

The worker imports its framework and builds its model, says `built`; on `warmup` it traces and
runs the warm-up steps, fixes the steps per timed window from them and says `ready`; on `turn` it
runs untimed steps (caches and thread pools back after the other contenders' turns), then the
timed windows, and answers each window's work and seconds; `quit` ends it. Protocol lines start
with @@bench on the real stdout; everything the libraries print goes to stderr.

Kinds: tfreg (tfreg's own path: make_config, setup_runtime, assemble.build, Trainer.fit), keras
(benchmarks/keras_resnet.py, model.fit), torch (benchmarks/torch_resnet.py, an eager loop,
optionally torch.compile), tf_matmul / torch_matmul (the machine's matrix-multiply rate) and
pipeline (tfreg's augmentation chain alone, benchmarks/input_pipeline.py).
"""

import functools
import json
import os
import resource
import sys
import time
import traceback

import numpy as np

MEAN, STD = (125.3, 123.0, 113.9), (63.0, 62.1, 66.7)  # CIFAR-10's, for every contender


def synthetic_batch(batch, seed=0):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (batch, 32, 32, 3)).astype(np.float32)
    return images, rng.integers(0, 10, batch).astype(np.int64)


def rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) // 1024
    return 0


def import_tensorflow(spec):
    from tfreg import environment

    environment.configure()  # TF_ENABLE_ONEDNN_OPTS and quiet logs before TensorFlow
    with environment.quiet_tensorflow_import():
        import tensorflow as tf
    if spec.get("grappler"):
        tf.config.optimizer.set_experimental_options(spec["grappler"])
    if spec.get("inter_op_threads"):  # TensorFlow runs independent ops side by side by default
        tf.config.threading.set_inter_op_parallelism_threads(spec["inter_op_threads"])
    if "fused_bn" in spec.get("patches", ()):
        from benchmarks import fused_bn

        fused_bn.patch()
    return tf


class Contender:
    """run(n) does n units of work (training steps, matmuls, batches) and returns when done."""

    unit = "images"
    work_per_step = 0

    def __init__(self, spec):
        self.spec = spec
        self.info = {}

    def run(self, n):
        raise NotImplementedError

    def warmup(self):
        start = time.perf_counter()
        self.run(1)  # traces, compiles
        self.info["first_step_s"] = round(time.perf_counter() - start, 3)
        self.run(1)
        steps = max(1, self.spec["warmup_steps"])
        step_s = self.timed(steps)[1] / steps
        self.steps = max(self.spec["min_steps"], int(round(self.spec["window_s"] / step_s)))
        self.info.update(steps_per_window=self.steps, calibration_step_s=round(step_s, 4),
                         work_per_step=self.work_per_step, unit=self.unit, rss_mb=rss_mb(),
                         peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
        return self.info

    def timed(self, n):
        start, cpu = time.perf_counter(), time.process_time()
        self.run(n)
        return n * self.work_per_step, time.perf_counter() - start, time.process_time() - cpu

    def turn(self, windows):
        self.run(self.spec["turn_warmup_steps"])
        out = []
        for _ in range(windows):
            work, seconds, cpu_seconds = self.timed(self.steps)
            # CPU seconds of every thread of the process: a second view, less sensitive to other
            # load than wall time, more to threads that spin while they wait.
            out.append({"work": work, "seconds": seconds, "rate": work / seconds,
                        "cpu_seconds": cpu_seconds})
        return out


class KerasFit(Contender):
    """Shared by tfreg and plain Keras: `fit` on one in-memory batch repeated, so the step is
    measured without an input pipeline (that one is measured alone). Each `fit` call makes a new
    iterator of the feed, so the feed runs with tf.data's autotuning off for both: with it on,
    dropping the iterator waits for the autotuner's next wake-up (benchmarks/iterator_stall.py)
    and every window ended at 2.55, 5.11, 10.23 ... s."""

    def run(self, n):
        if n:
            self.model.fit(self.feed, steps_per_epoch=n, epochs=1, verbose=0, shuffle=False)

    @functools.cached_property
    def feed(self):
        from tfreg.data.pipeline import without_autotune

        return without_autotune(self.ds)

    def tf_info(self, tf, keras):
        self.info.update(tensorflow=tf.__version__, keras=keras.__version__,
                         policy=keras.mixed_precision.global_policy().name,
                         jit_compile=bool(self.model.jit_compile),
                         devices=[d.name for d in tf.config.list_logical_devices()],
                         onednn=os.environ.get("TF_ENABLE_ONEDNN_OPTS"))


class Tfreg(KerasFit):
    def __init__(self, spec):
        super().__init__(spec)
        tf = import_tensorflow(spec)
        import keras

        from tfreg.flags import make_config
        from tfreg.data.prepare import prepare
        from tfreg.train import assemble, runtime

        batch, flags = spec["batch"], dict(spec.get("flags", {}))
        cfg = make_config(
            dataset="synthetic", synthetic_train_examples=max(4 * batch, 512),
            synthetic_test_examples=10, model=spec["model"], batch_size=batch,
            width_multiplier=spec["width_multiplier"], epochs=1000, verbose=0,
            mixed_precision="bfloat16" if spec["precision"] == "bfloat16" else "none",
            jit_compile=spec.get("jit_compile", False), **flags)
        runtime.setup_runtime(cfg)
        data = prepare(cfg)
        self.trainer, net = assemble.build(cfg, data, runtime.make_strategy(cfg.run),
                                           assemble.steps_per_epoch(cfg, data))
        self.model = self.trainer
        if spec.get("feed") == "pipeline":  # tfreg's own augmented tf.data pipeline
            self.ds = assemble.datasets(cfg, data, 0)[0].repeat()
            self.work_per_step = batch + cfg.augment.cutout_extra_per_batch
        else:
            x = tf.constant(data.x_train[:batch], tf.float32)
            y = tf.constant(data.y_train[:batch])
            self.ds = tf.data.Dataset.from_tensors((x, y)).repeat()
            self.work_per_step = batch
        from benchmarks.keras_resnet import multiply_adds

        self.info.update(params=assemble.count_params(net), multiply_adds=multiply_adds(net),
                         regularizers=assemble.active_regularizers(cfg))
        self.tf_info(tf, keras)


class Keras(KerasFit):
    def __init__(self, spec):
        super().__init__(spec)
        tf = import_tensorflow(spec)
        import keras

        from benchmarks import keras_resnet

        keras.mixed_precision.set_global_policy(
            "mixed_bfloat16" if spec["precision"] == "bfloat16" else "float32")
        keras.utils.set_random_seed(0)
        self.model = keras_resnet.resnet(spec["model"], width_multiplier=spec["width_multiplier"],
                                         mean=MEAN, variance=np.square(STD))
        self.model.compile(optimizer=keras.optimizers.SGD(0.1, momentum=0.9),
                           loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        x, y = synthetic_batch(spec["batch"])
        self.ds = tf.data.Dataset.from_tensors((x, y)).repeat()
        self.work_per_step = spec["batch"]
        self.info.update(params=keras_resnet.count_params(self.model),
                         multiply_adds=keras_resnet.multiply_adds(self.model))
        self.tf_info(tf, keras)


class Torch(Contender):
    def __init__(self, spec):
        super().__init__(spec)
        import torch

        from benchmarks import torch_resnet

        self.torch = torch
        if spec.get("torch_threads"):
            torch.set_num_threads(spec["torch_threads"])
        torch.manual_seed(0)
        self.device = "cuda" if spec["device"] == "gpu" else "cpu"
        net = torch_resnet.ResNet(spec["model"], width_multiplier=spec["width_multiplier"],
                                  mean=MEAN, std=STD).to(self.device)
        self.info.update(params=torch_resnet.count_params(net),
                         multiply_adds=torch_resnet.multiply_adds(net),
                         torch=torch.__version__, threads=torch.get_num_threads(),
                         compiled=bool(spec.get("compile")))
        x, y = synthetic_batch(spec["batch"])
        self.x = torch.from_numpy(x).permute(0, 3, 1, 2).contiguous().to(self.device)
        self.y = torch.from_numpy(y).to(self.device)
        if spec.get("channels_last"):
            net, self.x = net.to(memory_format=torch.channels_last), self.x.to(
                memory_format=torch.channels_last)
        self.optimizer = torch.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
        self.net = torch.compile(net) if spec.get("compile") else net
        self.net.train()
        self.bf16 = spec["precision"] == "bfloat16"
        self.work_per_step = spec["batch"]
        if self.device == "cuda":
            self.info["gpu"] = torch.cuda.get_device_name()

    def run(self, n):
        torch, loss = self.torch, None
        for _ in range(n):
            self.optimizer.zero_grad(set_to_none=True)
            with torch.autocast(self.device, dtype=torch.bfloat16, enabled=self.bf16):
                loss = torch.nn.functional.cross_entropy(self.net(self.x), self.y)
            loss.backward()
            self.optimizer.step()
        if loss is not None:
            loss.item()  # waits for the device


class TfMatmul(Contender):
    unit = "flop"

    def __init__(self, spec):
        super().__init__(spec)
        tf = import_tensorflow(spec)
        n = spec["matmul_size"]
        dtype = tf.bfloat16 if spec["precision"] == "bfloat16" else tf.float32
        self.a = tf.cast(tf.random.normal([n, n]), dtype)
        self.b = tf.cast(tf.random.normal([n, n]), dtype)
        self.matmul = tf.function(tf.linalg.matmul)
        self.work_per_step = 2 * n ** 3
        self.info.update(tensorflow=tf.__version__, size=n)

    def run(self, n):
        c = None
        for _ in range(n):
            c = self.matmul(self.a, self.b)
        if c is not None:
            c[0, 0].numpy()


class TorchMatmul(Contender):
    unit = "flop"

    def __init__(self, spec):
        super().__init__(spec)
        import torch

        self.torch = torch
        n = spec["matmul_size"]
        device = "cuda" if spec["device"] == "gpu" else "cpu"
        dtype = torch.bfloat16 if spec["precision"] == "bfloat16" else torch.float32
        self.a = torch.randn(n, n, device=device).to(dtype)
        self.b = torch.randn(n, n, device=device).to(dtype)
        self.work_per_step = 2 * n ** 3
        self.info.update(torch=torch.__version__, size=n, threads=torch.get_num_threads())

    def run(self, n):
        c = None
        for _ in range(n):
            c = self.torch.matmul(self.a, self.b)
        if c is not None:
            c[0, 0].item()


class NumpyMatmul(Contender):
    """numpy's BLAS: no framework to import, so the harness's own tests run in seconds."""

    unit = "flop"

    def __init__(self, spec):
        super().__init__(spec)
        n = spec["matmul_size"]
        self.a, self.b = np.ones((n, n), np.float32), np.ones((n, n), np.float32)
        self.work_per_step = 2 * n ** 3

    def run(self, n):
        for _ in range(n):
            self.a @ self.b


class Pipeline(Contender):
    """tfreg's full per-example augmentation chain, batches pulled from the iterator, no model."""

    def __init__(self, spec):
        super().__init__(spec)
        import_tensorflow(spec)
        from benchmarks.input_pipeline import FULL_CHAIN
        from tfreg.flags import make_config
        from tfreg.data import pipeline
        from tfreg.data.prepare import prepare

        batch = spec["batch"]
        cfg = make_config(dataset="synthetic", synthetic_train_examples=10000,
                          synthetic_test_examples=10, batch_size=batch, **FULL_CHAIN)
        data = prepare(cfg)
        self.it = iter(pipeline.train_dataset(data, cfg.augment, batch, 0, 0, 100000, 0))
        self.work_per_step = batch + cfg.augment.cutout_extra_per_batch
        self.info["augment_chain"] = [n for n, _ in pipeline.active_augmentations(cfg.augment)]

    def run(self, n):
        for _ in range(n):
            next(self.it)


KINDS = {"tfreg": Tfreg, "keras": Keras, "torch": Torch, "tf_matmul": TfMatmul,
         "torch_matmul": TorchMatmul, "numpy_matmul": NumpyMatmul, "pipeline": Pipeline}


def main(argv):
    spec = json.loads(argv[1])
    out = os.fdopen(os.dup(1), "w", buffering=1)
    os.dup2(2, 1)  # library prints go to stderr; stdout carries the protocol only

    def emit(event, **fields):
        out.write("@@bench " + json.dumps({"event": event, **fields}) + "\n")

    try:
        start = time.perf_counter()
        contender = KINDS[spec["kind"]](spec)
        contender.info["build_s"] = round(time.perf_counter() - start, 3)
        emit("built")
        for line in sys.stdin:
            cmd = json.loads(line)
            if cmd["op"] == "warmup":
                emit("ready", info=contender.warmup())
            elif cmd["op"] == "turn":
                emit("windows", windows=contender.turn(cmd["windows"]))
            else:
                break
    except Exception:  # noqa: BLE001 - reported to the driver, which records it and goes on
        emit("error", error=traceback.format_exc(limit=8))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
