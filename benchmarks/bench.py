"""`make bench`: tfreg against plain Keras and PyTorch in one invocation, results as JSON per machine.

    python -m benchmarks.bench                      # throughput suite, CPU (about an hour on 2 cores)
    python -m benchmarks.bench --suite=tta          # time to 92%/93% on Fashion-MNIST (minutes)
    python -m benchmarks.bench --device=gpu         # the same on a GPU: bfloat16, XLA, torch.compile
    python -m benchmarks.table                      # benchmarks/README.md's tables from the JSON

Throughput suite (issue 12): images/s of the training step for each model x batch x precision x
contender. Contenders: tfreg with no regularizer (`tfreg_none`), with everything on (`tfreg_all`,
the step-side flags of tests/test_run.py's test_every_regularizer_at_once), with stochastic depth
in batch mode at rate 0.5 (`tfreg_droppath`, float32), a plain Keras `fit` of the same architecture
(`keras`, benchmarks/keras_resnet.py) and PyTorch eager (`torch`, benchmarks/torch_resnet.py;
`torch_compile` on GPUs). Every contender runs in its own process (benchmarks/workers.py) and is fed
one in-memory batch, so the step is measured apart from the input pipeline, which is measured alone.

Fairness: the contenders of one model x batch x precision live side by side (in waves beside the
first when memory is short); they warm up one after another (trace, warm-up steps, steps per
window fixed from them), then take turns in `--rounds` rounds, the order rotating each round, each
turn an untimed step and `--windows_per_turn` timed windows of about `--window_s` seconds. Ratios are of medians over all windows, and per round
(paired) with their spread. The machine's matrix-multiply rate (TensorFlow and PyTorch, float32
and bfloat16) and the augmentation pipeline alone are measured in the same invocation, first.
"""

import argparse
import datetime
import importlib.util
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tfreg import hardware  # no TensorFlow import
from tfreg.regularizers import registry  # nor this

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"

# Every regularizer that acts in training (tfreg.regularizers.registry.everything_on, which
# tests/test_run.py's test_every_regularizer_at_once runs too) plus zero-init residual and warm-up;
# the augmentation flags act in the input pipeline only, so they matter with --feed=pipeline. Since
# issue 26 that includes mixup and CutMix (they mix in tf.data), so tfreg_mix and tfreg_all's
# mixing cost nothing with --feed=tensors. Left out: RandAugment, AugMix and weight
# standardization, which came after the tfreg_all numbers of benchmarks/README.md were measured;
# a regularizer added later joins tfreg_all.
EVERYTHING_ON = {
    **registry.everything_on(sites=("data", "graph", "loss", "optimizer"),
                             leave_out=("randaugment", "augmix", "weight_standardization")),
    "zero_init_residual": True, "warmup_epochs": 1}

CONTENDERS = {
    "tfreg_none": dict(kind="tfreg", flags={}),
    "tfreg_all": dict(kind="tfreg", flags=EVERYTHING_ON),
    # Huang et al. 2016: p_l = l/L * 0.5 (--drop_path_rule=auto picks the paper's rule in batch
    # mode), reported to save about 25% of training time.
    "tfreg_droppath": dict(kind="tfreg", flags=dict(drop_path_rate=0.5, drop_path_mode="batch"),
                           precisions=("float32",)),
    # batch norm on TensorFlow's fused kernel: tfreg's default since issue 27, so the same as
    # tfreg_none now (kept so that older result files keep their meaning)
    "tfreg_fused_bn": dict(kind="tfreg", flags=dict(batch_norm_kernel="fused")),
    # the default before issue 27: Keras 3's own batch-norm layer
    "tfreg_keras_bn": dict(kind="tfreg", flags=dict(batch_norm_kernel="keras")),
    "keras": dict(kind="keras"),
    "torch": dict(kind="torch"),
    "torch_compile": dict(kind="torch", compile=True),
}
# tfreg_all's step-side regularizers one group at a time (`--contenders=tfreg_none,tfreg_all,` and
# these): what each costs against tfreg_none. zero_init_residual changes no step and is left out.
REGULARIZER_GROUPS = {
    "tfreg_mix": ("mixup_alpha", "cutmix_alpha", "mix_lambda", "mix_prob"),
    "tfreg_dropout": ("dropout_rates", "block_dropout_rates", "head_dropout_rate"),
    "tfreg_drop_path_sample": ("drop_path_rate", "drop_path_mode"),
    "tfreg_agc": ("agc_clip", "agc_stages"),
    "tfreg_loss_decay": ("label_smoothing", "label_smoothing_style", "weight_decay",
                         "weight_decay_mode", "weight_decay_exclude", "warmup_epochs"),
}
CONTENDERS.update({name: dict(kind="tfreg", flags={k: EVERYTHING_ON[k] for k in keys},
                              precisions=("float32",))
                   for name, keys in REGULARIZER_GROUPS.items()})
