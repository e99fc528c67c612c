"""Run directories -> arms: which arm and seed each run belongs to, its metrics, and the settings
the figures group by (batch-norm stages, dropout stages and probability, AGC clip, batch size).

A run at .../<arm>/seed_<k>/ (the sweep's layout) belongs to arm <arm>, seed k. Any other run
takes its seed from its flags and an arm name made of the flags in which it differs from the other
runs ("all" when none differ).
"""

import dataclasses
import pathlib

from tfreg import runs
from tfreg.models import specs
from tfreg.report import diagnose

SEED_DIR = runs.SEED_DIR
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


NOT_NUMBERS = ("schema_version", "status", "tta", "export_check", "timings")


def _load(run_dir):
    """runs.load_run, with a malformed run (unreadable history, a text where a number belongs,
    config fields of the wrong type) kept as a run whose status says `skipped: <why>`: it is
    listed with the runs left out, and the report goes on."""
    try:
        run = runs.load_run(run_dir)
        for part in ("flags", "environment", "data"):
            if not isinstance(run.config.get(part, {}), dict):
                raise ValueError(f"config.json: {part} is not a mapping ({run.config[part]!r})"[:120])
        bad = [k for k, v in run.summary.items() if k not in NOT_NUMBERS and v is not None
               and (isinstance(v, bool) or not isinstance(v, (int, float)))]
        if bad:
            raise ValueError(f"summary.json: {bad[0]} is not a number ({run.summary[bad[0]]!r})")
        if run.status is not None and not isinstance(run.status, str):
            raise ValueError(f"summary.json: status is not a text ({run.status!r})")
        int(run.flags.get("seed") or 0)
        for r in run.history:
            if not all(isinstance(v, (int, float)) or v is None for v in r.values()):
                raise ValueError("history.csv holds a value that is not a number")
        return run
    except (OSError, ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError) as e:
        if isinstance(e, AttributeError):  # config.json that is not a mapping
            e = ValueError("config.json is not a mapping")
        reason = f"{type(e).__name__}: {' '.join(str(e).split())}"[:200]
        summary = dict.fromkeys(runs.SUMMARY_KEYS)
        summary["status"] = f"skipped: {reason}"
        return runs.Run(pathlib.Path(run_dir), {}, {}, [], summary)


def gather(inputs):
    """Entries of every run under the input paths, sorted by (arm, seed, path); the same
    directory reached through overlapping inputs counted once. A second run of one arm and seed
    (two sweep folders that both hold a/seed_0) and a malformed run are kept with a status that
    says `skipped: ...`, so the report lists them among the runs left out instead of counting
    them."""
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
                          _load(run_dir)))
    derived = _derived_names([r for _, r in found])
    entries = []
    for (path, run), name in zip(found, derived):
        m = SEED_DIR.match(run.dir.name)
        if m:
            arm, seed = run.dir.parent.name, int(m.group(1))
        else:
            arm, seed = name, int(run.flags.get("seed") or 0)
        entries.append(Entry(arm, seed, path, run))
    entries.sort(key=lambda e: (e.arm, e.seed, e.path))
    first = {}
    for e in entries:
        if (e.arm, e.seed) in first and e.finished:
            e.run.summary["status"] = f"skipped: duplicate of {first[(e.arm, e.seed)]}"
        elif e.finished:
            first[(e.arm, e.seed)] = e.path
    return entries


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


INFERENCE_KEYS = ("mc_dropout_test_accuracy", "tta_test_accuracy")


def endpoint(run):
    """(test accuracy, which) at the run's endpoint, the weights an arm is judged by: with early
    stopping, the restored best epoch's; with a validation split, the epoch of best validation
    accuracy (the first epoch reaching it; issue 23's rule 2); else the final epoch's."""
    s = run.summary
    best = s.get("early_stopping_best_epoch")
    if best is None and any(r.get("val_accuracy") is not None for r in run.history):
        best = max((r for r in run.history if r.get("val_accuracy") is not None),
                   key=lambda r: (r["val_accuracy"], -r["epoch"]))["epoch"]
        label = "test accuracy at the best validation epoch"
    else:
        label = "test accuracy at the early-stopping best epoch"
    if best is not None:
        for r in run.history:
            if r["epoch"] == best and r.get("test_accuracy") is not None:
                return r["test_accuracy"], label
    return s.get("final_test_accuracy"), "final_test_accuracy"


