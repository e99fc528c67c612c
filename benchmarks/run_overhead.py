"""Where a whole run's wall time goes: each flagfile run as a user runs it (`python -m tfreg.run`,
timed from the shell), with the per-phase `timings` block that the run writes in summary.json.

    python -m benchmarks.run_overhead [--repeats=1] [--out=benchmarks/results/run-overhead.json]
        [--variants=defaults,sweep] [--before=PATH]

Variants: `defaults` is the flagfile as written (test set after every epoch, SavedModel and its
check); `sweep` adds what a study sweep's runs use (--nosaved_model, tfreg.sweep's default since
issue 27) and --test_every_epochs=0 (the test set after the last epoch only). --before=PATH also
runs each flagfile with the tfreg checkout at PATH (a git worktree of an older commit), in turn
with the others, for a before/after ratio on the same machine. The share reported is the sum of
the epochs' times (summary.json's train_time_s: the training steps, first-step tracing and the
validation pass) over the wall time from the shell.
"""

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
FLAGFILES = {
    "ai6103_group (sd_baseline)": "experiments/ai6103_group/mini/sd_baseline.flags",
    "ai6103_hparams (base)": "experiments/ai6103_hparams/mini/base.flags",
    "ai6103_hparams (sched_cosine)": "experiments/ai6103_hparams/mini/sched_cosine.flags",
    "bn_resnet18 (baseline_7x7)": "experiments/bn_resnet18/mini/baseline_7x7.flags",
    "cs5489_lecture (baseline)": "experiments/cs5489_lecture/mini/baseline.flags",
    "resnet50_regularization (baseline)": "experiments/resnet50_regularization/mini/baseline.flags",
    "quickstart": "experiments/quickstart.flags",
}
VARIANTS = {"defaults": [], "sweep": ["--nosaved_model", "--test_every_epochs=0"]}


def one_run(flagfile, extra, checkout):
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = pathlib.Path(tmp) / "run"
        env = dict(os.environ, PYTHONPATH=str(checkout))
        start = time.perf_counter()
        result = subprocess.run(
            [sys.executable, "-m", "tfreg.run", f"--flagfile={flagfile}", f"--run_dir={run_dir}",
             "--verbose=0", *extra], cwd=checkout, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - start
        if result.returncode != 0:
            raise SystemExit(f"{flagfile} failed: {result.stderr.strip().splitlines()[-1]}")
        summary = json.loads((run_dir / "summary.json").read_text())
    return {"wall_s": round(wall, 3), "epochs_s": summary["train_time_s"],
            "share": round(summary["train_time_s"] / wall, 4),
            "test_accuracy": summary["final_test_accuracy"], "timings": summary.get("timings")}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--variants", default="defaults,sweep")
    p.add_argument("--studies", default=",".join(FLAGFILES), help="names from FLAGFILES")
    p.add_argument("--before", default="", help="checkout of an older tfreg, run in turn")
    p.add_argument("--out", default="benchmarks/results/run-overhead.json")
    args = p.parse_args()
    from tfreg import hardware

    contenders = [(v, VARIANTS[v], ROOT) for v in args.variants.split(",")]
    if args.before:
        contenders.append(("before", [], pathlib.Path(args.before).resolve()))
    results = {}
    for name in args.studies.split(","):
        for _ in range(args.repeats):  # interleaved: every contender once per round
            for label, extra, checkout in contenders:
                r = one_run(FLAGFILES[name], extra, checkout)
                results.setdefault(name, {}).setdefault(label, []).append(r)
                print(f"{name:38s} {label:9s} wall {r['wall_s']:7.1f} s  epochs {r['epochs_s']:7.1f} s"
                      f"  share {r['share']:.0%}", flush=True)
    table = {name: {label: {"median_wall_s": statistics.median(r["wall_s"] for r in rs),
                            "median_epochs_s": statistics.median(r["epochs_s"] for r in rs),
                            "median_share": statistics.median(r["share"] for r in rs),
                            "runs": rs}
                    for label, rs in by.items()} for name, by in results.items()}
    out = {"command": "python -m benchmarks.run_overhead " + " ".join(sys.argv[1:]),
           "cpu": hardware.cpu_info(), "results": table}
    pathlib.Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    print(f"written: {args.out}")


if __name__ == "__main__":
    main()
