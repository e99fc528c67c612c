"""README.md of a study report: what was run, the commands that regenerate it, the tables in the
study's shape beside the document's numbers, the figures, the learning-curve diagnosis of every run
and the runs left out. Fixed float formats and no dates, so the same runs give the same bytes."""

import collections
import json
import math
import pathlib
import platform
import re

from tfreg import runs
from tfreg.report import collect, diagnose, stats, studies
from tfreg.plots import EMA_WEIGHT

# ---- formatting ---------------------------------------------------------------------------

def _num(v, scale=1, decimals=2):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "—"
    if decimals == 0:
        return f"{round(v * scale):,}"
    return f"{v * scale:.{decimals}f}"


def cell(row, key, scale=1, decimals=2, ci=False):
    n = row[f"{key}_n"]
    if not n:
        return "—"
    text = _num(row[f"{key}_mean"], scale, decimals)
    if n > 1 and not math.isnan(row[f"{key}_std"]) and (decimals or row[f"{key}_std"]):
        text += f" ± {_num(row[f'{key}_std'], scale, decimals or 1)}"
    text += f" (n={n})"
    if ci and n > 1:
        low, high = (_num(row[f"{key}_ci_{s}"], scale, decimals) for s in ("low", "high"))
        text += f" [{low}, {high}]"
    return text


def _table(header, lines):
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(str(c).replace("|", "\\|") for c in line) + " |" for line in lines]
    return "\n".join(out)


def _ranking(rows, has_val):
    """Arms best first: by validation accuracy when every arm has one (the lecture's recipe chooses
    settings on held-out data, so a coarse grid's winner is read here), else by test accuracy."""
    key = "final_val_accuracy" if has_val and all(r["final_val_accuracy_n"] for r in rows) else \
        "final_test_accuracy"
    ranked = sorted((r for r in rows if r[f"{key}_n"]), key=lambda r: (-r[f"{key}_mean"], r["arm"]))
    note = ("by final validation accuracy (mean over seeds), the number to choose settings by" if
            key == "final_val_accuracy" else "by final test accuracy (mean over seeds); the runs "
            "have no validation split, so do not choose settings by this ranking")
    keys = (key, "final_test_accuracy") if key == "final_val_accuracy" else (key,)
    header = ["rank", "arm", *("val acc (%)" if k == "final_val_accuracy" else "test acc (%)"
                               for k in keys), "changes against its baseline"]
    return [f"Arms {note}:", "",
            _table(header, [[i + 1, r["arm"], *(cell(r, k, 100, 2) for k in keys),
                             r["changes"] or "—"] for i, r in enumerate(ranked)])]


def _results_table(rows, target, has_val):
    target_header = f"time to {100 * target:g}% train acc (s)" if target else "time to target (s)"
    header = ["arm", "train loss", "train acc (%)"]
    header += ["val loss", "val acc (%)"] if has_val else []
    header += ["test loss", "test acc (%) [95% CI]", "best test acc (%) @ epoch", target_header,
               "training time (s)", "parameters"]
    lines = []
    for r in rows:
        line = [r["arm"], cell(r, "final_train_loss", 1, 4), cell(r, "final_train_accuracy", 100, 2)]
        if has_val:
            line += [cell(r, "final_val_loss", 1, 4), cell(r, "final_val_accuracy", 100, 2)]
        best = cell(r, "best_test_accuracy", 100, 2)
        if r["best_test_epoch_n"]:
            best += f" @ {cell(r, 'best_test_epoch', 1, 1).split(' (n=')[0]}"
        ttt = cell(r, "time_to_target_s", 1, 1) if target else "—"
        if target:
            ttt += f", reached {r['time_to_target_s_n']}/{r['n']}"
        line += [cell(r, "final_test_loss", 1, 4), cell(r, "final_test_accuracy", 100, 2, ci=True),
                 best, ttt, cell(r, "train_time_s", 1, 1), cell(r, "params", 1, 0)]
        lines.append(line)
    return _table(header, lines)


def _settle(r):
    """The seeds per arm that would settle an inconclusive comparison (80% power)."""
    if r["verdict"] != "inconclusive":
        return ""
    options = [(n, what) for key, what in (("seeds_to_resolve_sign", "the sign"),
                                            ("seeds_to_show_equivalence", "equivalence"))
               if not math.isnan(n := r[key])]
    if not options:
        return "no estimate (n < 2 or no spread)"
    n, what = min(options)
    return f"> {stats.MAX_SEEDS} for {what}" if n > stats.MAX_SEEDS else f"{int(n)} for {what}"


