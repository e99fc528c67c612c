"""Where the time of tfreg's bfloat16 training step goes, and what TensorFlow's levers give.

    python -m benchmarks.profile_bf16 trace  [--precision bfloat16] [--steps 5]   # TF profiler
    python -m benchmarks.profile_bf16 onednn [--framework tfreg|torch]            # oneDNN kernels
    python -m benchmarks.profile_bf16 levers [--rounds 3]                         # images/s per lever

trace: tf.profiler.experimental start/stop around --steps steps of tfreg's step (after warm-up);
the XSpace it writes is summed per op type and per op class (convolutions forward / backward,
batch norm, casts, layout, element-wise, optimizer), in ms per step.
onednn: the step runs with ONEDNN_VERBOSE=1; every oneDNN primitive executed after warm-up is summed
by kind, implementation and data type, so float32 kernels inside a bfloat16 step, reorders (layout
or type conversions) and reference (slow) kernels show up. The same for PyTorch autocast.
levers: tfreg's step under each lever (environment variables, grappler rewrites, XLA), interleaved
with bench.py's runner against PyTorch autocast.
"""

import argparse
import collections
import glob
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.bench import REPO, run_group

# name: spec changes. The grappler rewrite is the documented way to run float32 models in bfloat16
# on oneDNN; ONEDNN_DEFAULT_FPMATH_MODE=BF16 lets float32 convolutions and matmuls compute in
# bfloat16 inside oneDNN (inputs and outputs stay float32).
LEVERS = {
    "tfreg_bf16": dict(kind="tfreg", precision="bfloat16"),
    "tfreg_bf16_fpmath_bf16": dict(kind="tfreg", precision="bfloat16",
                                   env={"ONEDNN_DEFAULT_FPMATH_MODE": "BF16"}),
    "tfreg_fp32_fpmath_bf16": dict(kind="tfreg", precision="float32",
                                   env={"ONEDNN_DEFAULT_FPMATH_MODE": "BF16"}),
    "tfreg_fp32_amp_onednn": dict(kind="tfreg", precision="float32",
                                  grappler={"auto_mixed_precision_onednn_bfloat16": True}),
    "tfreg_bf16_xla": dict(kind="tfreg", precision="bfloat16", jit_compile=True),
    # Keras 3's batch norm is unfused on TensorFlow: --batch_norm_kernel=fused (tfreg's
    # FusedBatchNormalization) calls TensorFlow's fused kernel, as benchmarks/fused_bn.py's patch
    # of Keras's layer does.
    "tfreg_bf16_fused_bn": dict(kind="tfreg", precision="bfloat16",
                                flags={"batch_norm_kernel": "fused"}),
    "tfreg_fp32_fused_bn": dict(kind="tfreg", precision="float32",
                                flags={"batch_norm_kernel": "fused"}),
    # the rewrite on a float32 model whose batch norm is the fused op, which it can run in bfloat16
    "tfreg_fp32_fused_bn_amp_onednn": dict(
        kind="tfreg", precision="float32", flags={"batch_norm_kernel": "fused"},
        grappler={"auto_mixed_precision_onednn_bfloat16": True}),
    "tfreg_bf16_inter_op_1": dict(kind="tfreg", precision="bfloat16", inter_op_threads=1),
    "tfreg_fp32": dict(kind="tfreg", precision="float32"),
    "torch_autocast": dict(kind="torch", precision="bfloat16"),
}

OP_CLASSES = [  # first match of the op type wins
    ("conv backward", r"Conv2DBackprop|DepthwiseConv2dNativeBackprop"),
    ("conv forward", r"Conv2D|DepthwiseConv2dNative|_FusedConv"),
    ("matmul", r"MatMul|BatchMatMul|Einsum"),
    ("batch norm", r"FusedBatchNorm"),
    ("cast", r"^(_Mkl)?Cast$"),
    ("layout/transpose", r"Transpose|Reorder|ToTf|Reshape|Pad|Slice|Concat|Tile"),
    ("reduction", r"Sum|Mean|Max|Min|Prod|ArgMax|Norm"),
    ("optimizer / variables", r"ResourceApply|AssignVariable|ReadVariable|AssignAdd|AssignSub"),
    ("element-wise", r"Relu|Add|Sub|Mul|Div|Sqrt|Rsqrt|Exp|Log|Select|Square|Neg|Maximum|Minimum|"
                     r"Equal|Less|Greater|Softmax|Sigmoid|Tanh|BiasAdd|FloorMod|Pow"),
]


LAYER_CLASSES = [("batch norm", r"_norm\d*(_\d+)?/|batch_normalization"),
                 ("activation", r"_act\d*(_\d+)?/|_out(_\d+)?/|relu"),
                 ("optimizer / variables", r"(^|/)(sgd|adam|adamw|rmsprop|lamb)(_\d+)?/"),
                 ("loss / metrics", r"(^|/)(loss|mean|l2loss|global_norm|softmax)")]