def eval_test_accuracy(run):
    """The test accuracy the arm reports: with MC dropout or test-time augmentation, that
    evaluation's (on the final weights); else the endpoint's (`endpoint`)."""
    s = run.summary
    for key in INFERENCE_KEYS:
        if s.get(key) is not None:
            return s[key], key
    return endpoint(run)


def inference_base(run):
    """For an arm judged by an inference-time evaluation (TTA, MC dropout): the same run's plain
    test accuracy on the same (final) weights, its within-run comparison (issue 23's rule 4)."""
    return run.summary.get("final_test_accuracy")


# Flags whose change gives two arms of one seed different initial weights or data order; arms
# that differ in none of them share both, and are compared paired by seed.
UNPAIRED_FLAGS = frozenset({
    "dataset", "train_examples", "val_split", "split_mode", "split_seed", "classes", "batch_size",
    "steps_per_epoch", "synthetic_train_examples", "model", "stem", "width_multiplier", "norm",
    "norm_stages", "norm_groups", "activation", "head", "weight_standardization", "dropout_rates",
    "block_dropout_rates", "head_dropout_rate", "drop_path_rate", "drop_path_mode",
    "drop_path_rule", "zero_init_residual", "init_from", "probe_stage", "trainable_stages",
    "cutout_extra_per_batch"})


def pairable(changes):
    """True when the arm's changes against its comparison arm ('name=value' list) leave the
    initial weights and the data order of a seed unchanged, so seeds pair."""
    return not any(c.split("=", 1)[0] in UNPAIRED_FLAGS for c in changes)


CONVERGED_LR_FRACTION = 0.05  # the learning rate annealed to at most 5% of its peak, or
CONVERGED_MIN_BEFORE = 0.75   # the held-out loss reached its minimum before the last quarter


def converged(history):
    """(bool, why): issue 23's convergence check for one run, from its history: the learning rate
    of the last epoch at most 5% of the run's peak, or the held-out loss (validation, else test)
    at its minimum in an epoch before the last quarter of the epochs."""
    if not history:
        return False, "no epochs"
    lrs = [r["lr"] for r in history if r.get("lr") is not None]
    if lrs and max(lrs) > 0 and lrs[-1] <= CONVERGED_LR_FRACTION * max(lrs):
        return True, f"learning rate annealed to {lrs[-1] / max(lrs):.1%} of its peak"
    split = "val" if any(r.get("val_loss") is not None for r in history) else "test"
    rows = [r for r in history if r.get(f"{split}_loss") is not None]
    if not rows:
        return False, "no held-out loss"
    best = min(rows, key=lambda r: (r[f"{split}_loss"], r["epoch"]))["epoch"]
    last = history[-1]["epoch"]
    if best <= CONVERGED_MIN_BEFORE * last:
        return True, f"{split} loss minimum at epoch {best} of {last}"
    return False, (f"{split} loss still at its minimum at epoch {best} of {last}, learning rate "
                   f"{lrs[-1] / max(lrs):.0%} of its peak" if lrs and max(lrs) > 0 else "")


COLLAPSE = 0.05  # an endpoint this far below the run's own best test accuracy has collapsed


def exception(run, num_classes):
    """None for a run fit to compare; else why not: 'never learned' (held-out accuracy never more
    than diagnose.CHANCE_MARGIN above chance) or 'collapsed' (its endpoint at least COLLAPSE below
    its own best test accuracy)."""
    held = [r.get("val_accuracy") if r.get("val_accuracy") is not None else r.get("test_accuracy")
            for r in run.history]
    held = [v for v in held if v is not None]
    if num_classes and held and max(held) <= 1 / num_classes + diagnose.CHANCE_MARGIN:
        return f"never learned: best held-out accuracy {100 * max(held):.1f}% (chance {100 / num_classes:.1f}%)"
    value, _ = endpoint(run)
    best = run.summary.get("best_test_accuracy")
    if value is not None and best is not None and value <= best - COLLAPSE:
        return f"collapsed: endpoint {100 * value:.1f}% against its best {100 * best:.1f}%"
    return None