def _delta_text(r):
    delta = stats.points(r["delta"])
    if not math.isnan(r["delta_ci_low"]):
        delta += f" [{stats.points(r['delta_ci_low'])}, {stats.points(r['delta_ci_high'])}]"
    return delta


def findings(rows, documented=True):
    """One line per claimed comparison: the document's direction, our effect, the verdict, n.
    Without a document (not `documented`), one line per arm compared with the baseline."""
    claimed = [r for r in rows if r["baseline"] and (r["reference"] or not documented)]
    if not claimed:
        return ["No arm here has a claimed direction to compare with." if documented else
                "No arm here has finished runs beside the baseline's."]
    counts = collections.Counter(r["verdict"] for r in claimed)
    words = (("agrees", "disagrees") if documented else ("higher", "lower")) + (
        "equivalent", "inconclusive", "n/a", "identical")
    lines = [f"{len(claimed)} {'claimed ' if documented else ''}comparisons: " + ", ".join(
        f"{counts[v]} {v}" for v in words if counts[v]) + ".", ""]
    table = []
    for r in claimed:
        if r["reference"].startswith("claim"):
            direction = [r["reference"].removeprefix("claim: ")]
        elif documented:
            direction = [("higher" if r["paper_delta"] > 0 else "lower")
                         + f" ({stats.points(r['paper_delta'])})"]
        else:
            direction = []
        table.append([f"{r['arm']} vs {r['baseline']}", *direction, _delta_text(r), r["method"],
                      r["n_compared"], f"**{r['verdict']}**", _settle(r), r["converged"]])
    return lines + [_table(["comparison", *(["document: arm is"] if documented else []),
                            "our effect (pts) [95% CI]", "interval", "n", "verdict",
                            "seeds to settle (per arm)", "converged"], table)]


def _explanations(study, rows):
    """What an explaining run showed about each disagreement, from the study file's `explained`
    (the runs themselves are in the study README and their own report)."""
    refs = study.refs
    lines = [f"- `{r['arm']}`: {refs[r['arm']].explained}" for r in rows
             if r["verdict"] == "disagrees" and r["arm"] in refs and refs[r["arm"]].explained]
    return ["Explaining runs for the disagreements:", "", *lines, ""] if lines else []


def _paper_table(rows, documented=True):
    header = ["arm", "vs", "changes vs baseline", "our test acc (%) [95% CI]", "paper (%)",
              "our delta (pts) [95% CI]", "interval", "TOST p (±1 pt)", "paper delta (pts)",
              "verdict", "seeds to settle"]
    paper_columns = (4, 8)  # left out of a report without a document
    lines = []
    for r in rows:
        ours = cell(r, "eval_test_accuracy", 100, 2, ci=True)
        if r["eval_test_accuracy_source"] != "final_test_accuracy":
            ours += f" ({r['eval_test_accuracy_source']})"
        delta = _delta_text(r) if r["baseline"] else "—"
        paper_delta = (r["reference"] if r["reference"].startswith("claim")
                       else stats.points(r["paper_delta"]))
        vs = r["baseline"] or ("(baseline)" if r["is_baseline"] else "—")
        tost = "—" if math.isnan(r["equivalence_p"]) else f"{r['equivalence_p']:.3f}"
        lines.append([r["arm"], vs, f"`{r['changes']}`" if r["changes"] else "",
                      ours, _num(r["paper_test_accuracy"], 100, 2), delta,
                      f"{r['method']}, {r['n_compared']}" if r["baseline"] else "—", tost,
                      paper_delta, r["verdict"] or "—", _settle(r)])
    if not documented:
        keep = [i for i in range(len(header)) if i not in paper_columns]
        header, lines = [header[i] for i in keep], [[line[i] for i in keep] for line in lines]
    return _table(header, lines)


def _ref_line(ref):
    best = _num(ref.best_test_accuracy, 100, 2) + (f" @ {ref.best_test_epoch}" if ref.best_test_epoch else "")
    return [ref.arm, ref.settings, _num(ref.train_loss, 1, 4), _num(ref.train_accuracy, 100, 2),
            _num(ref.val_loss, 1, 4), _num(ref.val_accuracy, 100, 2), _num(ref.test_loss, 1, 4),
            _num(ref.test_accuracy, 100, 2), best, ref.source + (f"; {ref.note}" if ref.note else "")]


