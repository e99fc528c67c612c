"""Run directories -> arms: which arm and seed each run belongs to, its metrics, and the settings
the figures group by (batch-norm stages, dropout stages and probability, AGC clip, batch size).

A run at .../<arm>/seed_<k>/ (the sweep's layout) belongs to arm <arm>, seed k. Any other run
takes its seed from its flags and an arm name made of the flags in which it differs from the other
runs ("all" when none differ).
"""

import dataclasses
import pathlib
import re

from tfreg import runs
from tfreg.models import specs
from tfreg.report import diagnose

SEED_DIR = re.compile(r"^seed_(\d+)$")
# Flags that never make one arm differ from another.
NOT_ARM_FLAGS = frozenset({"seed", "run_dir", "data_dir", "overwrite", "dry_run", *runs.OUTPUT_FLAGS})


@dataclasses.dataclass
class Entry:
    """One run as the report sees it."""
    arm: str
    seed: int
    path: str          # as the user would type it: the input path joined with the run's subpath
    run: runs.Run

    @property
    def finished(self):
        return self.run.finished

    def diagnosis(self):
        """(label, why) of tfreg.report.diagnose for this run (chance from its config's classes)."""
        return diagnose.diagnose(self.run.history, (self.run.config.get("data") or {}).get("num_classes"))


def gather(inputs):
    """Entries of every run under the input paths, sorted by (arm, seed, path); duplicates of the
    same directory (overlapping inputs) counted once."""
    seen, found = set(), []
    for given in inputs:
        root = pathlib.Path(given)
        for run_dir in runs.find_runs(root):
            key = run_dir.resolve()
            if key in seen:
                continue
            seen.add(key)
            rel = run_dir.relative_to(root)
            found.append((str(pathlib.PurePosixPath(given) / rel) if str(rel) != "." else str(given),
                          runs.load_run(run_dir)))
    derived = _derived_names([r for _, r in found])
    entries = []
    for (path, run), name in zip(found, derived):
        m = SEED_DIR.match(run.dir.name)
        if m:
            arm, seed = run.dir.parent.name, int(m.group(1))
        else:
            arm, seed = name, int(run.flags.get("seed") or 0)
        entries.append(Entry(arm, seed, path, run))
    return sorted(entries, key=lambda e: (e.arm, e.seed, e.path))


def _derived_names(all_runs):
    names = sorted({k for r in all_runs for k in r.flags} - NOT_ARM_FLAGS)
    varying = [k for k in names if len({flag_text(r.flags.get(k)) for r in all_runs}) > 1]
    out = []
    for r in all_runs:
        parts = [f"{k}={flag_text(r.flags.get(k))}" for k in varying]
        out.append(",".join(parts) if parts else "all")
    return out


def flag_text(value):
    """A flag value as flag syntax: lists comma-joined, None (stage lists) 'all', booleans lower."""
    if value is None:
        return "all"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, (list, tuple)):
        return ",".join(flag_text(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def changed_flags(flags, baseline_flags):
    """'name=value' for every flag that differs from the baseline arm's (sorted). Only flags both
    runs record count: a flag added to tfreg between the two runs is not a change of the arm
    (a new flag's default keeps the old behaviour)."""
    keys = sorted((set(flags) & set(baseline_flags)) - NOT_ARM_FLAGS)
    return [f"{k}={flag_text(flags.get(k))}" for k in keys
            if flag_text(flags.get(k)) != flag_text(baseline_flags.get(k))]


# ---- per-run numbers ----------------------------------------------------------------------

def _floats(value):
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [float(v) for v in value.split(",") if v.strip()]
    return [float(v) for v in value]


def features(flags):
    """Settings the figures group by, from one run's flags (config.json values or flags.txt
    strings): bn_stages, dropout_stages, dropout_prob (None when asymmetric), agc_clip, batch_size."""
    model = flags.get("model")
    stages = len(specs.RESNETS[model][1]) if model in specs.RESNETS else len(specs.VGG11_STAGES)
    norm_stages = flags.get("norm_stages")
    if flags.get("norm") == "none":
        bn = 0
    elif norm_stages is None or norm_stages == "all":
        bn = stages
    else:
        bn = len(_floats(norm_stages))
    rates = [r for r in _floats(flags.get("dropout_rates")) if r > 0]
    prob = rates[0] if rates and len(set(rates)) == 1 else (0.0 if not rates else None)
    return {"bn_stages": bn, "dropout_stages": len(rates), "dropout_prob": prob,
            "agc_clip": float(flags.get("agc_clip") or 0.0),
            "batch_size": int(flags.get("batch_size") or 0)}


def time_to_target(history, target):
    """(seconds, epoch) when training accuracy first reached `target`, summing epoch times as the
    run's own recorder does (tfreg.train.callbacks.RunRecorder); (None, None) if never."""
    if not target:
        return None, None
    total = 0.0
    for r in history:
        total += r.get("epoch_time_s") or 0.0
        if r.get("accuracy") is not None and r["accuracy"] >= target:
            return round(total, 3), r["epoch"]
    return None, None


def eval_test_accuracy(run):
    """The test accuracy the arm reports: with early stopping, the restored best epoch's; with
    MC dropout or test-time augmentation, that evaluation's; else the final epoch's."""
    s = run.summary
    for key in ("mc_dropout_test_accuracy", "tta_test_accuracy"):
        if s.get(key) is not None:
            return s[key], key
    best = s.get("early_stopping_best_epoch")
    if best is not None:
        for r in run.history:
            if r["epoch"] == best and r.get("test_accuracy") is not None:
                return r["test_accuracy"], "test accuracy at the early-stopping best epoch"
    return s.get("final_test_accuracy"), "final_test_accuracy"