DEFAULT_CONTENDERS = {
    "cpu": "tfreg_none,tfreg_keras_bn,tfreg_all,tfreg_droppath,keras,torch",
    "gpu": "tfreg_none,tfreg_keras_bn,tfreg_all,keras,torch,torch_compile",
}
# (numerator, denominator) compared within one model x batch x precision.
RATIOS = [("tfreg_none", "torch"), ("tfreg_fused_bn", "torch"), ("tfreg_fused_bn", "tfreg_none"),
          ("tfreg_keras_bn", "torch"), ("tfreg_none", "tfreg_keras_bn"),
          ("tfreg_none", "keras"), ("keras", "torch"),
          ("tfreg_none", "torch_compile"), ("tfreg_all", "tfreg_none"),
          ("tfreg_droppath", "tfreg_none"), *((name, "tfreg_none") for name in REGULARIZER_GROUPS)]
# Dense bfloat16 tensor-core peaks (TFLOP/s, no sparsity) from NVIDIA's data sheets, first match wins.
GPU_BF16_PEAK_TFLOPS = [
    (r"H100.*PCIe", 756), (r"H100 NVL", 835), (r"GH200|H200|H100", 989), (r"B200", 2250),
    (r"A100", 312), (r"L40S", 362), (r"\bL4\b", 121), (r"\bA10\b", 125),
]
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m benchmarks.bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--suite", choices=("throughput", "tta", "all"), default="throughput")
    p.add_argument("--device", choices=("cpu", "gpu"), default="cpu")
    p.add_argument("--models", default="resnet18,resnet50")
    p.add_argument("--batch_sizes", default="64,128")
    p.add_argument("--precisions", default="auto",
                   help="auto: float32, plus bfloat16 where the CPU has AVX512-BF16 or AMX; "
                        "bfloat16 only on GPUs")
    p.add_argument("--contenders", default="", help=f"comma list of {', '.join(CONTENDERS)}")
    p.add_argument("--width_multiplier", type=float, default=1.0)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--windows_per_turn", type=int, default=1)
    p.add_argument("--window_s", type=float, default=8.0, help="target length of a timed window")
    p.add_argument("--min_steps", type=int, default=2, help="fewest steps in a window")
    p.add_argument("--warmup_steps", type=int, default=3, help="after the traced first step")
    p.add_argument("--turn_warmup_steps", type=int, default=1, help="untimed, before each turn")
    p.add_argument("--max_per_wave", type=int, default=0,
                   help="contenders alive beside a group's first; 0: as many as memory allows")
    p.add_argument("--matmul_size", type=int, default=0, help="0: 2048 on CPU, 8192 on GPU")
    p.add_argument("--pipeline_batch_sizes", default="",
                   help="empty: --batch_sizes; 0: leave the input pipeline out")
    p.add_argument("--feed", choices=("tensors", "pipeline"), default="tensors",
                   help="tfreg contenders: one in-memory batch, or tfreg's augmented pipeline")
    p.add_argument("--torch_threads", type=int, default=0, help="0: PyTorch's default")
    p.add_argument("--tta_epochs", type=int, default=15,
                   help="epochs of the time-to-accuracy runs (cosine over them); each run stops "
                        "once it reached the last target")
    p.add_argument("--tta_repeats", type=int, default=1, help="tfreg/Keras pairs, ABBA order")
    p.add_argument("--tta_targets", default="0.92,0.93")
    p.add_argument("--out", default="", help="JSON file; default benchmarks/results/<machine>.json")
    p.add_argument("--note", default="", help="stored with the results, e.g. 'quiet machine'")
    p.add_argument("--log_dir", default="", help="worker logs; default a temporary folder")
    args = p.parse_args(argv)
    for name in ("rounds", "windows_per_turn", "min_steps", "tta_repeats"):
        if getattr(args, name) < 1:
            p.error(f"--{name} must be >= 1, got {getattr(args, name)}")
    args.contenders = args.contenders or DEFAULT_CONTENDERS[args.device]
    unknown = [c for c in csv(args.contenders) if c not in CONTENDERS]
    if unknown:
        p.error(f"unknown contenders {unknown}; choose from {list(CONTENDERS)}")
    args.matmul_size = args.matmul_size or (8192 if args.device == "gpu" else 2048)
    return args