def _distinct(values):
    counts = collections.Counter(values)
    return "; ".join(f"{v} ({counts[v]} runs)" if len(counts) > 1 else str(v) for v in sorted(counts))


def _cpu_model():
    try:
        for line in pathlib.Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _cpu_text(cpu):
    if not isinstance(cpu, dict):
        return "not recorded"
    extra = [f"{cpu['cores']} cores"] if cpu.get("cores") else []
    extra += [" ".join(cpu["flags"])] if cpu.get("flags") else []
    return f"{cpu.get('model')}" + (f" ({', '.join(extra)})" if extra else "")


def _hms(seconds):
    s = int(round(seconds))
    return f"{s // 3600} h {s % 3600 // 60:02d} m {s % 60:02d} s ({seconds:.0f} s)"


def _what_was_run(study, entries, target, target_source):
    runs_ = [e.run for e in entries]
    env = [r.config.get("environment") or {} for r in runs_]
    data = [r.config.get("data") or {} for r in runs_]
    flags = [r.flags for r in runs_]
    hw_keys = sorted({k for e in env for k in e}
                     - {"tfreg", "tensorflow", "keras", "python", "cpu", "source_commit",
                        "threads"})
    hardware = [f"{k}: {_distinct([collect.flag_text(e.get(k)) for e in env])}" for k in hw_keys]
    if any(isinstance(e.get("cpu"), dict) for e in env):  # tfreg.hardware.cpu_info()
        hardware.insert(0, "CPU: " + _distinct([_cpu_text(e.get("cpu")) for e in env]))
    else:
        hardware.append(f"CPU model: not recorded in the runs' config.json; the machine that "
                        f"generated this report: {_cpu_model()}")
    sizes = [d.get("sizes") or {} for d in data]
    wall = sum((r.summary.get("wall_time_s") or r.summary.get("train_time_s") or 0) for r in runs_)
    train = sum((r.summary.get("train_time_s") or 0) for r in runs_)
    return [
        f"- Runs: {len(entries)} ({sum(e.finished for e in entries)} finished) in "
        f"{len({e.arm for e in entries})} arms; seeds: "
        f"{' '.join(str(s) for s in sorted({e.seed for e in entries}))}",
        f"- Data: {_distinct([str(d.get('source')) for d in data])}; image shape "
        f"{_distinct([collect.flag_text(d.get('image_shape')) for d in data])}; "
        f"{_distinct([str(d.get('num_classes')) for d in data])} classes",
        f"- Split sizes (train / val / test): "
        f"{_distinct([' / '.join(str(s.get(k)) for k in ('train', 'val', 'test')) for s in sizes])}; "
        f"training subset (--train_examples, 0 = all): "
        f"{_distinct([collect.flag_text(f.get('train_examples')) for f in flags])}",
        f"- Network: {_distinct([_network(f) for f in flags])}; parameters: "
        f"{_distinct([_num(r.summary.get('params'), 1, 0) for r in runs_])}",
        f"- Epochs: {_distinct([collect.flag_text(f.get('epochs')) for f in flags])} planned; "
        f"batch size {_distinct([collect.flag_text(f.get('batch_size')) for f in flags])}",
        f"- Target training accuracy for the time-to-target column: "
        + (f"{100 * target:g}% ({target_source})" if target else "none (the study has none)"),
        f"- Hardware: {'; '.join(hardware)}",
        f"- Versions: tfreg {_distinct([str(e.get('tfreg')) for e in env])}, TensorFlow "
        f"{_distinct([str(e.get('tensorflow')) for e in env])}, Keras "
        f"{_distinct([str(e.get('keras')) for e in env])}, "
        f"Python {_distinct([str(e.get('python')) for e in env])}",
        f"- Total time of all runs: wall {_hms(wall)}, of which training {_hms(train)}",
    ] + ([f"- Source: tfreg at commit "
          f"{_distinct([e.get('source_commit') or 'not recorded' for e in env])}"]
         if any(e.get("source_commit") for e in env) else [])


