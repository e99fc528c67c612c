"""Runs of one study -> reports/<study>/: README.md (tables beside the document's numbers),
results.csv (every number of the tables, one row per arm) and PNG figures. Without a study file
(--baseline) the same report of any sweep: every arm against the baseline arm, no document.

Every cell is mean ± sample std over the finished runs of an arm, with n; the test accuracy gets a
95% Student t interval, and each arm's effect against the arm its document compares it with gets
a paired or Welch's 95% interval and a verdict against the document's own delta or claimed
direction (tfreg.report.stats), or without a document higher / lower / equivalent. Runs
whose status is not completed / stopped_early are listed apart and left out of every number.
Output is deterministic: arms in the study's order then sorted, fixed float formats, no dates.
Arms that are one experiment (recorded by their sweep, a study's `same_as`, or equal recorded flags)
are listed once, under a name that says so (tfreg.report.aliases).
"""

import collections
import math

import pandas as pd

from tfreg import runs
from tfreg.report import aliases, collect, figures, readme, stats

# (summary key, table header, scale, decimals); accuracies are shown in percent.
METRICS = (
    ("final_train_loss", "train loss", 1, 4),
    ("final_train_accuracy", "train acc (%)", 100, 2),
    ("final_val_loss", "val loss", 1, 4),
    ("final_val_accuracy", "val acc (%)", 100, 2),
    ("final_test_loss", "test loss", 1, 4),
    ("final_test_accuracy", "test acc (%)", 100, 2),
    ("best_test_accuracy", "best test acc (%)", 100, 2),
    ("best_test_epoch", "best epoch", 1, 1),
    ("time_to_target_s", "time to target (s)", 1, 1),
    ("epoch_to_target", "epoch to target", 1, 1),
    ("train_time_s", "training time (s)", 1, 1),
    ("wall_time_s", "wall time (s)", 1, 1),
    ("epochs_completed", "epochs", 1, 1),
    ("params", "parameters", 1, 0),
)
REF_FIELDS = ("test_accuracy", "best_test_accuracy", "best_test_epoch", "train_loss",
              "train_accuracy", "test_loss", "val_loss", "val_accuracy")


def _run_values(entry, target):
    s = dict(entry.run.summary)
    s["time_to_target_s"], s["epoch_to_target"] = collect.time_to_target(entry.run.history, target)
    s["eval_test_accuracy"], _ = collect.eval_test_accuracy(entry.run)
    return s


def _target(study, finished):
    flagged = {float(e.run.flags.get("target_train_accuracy") or 0) for e in finished}
    if len(flagged) == 1 and (only := flagged.pop()) > 0 and only != study.target_train_accuracy:
        return only, "the runs' own --target_train_accuracy"
    if study.target_train_accuracy:
        return study.target_train_accuracy, "the study's"
    return None, None


def _arms(entries, refs):
    arms = collections.defaultdict(list)
    for e in entries:
        if e.finished:
            arms[e.arm].append(e)
    order = [a for a in refs if a in arms] + sorted(a for a in arms if a not in refs)
    return {a: arms[a] for a in order}


