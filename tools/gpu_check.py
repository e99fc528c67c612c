"""`make gpu-check`: the checks that need a GPU with TensorFlow and CUDA, in order of risk, one
summary line each (issue 26). It has not run on a GPU yet: this project's machines have none with
TensorFlow (docs/status.md). About 10 minutes on one modern GPU.

    python -m tools.gpu_check [--out=gpu-check.txt] [--allow_cpu] [--only=NAME,...]

Each check is a subprocess with a time limit; a line says PASS or FAIL, the seconds it took and
what it saw (the last line of a failure's output). --allow_cpu runs the same commands on a machine
without a GPU (for trying the script itself; the GPU-only checks are then skipped).
"""

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

from tfreg.regularizers import registry  # plain Python: no TensorFlow in this process

ROOT = pathlib.Path(__file__).resolve().parent.parent
QUICK = ["--dataset=fashion_mnist", "--model=resnet20", "--width_multiplier=0.5",
         "--train_examples=5000", "--epochs=2", "--batch_size=128", "--verbose=2"]
# every regularizer that acts in training (tfreg.regularizers.registry's "on" values, which add
# mix_prob and agc_stages), drop-path in batch mode (the conditional branch), per-example cutout
# (its extra copies per batch would turn it off) and mish
EVERY_REGULARIZER = [
    "--dataset=synthetic", "--model=resnet18", "--width_multiplier=0.25", "--epochs=1",
    "--steps_per_epoch=8", "--batch_size=64", "--activation=mish", "--verbose=2",
    *registry.as_argv({**registry.everything_on(sites=("data", "graph", "loss", "optimizer")),
                       "drop_path_mode": "batch", "cutout_extra_per_batch": 0})]
TINY = ["--dataset=synthetic", "--model=resnet8", "--epochs=2", "--steps_per_epoch=6",
        "--batch_size=64", "--verbose=2"]

# every op of a bfloat16 mish step (forward and gradient) on the GPU: with soft placement off, an
# op without a GPU kernel is an error instead of a silent copy to the CPU
MISH_ON_GPU = """
import tensorflow as tf
tf.config.set_soft_device_placement(False)
from tfreg.models.layers import Mish
layer = Mish(dtype="mixed_bfloat16")
@tf.function
def step(x):
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x)
    return y, tape.gradient(y, x)
with tf.device("/GPU:0"):
    y, g = step(tf.random.normal([64, 32, 32, 16], dtype=tf.bfloat16))
assert y.dtype == tf.bfloat16 and bool(tf.reduce_all(tf.math.is_finite(tf.cast(g, tf.float32))))
print("mish bf16 on GPU: ok")
"""


def checks(tmp):
    """(name, argv, needs a GPU, what the output must show) in order of risk."""
    run = [sys.executable, "-m", "tfreg.run"]
    return [
        ("quickstart_bf16_xla", run + QUICK + ["--mixed_precision=bfloat16", "--jit_compile",
                                               f"--run_dir={tmp}/q"], False, "status: completed"),
        ("quickstart_steps_per_execution_8", run + QUICK + [
            "--steps_per_execution=8", f"--run_dir={tmp}/spe"], False, "status: completed"),
        ("float16_every_regularizer", run + EVERY_REGULARIZER + ["--mixed_precision=float16",
                                                                 f"--run_dir={tmp}/f16"], False,
         "status: completed"),
        ("xla_mixup_cutmix_droppath_fused", run + TINY + [
            "--jit_compile", "--mixup_alpha=0.2", "--cutmix_alpha=1.0", "--drop_path_rate=0.5",
            "--drop_path_mode=batch", f"--run_dir={tmp}/xla"], False, "status: completed"),
        ("bfloat16_mish_on_gpu", [sys.executable, "-c", MISH_ON_GPU], True, "mish bf16 on GPU: ok"),
        ("mirrored_strategy", run + TINY + ["--strategy=mirrored", f"--run_dir={tmp}/mirrored"],
         True, "status: completed"),
        ("deterministic_twice_a", run + TINY + ["--deterministic", f"--run_dir={tmp}/det_a"], False,
         "status: completed"),
        ("deterministic_twice_b", run + TINY + ["--deterministic", f"--run_dir={tmp}/det_b"], False,
         "status: completed"),
        ("sweep_parallel_2_one_gpu", [sys.executable, "-m", "tfreg.sweep", "--seeds=0,1",
                                      "--parallel=2", f"--sweep_dir={tmp}/sweep", *TINY], True,
         "2 completed, 0 failed"),
        ("feed_benchmark", [sys.executable, "-m", "benchmarks.feed", "--rounds=3"], True,
         "steps_per_execution"),
        ("bench_gpu", [sys.executable, "-m", "benchmarks.bench", "--device=gpu",
                       "--models=resnet18", "--batch_sizes=128", "--rounds=2",
                       "--contenders=tfreg_none,keras,torch", f"--out={tmp}/bench.json"], True,
         "->"),
    ]


def _histories_equal(tmp):
    def rows(name):
        text = (pathlib.Path(tmp) / name / "history.csv").read_text().splitlines()
        return [",".join(line.split(",")[:-1]) for line in text]  # all columns but epoch_time_s
    return rows("det_a") == rows("det_b")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default="gpu-check.txt")
    p.add_argument("--allow_cpu", action="store_true")
    p.add_argument("--only", default="")
    p.add_argument("--timeout_s", type=int, default=240, help="per check")
    args = p.parse_args(argv)
    gpus = subprocess.run([sys.executable, "-c", "import tensorflow as tf; "
                           "print(len(tf.config.list_physical_devices('GPU')))"],
                          capture_output=True, text=True).stdout.strip()
    if gpus in ("", "0") and not args.allow_cpu:
        print("gpu-check: TensorFlow sees no GPU here; run it where it does (or --allow_cpu)")
        return 2
    lines = [f"gpu-check: {gpus or 0} GPU(s) visible to TensorFlow"]
    only = set(filter(None, args.only.split(",")))
    with tempfile.TemporaryDirectory() as tmp:
        for name, argv_, needs_gpu, expect in checks(tmp):
            if only and name not in only:
                continue
            if needs_gpu and gpus in ("", "0"):
                lines.append(f"SKIP {name}: needs a GPU")
                print(lines[-1], flush=True)
                continue
            start = time.perf_counter()
            try:
                proc = subprocess.run(argv_, cwd=ROOT, capture_output=True, text=True,
                                      timeout=args.timeout_s, env=dict(os.environ, PYTHONPATH=str(ROOT)))
                out, code = proc.stdout + proc.stderr, proc.returncode
            except subprocess.TimeoutExpired:
                out, code = f"timed out after {args.timeout_s} s (a hang?)", -1
            seconds = time.perf_counter() - start
            ok = code == 0 and expect in out
            if ok and name == "deterministic_twice_b":
                ok = _histories_equal(tmp)
                out += "\nhistories equal" if ok else "\nhistories differ between the two runs"
            last = [line for line in out.splitlines() if line.strip()][-1:] or ["no output"]
            lines.append(f"{'PASS' if ok else 'FAIL'} {name} {seconds:.0f} s: {last[0][:200]}")
            print(lines[-1], flush=True)
    pathlib.Path(args.out).write_text("\n".join(lines) + "\n")
    print(json.dumps({"written": args.out}))
    return 0 if all(not line.startswith("FAIL") for line in lines) else 1


if __name__ == "__main__":
    sys.exit(main())