def _network(flags):
    width = flags.get("width_multiplier")
    text = f"{flags.get('model')}"
    if width not in (None, 1, 1.0, "1.0", "1"):
        text += f" x{collect.flag_text(width)}"
    if flags.get("stem") and str(flags.get("model", "")).startswith("resnet"):
        text += f" ({flags.get('stem')} stem)"
    return text


def _commands(entries, inputs, study, out):
    lines = []
    for given in inputs:  # the input's own sweep, then sweeps nested in it (a study's grids)
        root = pathlib.Path(given)
        nested = sorted(p.parent for p in root.glob("*/**/sweep.json")) if root.is_dir() else []
        for where in [root, *nested]:
            recorded = _recorded_sweep(where)
            if recorded:
                lines += _retarget(recorded, where)
    if not lines:
        lines.append("# the runs: each run's flags.txt is a flagfile that repeats it exactly")
        by_arm = collections.defaultdict(list)
        for e in entries:
            by_arm[e.arm].append(e)
        for arm in sorted(by_arm):
            es = by_arm[arm]
            parents = {pathlib.PurePosixPath(e.path).parent for e in es}
            if len(parents) == 1 and all(collect.SEED_DIR.match(e.run.dir.name) for e in es):
                parent = parents.pop()
                seeds = " ".join(str(e.seed) for e in es)
                lines.append(f"for k in {seeds}; do python -m tfreg.run "
                             f"--flagfile={parent}/seed_$k/flags.txt "
                             f"--run_dir=rerun/{parent.name}/seed_$k; done")
            else:
                for e in es:
                    lines.append(f"python -m tfreg.run --flagfile={e.path}/flags.txt "
                                 f"--run_dir=rerun/{pathlib.PurePosixPath(e.path).name}")
    lines.append("# this report")
    which = f"--study={study.argument or study.name}" if study.documented else \
        f"--baseline={study.baseline}"
    lines.append(f"python -m tfreg.report {' '.join(inputs)} {which} --out={out}")
    return lines


def _retarget(command, where):
    """[command] when its --sweep_dir names `where` (the same path, or a tail of it); else the
    sweep's runs were moved since (a finished sweep's folder renamed): a comment saying so and the
    command with --sweep_dir=where, which finds the moved runs finished."""
    found = re.search(r"--sweep_dir=(\S+)", command)
    if not found:
        return [command]
    ran, parts = pathlib.PurePath(found.group(1)).parts, pathlib.PurePath(where).parts
    if ran and parts[-len(ran):] == ran:
        return [command]
    return [f"# the sweep ran into {found.group(1)} and its runs were moved to {where}; the same "
            "command with that --sweep_dir finds them finished",
            command[:found.start()] + f"--sweep_dir={where}" + command[found.end():]]


def _recorded_sweep(root):
    """The sweep command a sweep directory recorded (sweep.json "command"/"argv", or command.txt)."""
    try:
        meta = json.loads((root / "sweep.json").read_text())
        if isinstance(meta.get("command"), str):
            return meta["command"]
        if isinstance(meta.get("argv"), list):
            return " ".join(str(a) for a in meta["argv"])
    except (OSError, ValueError, AttributeError):
        pass
    try:
        return (root / "command.txt").read_text().strip().splitlines()[0]
    except (OSError, IndexError):
        return None


RULES = ("the endpoint is the test accuracy at the epoch of best validation accuracy where the runs "
         "hold a validation split (else the final epoch; with early stopping its restored epoch); "
         "TTA and MC dropout are compared with the same runs' plain accuracy on the same weights; "
         "arms that share initial weights and data order are paired by seed (a paired t interval), "
         "others get Welch's interval; runs that never left chance are left out of every comparison.")
SETTLE = ("else inconclusive, with the seeds per arm that a power analysis (80%, observed effect and "
          "spread) says would settle it")
CONVERGED = ("'converged' counts the runs whose learning rate annealed to at most 5% of its peak or "
             "whose held-out loss reached its minimum before the last quarter of the epochs.")