def csv(text, cast=str):
    return [cast(v) for v in text.split(",") if v.strip()]


def gpu_name():
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout.strip() else None


def gpu_peak_tflops(name):
    for pattern, peak in GPU_BF16_PEAK_TFLOPS:
        if name and re.search(pattern, name):
            return peak
    return None


def slug(text):
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def describe_machine(device):
    cpu = hardware.cpu_info()
    machine = {"cpu": cpu, "device": device, "slug": slug(cpu["model"])}
    if device == "gpu":
        name = gpu_name()
        if name is None:
            print("bench: error: --device=gpu but nvidia-smi finds no GPU; run on a GPU machine "
                  "or drop --device=gpu", file=sys.stderr)
            raise SystemExit(2)
        machine.update(gpu=name, gpu_bf16_peak_tflops=gpu_peak_tflops(name), slug=slug(name))
    return machine


def resolve_precisions(args, machine):
    if args.precisions != "auto":
        return csv(args.precisions)
    if args.device == "gpu":
        return ["bfloat16"]
    bf16 = any(f in machine["cpu"]["flags"] for f in BF16_CPU_FLAGS)
    return ["float32", "bfloat16"] if bf16 else ["float32"]


# ---- workers ------------------------------------------------------------------------------------

class WorkerError(Exception):
    pass