def op_class(op_name, op_type):
    """A class from the op type (convolutions, casts), else from the layer it belongs to (Keras 3
    batch norm on TensorFlow is a chain of element-wise ops, not one fused kernel)."""
    op_type = op_type.removeprefix("_MklNative").removeprefix("_Mkl")
    direction = "backward" if "gradient_tape" in op_name else "forward"
    for name, pattern in OP_CLASSES[:2] + OP_CLASSES[4:5]:  # conv backward/forward, cast
        if re.search(pattern, op_type):
            return name if name.startswith("conv") else f"{name} {direction}"
    for name, pattern in LAYER_CLASSES:
        if re.search(pattern, op_name.lower()):
            return f"{name} {direction}"
    for name, pattern in OP_CLASSES:
        if re.search(pattern, op_type):
            return f"{name} {direction}"
    return f"other {direction}"


def spec_for(args, **changes):
    spec = dict(kind="tfreg", name="profile", model=args.model, batch=args.batch,
                precision=args.precision, width_multiplier=args.width_multiplier, device="cpu",
                window_s=args.window_s, min_steps=2, warmup_steps=2, turn_warmup_steps=1,
                feed="tensors", flags={}, matmul_size=0)
    spec.update(changes)
    return spec


# ---- trace ----------------------------------------------------------------------------------------

def summarize_xspace(path, steps):
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    space = xplane_pb2.XSpace()
    space.ParseFromString(Path(path).read_bytes())
    by_type, by_class, by_name = collections.Counter(), collections.Counter(), collections.Counter()
    counts = collections.Counter()
    step_ps = 0
    for plane in space.planes:
        if not plane.name.startswith("/host:CPU"):
            continue
        for line in plane.lines:
            for ev in line.events:
                name = plane.event_metadata[ev.metadata_id].name
                if line.name == "python" and name == "multi_step_on_iterator":
                    step_ps += ev.duration_ps
                if (not line.name.startswith("tf_Compute") or ":" not in name
                        or "::" in name):  # ExecutorState::Process, ThreadpoolListener::...
                    continue
                op_name, op_type = name.rsplit(":", 1)
                ms = ev.duration_ps / 1e9 / steps
                by_type[op_type] += ms
                by_class[op_class(op_name, op_type)] += ms
                by_name[op_name] += ms
                counts[op_type] += 1
    return {"step_ms": step_ps / 1e9 / steps, "op_ms_per_step": sum(by_type.values()),
            "by_class_ms": dict(by_class.most_common()),
            "by_type_ms": dict(by_type.most_common(25)),
            "ops_per_step": {k: v / steps for k, v in counts.most_common(25)},
            "slowest_ops_ms": dict(by_name.most_common(15))}


def trace(args):
    from benchmarks import workers

    spec = spec_for(args, env=dict(a.split("=", 1) for a in args.env),
                    jit_compile=args.jit_compile, patches=args.patch,
                    grappler={g: True for g in args.grappler})
    os.environ.update(spec["env"])
    contender = workers.Tfreg(spec)
    contender.run(args.warmup)
    import tensorflow as tf

    logdir = tempfile.mkdtemp(prefix="tfreg-profile-")
    start = time.perf_counter()
    tf.profiler.experimental.start(logdir)
    contender.run(args.steps)
    tf.profiler.experimental.stop()
    wall = time.perf_counter() - start
    [path] = glob.glob(f"{logdir}/plugins/profile/*/*.xplane.pb")[-1:]
    out = {"spec": spec, "logdir": logdir, "wall_ms_per_step_profiled": 1000 * wall / args.steps,
           **summarize_xspace(path, args.steps)}
    return out


# ---- oneDNN verbose -------------------------------------------------------------------------------

DTYPE = re.compile(r"\b(src|wei|dst)[_:]([a-z0-9]+)")


def parse_onednn(lines, since_ms):
    """Sums `exec` lines stamped after since_ms by (kind, propagation, implementation, dtypes)."""
    table = collections.defaultdict(lambda: [0, 0.0])
    for line in lines:
        if not line.startswith("onednn_verbose,") or ",exec," not in line:
            continue
        f = line.strip().split(",")
        i = f.index("exec")
        stamps = [float(v) for v in f[1:i] if re.fullmatch(r"\d{12,}(\.\d*)?", v)]
        if stamps and stamps[0] < since_ms:
            continue
        kind, impl, prop, mds = f[i + 2], f[i + 3], f[i + 4], f[i + 5]
        types = " ".join(sorted({f"{a}:{t}" for a, t in DTYPE.findall(mds)}))
        entry = table[(kind, prop, impl, types)]
        entry[0] += 1
        entry[1] += float(f[-1])
    return sorted(({"kind": k[0], "prop": k[1], "impl": k[2], "types": k[3], "calls": v[0],
                    "ms": v[1]} for k, v in table.items()), key=lambda r: -r["ms"])