CAPTIONS = {
    "test_accuracy": "Test accuracy per epoch: mean over seeds, band ±1 sample std.",
    "accuracy_vs_dropout": "Final test accuracy against the dropout probability (symmetric dropout).",
    "bn_dropout_heatmap": "Batch-norm stages x dropout stages (arms that differ in nothing else): "
                          "final test accuracy and time to target.",
    "agc_heatmap": "AGC clip threshold x batch size (arms that differ in nothing else): final test "
                   "accuracy.",
    "lr": "Learning rate per epoch (rate of each epoch's first step).",
    "gap": "Train minus held-out (validation, else test) accuracy per epoch: mean over seeds, "
           "band ±1 sample std.",
    "forest": "Each claimed comparison's effect (points of test accuracy) with its 95% interval, "
              "coloured by verdict (green agrees, red disagrees, blue equivalent, grey "
              "inconclusive); the label gives the document's direction; the grey band is the "
              "±1-point equivalence margin; intervals beyond ±20 points end in a triangle.",
    "forest_sweep": "Each arm's effect against the baseline (points of test accuracy) with its 95% "
                    "interval, coloured by verdict (green higher, red lower, blue equivalent, grey "
                    "inconclusive); the grey band is the ±1-point equivalence margin; intervals "
                    "beyond ±20 points end in a triangle.",
}
NOT_DRAWN = {
    "accuracy_vs_dropout": "fewer than two symmetric dropout probabilities among the arms",
    "bn_dropout_heatmap": "no set of arms differing only in batch-norm and dropout stages, "
                          "with both varying",
    "agc_heatmap": "no set of AGC arms differing only in clip and batch size, with both varying",
}