class Worker:
    """One contender's process; call() sends a command and returns its @@bench answer."""

    def __init__(self, spec, log_dir):
        self.spec = spec
        self.log_path = Path(log_dir) / f"{spec['id']}.log"
        env = {**os.environ, **spec.get("env", {})}
        env.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")  # tfreg sets it too; the same for plain Keras
        if spec.get("device") == "gpu":  # TensorFlow takes every GPU byte unless told otherwise
            env.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")
        env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
        with open(self.log_path, "w") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "benchmarks.workers", json.dumps(spec)], cwd=REPO, env=env,
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True)

    def call(self, op=None, **fields):
        if op:
            try:
                self.proc.stdin.write(json.dumps({"op": op, **fields}) + "\n")
                self.proc.stdin.flush()
            except OSError as e:
                raise WorkerError(f"worker gone ({e}); log {self.log_path}") from None
        for line in self.proc.stdout:
            if line.startswith("@@bench "):
                answer = json.loads(line[len("@@bench "):])
                if answer["event"] == "error":
                    raise WorkerError(answer["error"].strip().splitlines()[-1])
                return answer
        self.proc.wait()
        raise WorkerError(f"worker exited with code {self.proc.returncode}: {self.log_tail()}")

    def log_tail(self, lines=3):
        try:
            return " | ".join(self.log_path.read_text().strip().splitlines()[-lines:])
        except OSError:
            return ""

    def close(self):
        if self.proc.poll() is None:
            try:
                self.call("quit")
            except WorkerError:
                pass
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def say(text):
    print(f"[bench {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def mem_available_mb():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) // 1024
    return 1 << 20


def run_group(label, specs, rounds, windows_per_turn, log_dir, max_per_wave=0):
    """Runs one group's contenders in alternating rounds; returns one entry per spec.

    The first contender (the anchor) starts and warms up alone; its resident memory after warm-up
    says how many more fit in the memory left (TensorFlow keeps its peak), and the others follow in
    waves of that many, each wave started together (imports and builds overlap), warmed up one at a
    time, then taking turns with the anchor for `rounds` rounds whose order rotates. Round numbers
    run on across waves, so every contender is paired with the anchor round by round.
    """
    entries = [{"spec": s, "info": {}, "windows": [], "error": None} for s in specs]
    workers = {}

    def attempt(i, op=None, **fields):
        if entries[i]["error"]:
            return None
        try:
            return workers[i].call(op, **fields)
        except WorkerError as e:
            entries[i]["error"] = str(e)
            say(f"{label}: {entries[i]['spec']['name']} failed: {e}")
            workers[i].close()
            return None

    def start(indices):
        for i in indices:
            workers[i] = Worker(entries[i]["spec"], log_dir)
        for i in indices:
            attempt(i)  # built
        for i in indices:  # one at a time: warm-up timings fix the windows
            ready = attempt(i, "warmup")
            if ready:
                entries[i]["info"].update(ready["info"])

    def play(indices, first_round):
        for r in range(first_round, first_round + rounds):
            for position, k in enumerate(range(len(indices))):
                i = indices[(r + k) % len(indices)]
                answer = attempt(i, "turn", windows=windows_per_turn)
                if not answer:
                    continue
                for w in answer["windows"]:
                    entries[i]["windows"].append({"round": r, "position": position, **w})
                rates = ", ".join(f"{w['rate']:.4g}" for w in answer["windows"])
                say(f"{label} round {r + 1}: {entries[i]['spec']['name']} {rates} "
                    f"{entries[i]['info'].get('unit', '')}/s")

    try:
        start([0])
        per_worker_mb = max(entries[0]["info"].get("peak_rss_mb", 0), 2048)
        rest, first_round = list(range(1, len(entries))), 0
        if not rest:
            play([0], 0)
        while rest:
            fit = max(1, int(mem_available_mb() / (1.25 * per_worker_mb)))
            fit = min(fit, max_per_wave or fit)
            wave, rest = rest[:fit], rest[fit:]
            if rest:
                say(f"{label}: {len(wave)} contenders beside the anchor fit in memory "
                    f"({mem_available_mb()} MB available, about {per_worker_mb} MB each)")
            start(wave)
            play([0, *wave], first_round)
            for i in wave:
                workers[i].close()
            first_round += rounds
    finally:
        for w in workers.values():
            w.close()
    return entries


# ---- statistics ---------------------------------------------------------------------------------

def spread(values):
    values = sorted(values)
    if not values:
        return None
    q1, _, q3 = (statistics.quantiles(values, n=4, method="inclusive") if len(values) > 1
                 else values * 3)
    return {"median": statistics.median(values), "min": values[0], "max": values[-1],
            "q1": q1, "q3": q3, "n": len(values)}


def round_medians(entry):
    by_round = {}
    for w in entry["windows"]:
        by_round.setdefault(w["round"], []).append(w["rate"])
    return {r: statistics.median(v) for r, v in by_round.items()}


def ratio(a, b):
    """Ratio of medians, and the spread of the per-round (paired) ratios."""
    per_round = [ra / rb for r, ra in round_medians(a).items()
                 if (rb := round_medians(b).get(r))]
    cpu_a, cpu_b = a.get("cpu_seconds_per_unit"), b.get("cpu_seconds_per_unit")
    return {"ratio_of_medians": a["summary"]["median"] / b["summary"]["median"],
            "paired": spread(per_round),
            # CPU seconds per image of a over b's (>1: a does more work per image)
            "cpu_seconds_ratio": cpu_a / cpu_b if cpu_a and cpu_b else None}


def analyse(entries, machine):
    """Adds summaries, effective GFLOP/s, fractions of the peaks, and the ratios."""
    for e in entries:
        e["summary"] = spread([w["rate"] for w in e["windows"]])
        cpu = [w["cpu_seconds"] / w["work"] for w in e["windows"] if "cpu_seconds" in w]
        e["cpu_seconds_per_unit"] = statistics.median(cpu) if cpu else None
    done = [e for e in entries if e["summary"]]
    peaks = {}
    for e in done:
        if e["spec"]["kind"] in ("tf_matmul", "torch_matmul"):
            p, gflops = e["spec"]["precision"], e["summary"]["median"] / 1e9
            peaks.setdefault(p, {})[e["spec"]["kind"]] = gflops
    machine_peak = {p: max(v.values()) for p, v in peaks.items()}
    gpu_peak = machine.get("gpu_bf16_peak_tflops")
    steps = [e for e in done if e["spec"]["kind"] in ("tfreg", "keras", "torch")]
    for e in steps:
        macs = e["info"].get("multiply_adds")
        if not macs:
            continue
        e["gflops"] = macs * 2 * 3 * e["summary"]["median"] / 1e9  # forward + backward
        peak = machine_peak.get(e["spec"]["precision"])
        e["fraction_of_matmul_peak"] = e["gflops"] / peak if peak else None
        if gpu_peak and e["spec"]["precision"] == "bfloat16":
            e["fraction_of_gpu_bf16_peak"] = e["gflops"] / (gpu_peak * 1000)

    groups = {}
    for e in steps:
        s = e["spec"]
        groups.setdefault((s["model"], s["batch"], s["precision"]), {})[s["name"]] = e
    ratios = []
    for (model, batch, precision), named in groups.items():
        for a, b in RATIOS:
            if a in named and b in named:
                ratios.append({"model": model, "batch": batch, "precision": precision,
                               "numerator": a, "denominator": b, **ratio(named[a], named[b])})
    speedups = []  # bfloat16 over float32: different groups, so not interleaved
    for (model, batch, precision), named in groups.items():
        if precision != "bfloat16":
            continue
        for name, e in named.items():
            base = groups.get((model, batch, "float32"), {}).get(name)
            if base:
                speedups.append({"model": model, "batch": batch, "contender": name,
                                 "bfloat16_over_float32": e["summary"]["median"] / base["summary"]["median"]})
    pipeline = []
    for p in (e for e in done if e["spec"]["kind"] == "pipeline"):
        for e in steps:
            if e["spec"]["kind"] == "tfreg" and e["spec"]["batch"] == p["spec"]["batch"]:
                pipeline.append({"batch": p["spec"]["batch"], "model": e["spec"]["model"],
                                 "precision": e["spec"]["precision"], "contender": e["spec"]["name"],
                                 "pipeline_over_step": p["summary"]["median"] / e["summary"]["median"]})
    params = {}
    for e in steps:
        params.setdefault(e["spec"]["model"], {})[e["spec"]["name"]] = e["info"].get("params")
    checks = {m: {"params": v, "same": len(set(v.values())) == 1} for m, v in params.items()}
    return {"matmul_gflops": peaks, "machine_matmul_gflops": machine_peak, "ratios": ratios,
            "bfloat16_speedups": speedups, "pipeline_ratios": pipeline, "param_checks": checks}


# ---- suites -------------------------------------------------------------------------------------

def throughput(args, machine, log_dir):
    precisions = resolve_precisions(args, machine)
    has_torch = importlib.util.find_spec("torch") is not None
    common = dict(device=args.device, window_s=args.window_s, min_steps=args.min_steps,
                  warmup_steps=args.warmup_steps, turn_warmup_steps=args.turn_warmup_steps,
                  width_multiplier=args.width_multiplier, matmul_size=args.matmul_size,
                  feed=args.feed, torch_threads=args.torch_threads)
    skipped = []
    groups = []
    machine_specs = []
    torch_wanted = has_torch and any(CONTENDERS[c]["kind"] == "torch" for c in csv(args.contenders))
    for p in precisions:
        machine_specs.append(dict(common, kind="tf_matmul", name="tf_matmul", precision=p))
        if torch_wanted:
            machine_specs.append(dict(common, kind="torch_matmul", name="torch_matmul", precision=p))
    for b in [b for b in csv(args.pipeline_batch_sizes or args.batch_sizes, int) if b > 0]:
        machine_specs.append(dict(common, kind="pipeline", name="pipeline", batch=b,
                                  precision="float32"))
    groups.append(("machine", machine_specs))
    for model in csv(args.models):
        for batch in csv(args.batch_sizes, int):
            for p in precisions:
                specs = []
                for name in csv(args.contenders):
                    c = CONTENDERS[name]
                    if p not in c.get("precisions", (p,)):
                        continue
                    if c["kind"] == "torch" and not has_torch:
                        skipped.append(f"{name} {model} b{batch} {p}: torch not installed")
                        continue
                    spec = dict(common, kind=c["kind"], name=name, model=model, batch=batch,
                                precision=p, flags=c.get("flags", {}), compile=c.get("compile", False))
                    if c["kind"] == "tfreg" and args.device == "gpu":
                        spec["jit_compile"] = True
                    specs.append(spec)
                groups.append((f"{model} b{batch} {p}", specs))
    entries = []
    for label, specs in groups:
        for i, s in enumerate(specs):
            s["id"] = slug(f"{label}-{s['name']}-{s['precision']}-{s.get('batch', '')}-{i}")
        say(f"group {label}: {', '.join(s['name'] for s in specs)}")
        for e in run_group(label, specs, args.rounds, args.windows_per_turn, log_dir,
                           args.max_per_wave):
            entries.append({"group": label, **e})
    return {"precisions": precisions, "skipped": skipped, "entries": entries,
            **analyse(entries, machine)}


def versions():
    out = {"python": platform.python_version()}
    for package in ("tfreg", "tensorflow", "keras", "torch", "numpy"):
        try:
            from importlib.metadata import version

            out[package] = version(package)
        except Exception:  # noqa: BLE001 - not installed
            out[package] = None
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True,
                                text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "tfreg", "benchmarks"],
                               cwd=REPO, capture_output=True, text=True).stdout.strip()
        out["git"] = commit + ("+dirty" if dirty else "")
    except OSError:
        out["git"] = None
    return out