def analyse(study, entries, identical=None, names=None):
    """Everything the outputs need: arms in order, per-arm rows (dicts) and per-run diagnoses.
    `identical` and `names`: what the sweeps recorded (aliases.recorded); arms that are one
    experiment are listed once (tfreg.report.aliases)."""
    refs = study.refs
    arms = _arms(entries, refs)
    groups = aliases.group(list(arms), arms, refs, identical, names)
    for arm, rep in groups.dropped.items():  # a copy of another arm's experiment
        for e in arms[arm]:
            e.run.summary["status"] = f"skipped: identical to {rep} (listed once)"
    arms = _arms(entries, refs)
    finished = [e for e in entries if e.finished]
    target, target_source = _target(study, finished)
    values = {a: [_run_values(e, target) for e in es] for a, es in arms.items()}
    classes = next(((e.run.config.get("data") or {}).get("num_classes") for e in finished), None)
    rows = []
    for arm, es in arms.items():
        same = [m for m, rep in groups.canonical.items() if rep == arm and m != arm]
        ref = refs.get(arm) or next((refs[m] for m in same if m in refs), None)
        named = ref.baseline if ref else (study.baseline if groups.of(study.baseline) != arm else None)
        base = groups.of(named) if named else None
        base = base if base in arms else None
        row = {"arm": arm, "group": _group_of(study, ref.arm if ref else arm), "baseline": base or "",
               "is_baseline": groups.of(study.baseline) == arm or bool(ref and ref.baseline is None),
               "n": len(es), "n_unfinished": sum(1 for e in entries if e.arm == arm and not e.finished),
               "seeds": " ".join(str(e.seed) for e in es),
               "changes": " ".join(collect.changed_flags(es[0].run.flags, arms[base][0].run.flags))
               if base and base != arm else ""}
        for key, *_ in METRICS + (("eval_test_accuracy",),):
            for stat, v in stats.describe([s.get(key) for s in values[arm]]).items():
                row[f"{key}_{stat}"] = v
        row["target_train_accuracy"] = target if target else math.nan
        _, row["eval_test_accuracy_source"] = collect.eval_test_accuracy(es[0].run)
        for f in REF_FIELDS:
            v = getattr(ref, f) if ref else None
            row[f"paper_{f}"] = math.nan if v is None else v
        delta = low = high = tost_p = math.nan
        paper_delta, reference = math.nan, ""
        method, n_compared, need_sign, need_equivalence = "", "", None, None
        if base == arm:  # compared with an arm that is the same experiment: nothing to compute
            method, n_compared = "same runs", f"{len(es)} runs"
        elif base:
            own, other, paired, method = _comparison(es, arms[base], row["changes"], classes)
            if paired:
                delta, low, high, pairs = stats.paired_delta(own, other)
                n_compared = f"{pairs} pairs"
            else:
                delta, low, high = stats.welch_delta(list(own.values()), list(other.values()))
                n_compared = f"{len(own)} vs {len(other)}"
            tost_p = stats.equivalence_p(own, other, paired)
            need_sign, need_equivalence = stats.seeds_needed(
                delta, stats.effect_sd(own, other, paired), paired)
        if base:
            bref = refs.get(named)
            if ref and bref and ref.test_accuracy is not None and bref.test_accuracy is not None:
                paper_delta = ref.test_accuracy - bref.test_accuracy
                reference = "paper"
            elif ref and ref.claim:
                reference = f"claim: {ref.claim}"
            elif study.claim and _changes_a_claim_flag(study, row["changes"]):
                reference = f"claim: {study.claim}"
        if not base:
            verdict = ""
        elif base == arm:
            verdict = "identical"
        elif study.documented:
            verdict = stats.verdict(low, high, stats.claimed_delta(reference, paper_delta), tost_p)
        else:
            verdict = stats.direction(low, high, tost_p)
        row.update(delta=delta, delta_ci_low=low, delta_ci_high=high, paper_delta=paper_delta,
                   reference=reference, method=method, n_compared=n_compared,
                   equivalence_p=tost_p,
                   seeds_to_resolve_sign=need_sign or math.nan,
                   seeds_to_show_equivalence=need_equivalence or math.nan, verdict=verdict)
        conv = [collect.converged(e.run.history)[0] for e in es]
        row["converged"] = f"{sum(conv)}/{len(conv)}"
        row["exceptions"] = "; ".join(f"seed {e.seed}: {why}" for e in es
                                      if (why := collect.exception(e.run, classes)))
        labels = collections.Counter(e.diagnosis()[0] for e in es)
        row["diagnosis"] = " ".join(f"{k}:{labels[k]}" for k in sorted(labels))
        rows.append(row)
    for row in rows:  # an arm's row is named by every arm it stands for
        row["arm"], row["baseline"] = groups.label(row["arm"]), groups.label(row["baseline"])
    return {"arms": {groups.label(a): es for a, es in arms.items()}, "rows": rows,
            "target": target, "target_source": target_source, "finished": finished,
            "unfinished": [e for e in entries if not e.finished], "values": values,
            "listed": set(groups.canonical) | set(arms),
            "refs": {groups.label(a): [refs[m] for m in refs if groups.of(m) == a]
                     for a in arms}}