def write_readme(study, result, entries, inputs, out, out_text, drawn):
    rows = result["rows"]
    has_val = any(r["final_val_accuracy_n"] for r in rows)
    documented = study.documented
    cells = ("Accuracies are in percent, every cell is mean ± sample std over seeds with n, square "
             "brackets a 95% t interval; results.csv holds every number (accuracies as fractions).")
    if documented:
        intro = (f"Generated by `python -m tfreg.report` from {len(entries)} run directories; source "
                 f"document: `{study.source}` ({study.setup}). {cells}")
        rules = (f"The document's numbers come from {study.setup}. Ours come from the runs above: "
                 "another dataset or training subset, a smaller network and fewer epochs on whatever "
                 "hardware the runs record. Absolute accuracy depends on the dataset (number of "
                 "classes, image size and statistics, how many training examples) and on the budget, "
                 "so our absolute numbers cannot be compared with the document's. What can be "
                 "compared is the direction of each arm's effect against the arm its document "
                 f"compares it with. The rules, fixed before the runs (issue 23): {RULES} The "
                 "verdict says whether our effect's 95% interval excludes 0 with the document's sign "
                 "(agrees) or the opposite sign (disagrees); otherwise equivalent when two one-sided "
                 f"t tests at 5% place it within ±{100 * stats.MARGIN:g} point of test accuracy (the "
                 f"same margin for every study), {SETTLE}; n/a where the document gives no delta or "
                 f"an arm has fewer than 2 usable runs. {CONVERGED}")
    else:
        intro = (f"Generated by `python -m tfreg.report` from {len(entries)} run directories, every "
                 f"arm against `{study.baseline}` (`--baseline`, no study file, so no document's "
                 f"numbers). {cells}")
        rules = (f"Every arm is compared with `{study.baseline}`. The rules (issue 23): {RULES} The "
                 "verdict says whether our effect's 95% interval lies above 0 (higher) or below 0 "
                 "(lower); otherwise equivalent when two one-sided t tests at 5% place it within "
                 f"±{100 * stats.MARGIN:g} point of test accuracy, {SETTLE}; n/a where an arm has "
                 f"fewer than 2 usable runs. {CONVERGED}")
    forest_caption = CAPTIONS["forest" if documented else "forest_sweep"]
    lines = [f"# Report: `{study.name}`", "", intro, "",
             "## Findings", "", *findings(rows, documented), "", *_explanations(study, rows),
             *(line for png in drawn.get("forest", []) for line in (f"![forest]({png})", "",
                                                                   forest_caption, "")),
             "## What was run", "", *_what_was_run(study, entries, result["target"], result["target_source"]),
             "", "## Budget and what can be compared" if documented else "## How arms are compared",
             "", rules, "",
             "## Regenerate", "", "```", *_commands(entries, inputs, study, out_text), "```", ""]
    groups = collections.defaultdict(list)
    for r in rows:
        groups[r["group"]].append(r)
    titles = [t for t, _ in study.groups if t in groups]
    titles += [t for t in groups if t not in titles]  # arms the study does not list
    lines += ["## Results", ""]
    if result["target"] is None:
        lines += ["No target training accuracy: the time-to-target column is empty.", ""]
    for title in titles:
        lines += [f"### {title}", "", "Final epoch unless labelled; best test accuracy is the "
                  "maximum over epochs, with the epoch it was reached.", "",
                  _results_table(groups[title], result["target"], has_val), "",
                  f"Against the {'document' if documented else 'baseline'} (delta = arm - the arm "
                  "in 'vs'; points of test accuracy):", "", _paper_table(groups[title], documented), ""]
    ref_rows = [ref for r in rows for ref in result["refs"].get(r["arm"], [])]
    if ref_rows:
        lines += ["### The document's numbers", "",
                  _table(["arm", "settings", "train loss", "train acc (%)", "val loss", "val acc (%)",
                          "test loss", "test acc (%)", "best test acc (%) @ epoch", "source"],
                         [_ref_line(ref) for ref in ref_rows]), ""]
    missing = [a for a in study.refs if a not in result["listed"]]
    if missing:
        lines += [f"Arms of the study with no finished run here: {', '.join(missing)}.", ""]
    lines += ["## Ranking", "", *_ranking(rows, has_val), ""]
    lines += ["## Figures", ""]
    for name in studies.FIGURES:
        for png in drawn.get(name, []):
            lines += [f"![{name}]({png})", "", CAPTIONS[name], ""]
        if not drawn.get(name) and name in study.figures:
            lines += [f"Not drawn: {name} ({NOT_DRAWN.get(name, 'no data')}).", ""]
    lines += ["## Learning-curve diagnosis", "",
              "The lecture's step 6 (seed 004) for every finished run: not learning when its held-out "
              f"accuracy never rose more than {100 * diagnose.CHANCE_MARGIN:.0f} points above chance "
              "(1 / classes; the lecture's step 2: learning rate too low or bad initialization); "
              "otherwise over-fitting when the "
              f"EMA-smoothed held-out loss ends more than {100 * diagnose.RISE:.0f}% above its minimum "
              f"or the train / held-out accuracy gap exceeds {100 * diagnose.GAP_HUGE:.0f} points; still "
              f"improving when over the last quarter of the epochs the smoothed held-out loss fell more "
              f"than {100 * diagnose.IMPROVING:.0f}% or its accuracy rose more than "
              f"{100 * diagnose.IMPROVING:.0f} point; under-fitting when the gap is below "
              f"{100 * diagnose.GAP_NONE:.0f} point; fine otherwise (held-out: validation, else test; "
              f"EMA weight {EMA_WEIGHT}).", ""]
    classes = next(((e.run.config.get("data") or {}).get("num_classes")
                    for es in result["arms"].values() for e in es), None)
    exceptional = []
    for arm, es in result["arms"].items():
        for e in es:
            ok, why = collect.converged(e.run.history)
            problem = collect.exception(e.run, classes) or ("" if ok else f"not converged: {why}")
            if problem:
                label, _ = e.diagnosis()
                exceptional.append([arm, e.seed, problem, label])
    total = sum(len(es) for es in result["arms"].values())
    lines.append(f"Exceptions only: {len(exceptional)} of {total} finished runs did not converge, "
                 "collapsed or never learned (the other runs converged and learned). The last "
                 "column is the run's label by the learning-curve recipe of the CS5489 lecture "
                 "(seed 004, tfreg.report.diagnose), defined above.")
    lines.append("")
    if exceptional:
        lines.append(_table(["arm", "seed", "what", "curve label"], exceptional))
        lines.append("")
    unfinished = result["unfinished"]
    lines += ["## Runs left out", ""]
    if unfinished:
        lines += ["These runs are left out of every number and figure above: not finished (status "
                  "other than completed / stopped_early), or skipped, malformed or a second copy "
                  "of an arm and seed (the status says which):", "",
                  _table(["arm", "seed", "status", "epochs", "run directory"],
                         [[e.arm, e.seed, e.run.status or "pending (no summary.json)",
                           f"{e.run.summary.get('epochs_completed') or len(e.run.history)}/"
                           f"{e.run.summary.get('epochs_planned') or e.run.flags.get('epochs')}",
                           f"`{e.path}`"] for e in unfinished]), ""]
    else:
        lines += ["None: every run found has finished.", ""]
    runs.atomic_write(out / "README.md", "\n".join(lines))