def relevant_env():
    keys = ("TF_", "ONEDNN", "DNNL", "OMP_", "KMP_", "MKL", "KERAS_", "XLA_", "CUDA_VISIBLE")
    return {k: v for k, v in sorted(os.environ.items()) if k.startswith(keys)}


def write_json(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=1) + "\n")
    tmp.replace(path)


def main(argv=None):
    args = parse_args(argv)
    machine = describe_machine(args.device)
    out = Path(args.out) if args.out else RESULTS / f"{machine['slug']}.json"
    result = json.loads(out.read_text()) if out.exists() else {}
    result["machine"] = machine
    log_dir = Path(args.log_dir or tempfile.mkdtemp(prefix="tfreg-bench-"))
    log_dir.mkdir(parents=True, exist_ok=True)
    say(f"{machine['cpu']['model']} {machine['cpu']['flags']} -> {out}; worker logs in {log_dir}")
    if os.getloadavg()[0] > 0.5:
        say(f"warning: load average {os.getloadavg()[0]:.1f}; timings on a busy machine are not "
            "results (the load is recorded with them)")
    suites = ("throughput", "tta") if args.suite == "all" else (args.suite,)
    for suite in suites:
        started = time.time()
        record = {"started": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                  "command": " ".join(["python -m benchmarks.bench", *(argv or sys.argv[1:])]),
                  "settings": vars(args), "note": args.note, "versions": versions(),
                  "env": relevant_env(), "loadavg_start": os.getloadavg()}
        if suite == "throughput":
            record.update(throughput(args, machine, log_dir))
        else:
            from benchmarks import tta

            record.update(tta.run(args, log_dir))
        record.update(loadavg_end=os.getloadavg(), duration_s=round(time.time() - started, 1))
        result[suite] = record
        write_json(out, result)
        say(f"{suite} done in {record['duration_s']:.0f} s -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