def onednn_child(spec_json, steps):
    """Runs inside the ONEDNN_VERBOSE=1 process: warm up, stamp, run `steps` steps."""
    from benchmarks import workers

    spec = json.loads(spec_json)
    contender = workers.KINDS[spec["kind"]](spec)
    contender.run(3)
    print(f"@@since {time.time() * 1000:.3f}", file=sys.stderr, flush=True)
    contender.run(steps)
    return 0


def onednn(args):
    kind = "torch" if args.framework == "torch" else "tfreg"
    spec = spec_for(args, kind=kind, patches=args.patch)
    env = {**os.environ, "ONEDNN_VERBOSE": "1", "ONEDNN_VERBOSE_TIMESTAMP": "1",
           "TF_ENABLE_ONEDNN_OPTS": "1", "PYTHONPATH": str(REPO)}
    env.update(dict(a.split("=", 1) for a in args.env))
    proc = subprocess.run([sys.executable, "-m", "benchmarks.profile_bf16", "_onednn_child",
                           json.dumps(spec), str(args.steps)], cwd=REPO, env=env,
                          capture_output=True, text=True)
    since = [float(line.split()[1]) for line in proc.stderr.splitlines() if line.startswith("@@since")]
    if proc.returncode or not since:
        raise SystemExit(f"profile_bf16: error: child failed: {proc.stderr[-2000:]}")
    rows = parse_onednn(proc.stdout.splitlines(), since[0])
    for r in rows:
        r["ms_per_step"] = r.pop("ms") / args.steps
        r["calls_per_step"] = r.pop("calls") / args.steps
    total = sum(r["ms_per_step"] for r in rows)
    by_kind = collections.Counter()
    for r in rows:
        by_kind[f"{r['kind']} {r['prop']}"] += r["ms_per_step"]
    return {"spec": spec, "onednn_ms_per_step": total, "by_kind_ms": dict(by_kind.most_common()),
            "primitives": rows[:40]}


# ---- levers ---------------------------------------------------------------------------------------

def levers(args):
    names = args.levers.split(",")
    specs = []
    for i, name in enumerate(names):
        spec = spec_for(args, **LEVERS[name], name=name, id=f"lever-{i}-{name}")
        spec.setdefault("env", {})
        specs.append(spec)
    log_dir = tempfile.mkdtemp(prefix="tfreg-levers-")
    entries = run_group("levers", specs, args.rounds, 1, log_dir)
    out = []
    for e in entries:
        rates = sorted(w["rate"] for w in e["windows"])
        cpu = sorted(1000 * w["cpu_seconds"] / w["work"] for w in e["windows"] if "cpu_seconds" in w)
        out.append({"lever": e["spec"]["name"], "error": e["error"], "rates": rates,
                    "median": statistics.median(rates) if rates else None,
                    "cpu_ms_per_image": statistics.median(cpu) if cpu else None})
    base = next((o["median"] for o in out if o["lever"] == names[0] and o["median"]), None)
    for o in out:
        o["over_first"] = o["median"] / base if base and o["median"] else None
    return {"model": args.model, "batch": args.batch, "levers": out, "log_dir": log_dir}


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "_onednn_child":
        return onednn_child(argv[1], int(argv[2]))
    p = argparse.ArgumentParser(prog="python -m benchmarks.profile_bf16", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", choices=("trace", "onednn", "levers"))
    p.add_argument("--model", default="resnet18")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--precision", default="bfloat16", choices=("float32", "bfloat16"))
    p.add_argument("--width_multiplier", type=float, default=1.0)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--framework", default="tfreg", choices=("tfreg", "torch"))
    p.add_argument("--env", action="append", default=[], help="NAME=VALUE for the profiled step")
    p.add_argument("--grappler", action="append", default=[], help="grappler option to turn on")
    p.add_argument("--jit_compile", action="store_true")
    p.add_argument("--patch", action="append", default=[], choices=["fused_bn"],
                   help="benchmarks/fused_bn.py: TensorFlow's fused batch norm in Keras's layer")
    p.add_argument("--levers", default=",".join(LEVERS))
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--window_s", type=float, default=8.0)
    p.add_argument("--out", default="", help="also write the JSON here")
    args = p.parse_args(argv)
    result = {"trace": trace, "onednn": onednn, "levers": levers}[args.mode](args)
    text = json.dumps(result, indent=1)
    if args.out:
        Path(args.out).write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
