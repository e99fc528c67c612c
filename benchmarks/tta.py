"""Time-to-accuracy suite (`python -m benchmarks.bench --suite=tta`): wall time from process start
to the first epoch whose test accuracy reaches each target (92%, 93%) on Fashion-MNIST, with the
quickstart network and recipe (experiments/quickstart.flags), tfreg (`python -m tfreg.run`) against
the same recipe in plain Keras (benchmarks/keras_quickstart.py).

Both run as fresh processes with --tta_epochs epochs (the cosine schedule spans them) and stop
once the last target is reached; on GPUs tfreg adds --mixed_precision=bfloat16 --jit_compile and
the Keras script the mixed_bfloat16 policy (its jit_compile="auto" is XLA there). The clock starts before the process is launched (imports and data
loading count) and stops when the driver sees the epoch's test accuracy: tfreg's history.csv,
polled every 0.2 s, and the Keras script's per-epoch line. Pairs run in ABBA order.
"""

import csv
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.bench import REPO, say

FLAGFILE = "experiments/quickstart.flags"


def tfreg_command(run_dir, epochs, gpu):
    return [sys.executable, "-m", "tfreg.run", f"--flagfile={FLAGFILE}", f"--run_dir={run_dir}",
            f"--epochs={epochs}", "--verbose=0",
            *(["--mixed_precision=bfloat16", "--jit_compile"] if gpu else [])]


def keras_command(epochs, gpu):
    return [sys.executable, "-m", "benchmarks.keras_quickstart", f"--flagfile={FLAGFILE}",
            f"--epochs={epochs}", *(["--mixed_bfloat16"] if gpu else [])]


def watch(contender, command, targets, log_path, history=None):
    """Runs one contender; returns its epochs (test accuracy, seconds since launch) and the time
    to each target. history: tfreg's history.csv to poll; else the @@bench lines on stdout."""
    epochs, time_to = [], {f"{t:g}": None for t in targets}
    start = time.perf_counter()
    with open(log_path, "w") as log:
        proc = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE if history is None else log,
                                stderr=log, text=True)

        def seen(epoch, accuracy):
            t = time.perf_counter() - start
            epochs.append({"epoch": epoch, "test_accuracy": accuracy, "seconds": round(t, 2)})
            say(f"tta {contender}: epoch {epoch} test accuracy {accuracy:.4f} at {t:.0f} s")
            for target in targets:
                if accuracy >= target and time_to[f"{target:g}"] is None:
                    time_to[f"{target:g}"] = round(t, 2)
            return all(v is not None for v in time_to.values())

        done = False
        if history is None:
            for line in proc.stdout:
                if line.startswith("@@bench "):
                    row = json.loads(line[len("@@bench "):])
                    if seen(row["epoch"], row["test_accuracy"]):
                        done = True
                        break
        else:
            def read_new():
                try:
                    with open(history) as f:
                        rows = [r for r in csv.DictReader(f) if r.get("test_accuracy")]
                except OSError:
                    return False
                return any([seen(int(r["epoch"]), float(r["test_accuracy"])) for r in rows[len(epochs):]])

            while not done and proc.poll() is None:
                time.sleep(0.2)
                done = read_new()
            done = done or read_new()  # rows written just before the process ended
        if proc.poll() is None:
            proc.terminate()
        code = proc.wait()
    return {"contender": contender, "epochs": epochs, "time_to": time_to,
            "stopped_at_last_target": done, "exit_code": code, "log": str(log_path)}


def run(args, log_dir):
    targets = sorted(float(t) for t in args.tta_targets.split(","))
    order = []
    for _ in range(args.tta_repeats):
        order += ["tfreg", "keras"] if len(order) % 4 == 0 else ["keras", "tfreg"]
    runs, gpu = [], args.device == "gpu"  # on GPUs: bfloat16, and XLA (Keras's default there)
    for i, contender in enumerate(order):
        log = Path(log_dir) / f"tta-{i}-{contender}.log"
        if contender == "tfreg":
            run_dir = Path(log_dir) / f"tta-{i}-run"
            shutil.rmtree(run_dir, ignore_errors=True)
            runs.append(watch(contender, tfreg_command(run_dir, args.tta_epochs, gpu), targets,
                              log, history=run_dir / "history.csv"))
        else:
            runs.append(watch(contender, keras_command(args.tta_epochs, gpu), targets, log))
    summary = {}
    for contender in ("tfreg", "keras"):
        mine = [r for r in runs if r["contender"] == contender]
        summary[contender] = {
            target: sorted(r["time_to"][target] for r in mine if r["time_to"][target] is not None)
            for target in mine[0]["time_to"]} if mine else {}
    return {"flagfile": FLAGFILE, "epochs": args.tta_epochs, "device": args.device, "targets": targets, "runs": runs,
            "seconds_to_target": summary}