def _comparison(arm_entries, base_entries, changes, classes):
    """({seed: arm value}, {seed: comparison value}, paired, method) for one comparison. Runs that
    never learned are left out (issue 23's rule 5). An arm judged by an inference-time evaluation
    (TTA, MC dropout) is compared with the same runs' plain test accuracy on the same weights, and
    early stopping's restored epoch with the same run's last epoch (rule 4); other arms pair by
    seed when they share initial weights and data order (collect.pairable), else Welch."""
    def usable(entries):
        return [e for e in entries
                if not (collect.exception(e.run, classes) or "").startswith("never learned")]

    arm_entries = usable(arm_entries)
    own = {e.seed: collect.eval_test_accuracy(e.run)[0] for e in arm_entries}
    if any(collect.eval_test_accuracy(e.run)[1] in collect.INFERENCE_KEYS for e in arm_entries):
        return own, {e.seed: collect.inference_base(e.run) for e in arm_entries}, True, \
            "paired, same weights"
    if any(e.run.summary.get("early_stopping_best_epoch") is not None for e in arm_entries):
        # early stopping's selected epoch against the last epoch the same run trained
        return own, {e.seed: e.run.summary.get("final_test_accuracy") for e in arm_entries}, True, \
            "paired, same run"
    other = {e.seed: collect.eval_test_accuracy(e.run)[0] for e in usable(base_entries)}
    paired = collect.pairable(changes.split()) and len(set(own) & set(other)) >= 2
    return own, other, paired, "paired by seed" if paired else "Welch"


def _changes_a_claim_flag(study, changes):
    return any(c.split("=", 1)[0] in study.claim_flags for c in changes.split())


def _group_of(study, arm):
    for title, refs in study.groups:
        if any(r.arm == arm for r in refs):
            return title
    return "Other arms" if study.documented else "Arms"


# ---- outputs ------------------------------------------------------------------------------

def write_csv(rows, path):
    """results.csv, written atomically (a full disk leaves the previous file, not half of one)."""
    frame = pd.DataFrame(rows)
    runs.atomic_write(path, frame.to_csv(index=False, float_format="%.10g", lineterminator="\n"))


def make_figures(study, result, out):
    arms = result["arms"]

    def accuracy(entries):
        return [e.run.summary.get("final_test_accuracy") for e in entries]

    def ttt(entries):
        return [collect.time_to_target(e.run.history, result["target"])[0] for e in entries]

    drawn = {
        "test_accuracy": figures.test_accuracy(arms, out),
        "accuracy_vs_dropout": figures.accuracy_vs_dropout(arms, out, accuracy),
        "bn_dropout_heatmap": figures.grid_heatmaps(
            arms, out, "dropout_stages", "bn_stages", ("stages with dropout", "stages with batch norm"),
            [("accuracy", lambda es: [100 * a for a in accuracy(es) if a is not None],
              "final test accuracy (%)", lambda v: f"{v:.1f}"),
             ("time_to_target", ttt, "time to target training accuracy (s)", lambda v: f"{v:.0f}")],
            "bn_dropout", ("norm", "norm_stages", "dropout_rates"), facet_key="dropout_prob"),
        "agc_heatmap": figures.grid_heatmaps(
            arms, out, "batch_size", "agc_clip", ("batch size", "AGC clip threshold"),
            [("accuracy", lambda es: [100 * a for a in accuracy(es) if a is not None],
              "final test accuracy (%)", lambda v: f"{v:.1f}")],
            "agc", ("agc_clip", "batch_size"), where=lambda f: f["agc_clip"] > 0),
        "lr": figures.learning_rate(arms, out),
        "gap": figures.gap(arms, out),
        "forest": figures.forest(result["rows"], out) if study.documented else figures.forest(
            result["rows"], out, title=f"Every arm against {study.baseline}", documented=False),
    }
    return drawn


def build(study, entries, inputs, out, out_text):
    """Writes README.md, results.csv and the figures into `out`; returns the analysis."""
    out.mkdir(parents=True, exist_ok=True)
    result = analyse(study, entries, *aliases.recorded(inputs))
    write_csv(result["rows"], out / "results.csv")
    drawn = make_figures(study, result, out)
    readme.write_readme(study, result, entries, inputs, out, out_text, drawn)
    return result
