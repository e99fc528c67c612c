"""tfreg.report on fake run directories written with tfreg's own writers: the numbers in
results.csv equal a direct numpy/scipy computation, unfinished runs are left out, the figures are
PNGs, a regenerated report is byte-identical, bad input exits 2 with one line, and TensorFlow is
never imported."""

import json
import math
import os
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from tfreg import config, runs
from tfreg.errors import UsageError
from tfreg.report import collect, diagnose, figures, index, readme, studies
from tfreg.report.__main__ import main
from tfreg.report.studies import STUDIES

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EPOCHS = 6
EPOCH_TIME_S = 10.0
ENV = {"tfreg": "0.1.0", "tensorflow": "2.21.0", "keras": "3.15.0", "python": "3.11.2",
       "cpu": {"model": "Test CPU 9000", "flags": ["avx2"], "cores": 2},
       "devices": ["/device:CPU:0"], "replicas": 1}
DATA = {"source": "fake", "image_shape": [28, 28, 1], "num_classes": 10,
        "sizes": {"train": 1000, "val": 0, "test": 500}}
BASE = dict(dataset="fashion_mnist", model="resnet20", width_multiplier=0.25, epochs=EPOCHS,
            learning_rate=0.01, target_train_accuracy=0.9)
# arm -> (flag overrides, final test accuracy per seed, curve shape)
ARMS = {
    "ls_baseline": ({}, [0.79, 0.80, 0.81], "overfit"),
    "ls_0.1": ({"label_smoothing": 0.1, "label_smoothing_style": "off_target"},
               [0.85, 0.86, 0.88], "overfit"),
    "ls_0.2": ({"label_smoothing": 0.2, "label_smoothing_style": "off_target"},
               [0.78, 0.83, 0.80], "overfit"),
    "augment": ({"pad_crop_pixels": 2, "flip": "horizontal", "random_erasing_prob": 0.5},
                [0.90, 0.905, 0.915], "improving"),
}
PAPER = {"ls_0.1": 0.5546 - 0.5728, "ls_0.2": 0.5549 - 0.5728, "augment": 0.7432 - 0.5728}
VERDICT = {"ls_0.1": "disagrees", "ls_0.2": "inconclusive", "augment": "agrees"}


def history(final_test, shape, seed):
    rows = []
    for i in range(EPOCHS):
        f = i / (EPOCHS - 1)
        if shape == "overfit":  # train accuracy to 100%, test loss turns up after epoch 3
            train, test_loss = 0.6 + 0.4 * f, [1.0, 0.8, 0.7, 0.8, 1.0, 1.3][i]
        else:  # train just above test, test loss still falling
            train, test_loss = final_test + 0.01 - 0.4 * (1 - f), 1.2 - 0.8 * f
        rows.append({"epoch": i + 1, "lr": 0.01 * 0.5 * (1 + math.cos(math.pi * i / EPOCHS)),
                     "loss": 2.0 * (1 - f) + 0.01, "accuracy": round(train, 6),
                     "test_loss": test_loss + 0.01 * seed,
                     "test_accuracy": round(final_test - 0.3 * (1 - f) ** 2, 6),
                     "weight_norm": 10.0 + i, "grad_norm": 1.0, "epoch_time_s": EPOCH_TIME_S + seed})
    return rows


def write_run(run_dir, overrides, rows, status="completed"):
    cfg = config.make_config(**{**BASE, **overrides, "seed": int(run_dir.name.split("_")[1])})
    cfg = cfg.replace(run_dir=str(run_dir))
    run_dir.mkdir(parents=True)
    runs.atomic_write(run_dir / "flags.txt", "# tfreg resolved flags: python -m tfreg.run "
                      "--flagfile=THIS_FILE\n" + config.to_flagfile(cfg))
    runs.write_json(run_dir / "config.json", {"flags": cfg.flat(), "environment": ENV, "data": DATA})
    runs.write_history(run_dir / "history.csv", rows)
    runs.write_json(run_dir / "summary.json", runs.make_summary(
        status, rows, EPOCHS, params=12345, wall_time_s=sum(r["epoch_time_s"] for r in rows) + 5,
        target_train_accuracy=0.9))


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    root = tmp_path_factory.mktemp("sweep")
    for arm, (overrides, finals, shape) in ARMS.items():
        for seed, final in enumerate(finals):
            write_run(root / arm / f"seed_{seed}", overrides, history(final, shape, seed))
    # unfinished: a killed run with a high accuracy that must not reach any number
    write_run(root / "ls_baseline" / "seed_3", {}, history(0.99, "overfit", 3)[:2], status="running")
    return root


@pytest.fixture(scope="module")
def report(sweep, tmp_path_factory):
    """Report written by a subprocess that also checks TensorFlow never loaded."""
    cwd = tmp_path_factory.mktemp("cwd")
    code = ("import sys; from tfreg.report.__main__ import main; "
            f"rc = main([{str(sweep)!r}, '--study=ai6103_group', '--out=out']); "
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'TF imported'; "
            "sys.exit(rc)")
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=ROOT), timeout=120)
    assert proc.returncode == 0, proc.stderr
    return cwd / "out", time.perf_counter() - start


def test_numbers_match_direct_computation(report):
    out, _ = report
    frame = pd.read_csv(out / "results.csv").set_index("arm")
    assert list(frame.index) == ["ls_baseline", "ls_0.1", "ls_0.2", "augment"]  # the study's order
    base = np.array(ARMS["ls_baseline"][1])
    for arm, (_, finals, _) in ARMS.items():
        x = np.array(finals)
        row = frame.loc[arm]
        assert row["n"] == 3 and row["final_test_accuracy_n"] == 3
        assert row["final_test_accuracy_mean"] == pytest.approx(x.mean(), abs=1e-9)
        assert row["final_test_accuracy_std"] == pytest.approx(x.std(ddof=1), abs=1e-9)
        half = stats.t.ppf(0.975, 2) * x.std(ddof=1) / math.sqrt(3)
        assert row["final_test_accuracy_ci_low"] == pytest.approx(x.mean() - half, abs=1e-9)
        assert row["final_test_accuracy_ci_high"] == pytest.approx(x.mean() + half, abs=1e-9)
        assert row["params_mean"] == 12345
        # time to the runs' target (90% train accuracy): epochs summed up to the first reaching it
        times = []
        for seed, final in enumerate(finals):
            rows = history(final, ARMS[arm][2], seed)
            reached = next((r for r in rows if r["accuracy"] >= 0.9), None)
            if reached:
                times.append(reached["epoch"] * (EPOCH_TIME_S + seed))
        assert row["time_to_target_s_n"] == len(times)
        if times:
            assert row["time_to_target_s_mean"] == pytest.approx(np.mean(times), abs=1e-6)
        if arm == "ls_baseline":
            assert row["n_unfinished"] == 1 and pd.isna(row["delta"])
            continue
        # these arms change neither the architecture nor the data order, so seeds pair: the
        # paired t interval over the per-seed differences, written out
        d = x - base
        delta, half = d.mean(), stats.t.ppf(0.975, 2) * d.std(ddof=1) / math.sqrt(3)
        assert row["method"] == "paired by seed" and row["n_compared"] == "3 pairs"
        assert row["baseline"] == "ls_baseline"
        assert row["delta"] == pytest.approx(delta, abs=1e-9)
        assert row["delta_ci_low"] == pytest.approx(delta - half, abs=1e-9)
        assert row["delta_ci_high"] == pytest.approx(delta + half, abs=1e-9)
        assert row["paper_delta"] == pytest.approx(PAPER[arm], abs=1e-9)
        assert row["verdict"] == VERDICT[arm]


def test_readme_tables_diagnosis_and_unfinished(report, sweep):
    out, _ = report
    text = (out / "README.md").read_text()
    assert "80.00 ± 1.00 (n=3)" in text  # ls_baseline test accuracy, the killed run left out
    assert "ls_baseline/seed_3" in text and "running" in text and "left out" in text
    assert "python -m tfreg.report" in text and "--study=ai6103_group --out=out" in text
    assert f"--flagfile={sweep}/augment/seed_$k/flags.txt" in text
    assert "cannot be compared" in text and "57.28" in text
    assert "CPU: Test CPU 9000 (2 cores, avx2)" in text and "TensorFlow 2.21.0, Keras 3.15.0" in text
    frame = pd.read_csv(out / "results.csv").set_index("arm")
    assert frame.loc["ls_baseline", "diagnosis"] == "over-fitting:3"
    assert frame.loc["augment", "diagnosis"] == "still improving:3"
    assert "changes" in frame and "label_smoothing=0.1" in frame.loc["ls_0.1", "changes"]
    ranking = text.split("## Ranking")[1].split("## Figures")[0]
    order = [line.split(" | ")[1] for line in ranking.splitlines() if line.startswith("| ")][1:]
    assert order == ["augment", "ls_0.1", "ls_0.2", "ls_baseline"]  # mean test acc 90.7 .. 80.0
    assert "no validation split, so do not choose settings by this ranking" in ranking


def test_ranking_prefers_validation_accuracy():
    from tfreg.report import readme

    def row(arm, val, test):
        r = {"arm": arm, "changes": ""}
        for key, v in (("final_val_accuracy", val), ("final_test_accuracy", test)):
            r.update({f"{key}_n": 2, f"{key}_mean": v, f"{key}_std": 0.01})
        return r

    lines = readme._ranking([row("a", 0.80, 0.90), row("b", 0.85, 0.70)], has_val=True)
    table = [l.split(" | ")[1] for l in "\n".join(lines).splitlines() if l.startswith("| ")][1:]
    assert table == ["b", "a"] and "validation accuracy" in lines[0]


def test_figures_are_pngs(report):
    out, _ = report
    for name in ("test_accuracy", "lr", "gap"):
        assert (out / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert f"({name}.png)" in (out / "README.md").read_text()


def test_regenerated_report_is_byte_identical(report, sweep, monkeypatch):
    out, _ = report
    first = {p.name: p.read_bytes() for p in out.iterdir()}
    monkeypatch.chdir(out.parent)
    moved = out.parent / "first"
    out.rename(moved)
    try:
        assert main([str(sweep), "--study=ai6103_group", "--out=out"]) == 0
        assert {p.name: p.read_bytes() for p in out.iterdir()} == first
    finally:
        if out.exists():
            for p in out.iterdir():
                p.unlink()
            out.rmdir()
        moved.rename(out)


def test_index_table(report, tmp_path):
    out, _ = report
    reports = tmp_path / "reports"
    (reports / "ai6103_group").mkdir(parents=True)
    (reports / "ai6103_group" / "results.csv").write_bytes((out / "results.csv").read_bytes())
    assert main(["--index", str(reports)]) == 0
    text = (reports / "README.md").read_text()
    assert "| ai6103_group | ls_0.1 | ls_baseline |" in text
    assert "disagrees" in text and "[ai6103_group](ai6103_group/README.md)" in text
    claims = [line for line in text.splitlines() if line.startswith("| ai6103_group |")]
    settled = [line for line in claims if any(f"| {v} |" in line
                                              for v in ("agrees", "disagrees", "equivalent"))]
    assert (f"Conclusive (agrees, disagrees or equivalent): {len(settled)} of {len(claims)} "
            f"({len(settled) / len(claims):.0%}).") in text
    assert index.write_index(reports).read_text() == text


@pytest.mark.parametrize("args, message", [
    (["--study=nope", "x"], "--study=nope: neither a built-in study (ai6103_group, "),
    (["{empty}", "--study=ai6103_group"], "no run directories"),
    (["{empty}"], "give --study=NAME_OR_FILE (built-in: ai6103_group"),
    (["{empty}", "--study=ai6103_group", "--baseline=a"], "not both"),
    (["/does/not/exist", "--study=ai6103_group"], "is not a directory"),
    (["{empty}", "--study={empty}/bad.toml"], "study file {empty}/bad.toml: not valid TOML"),
])
def test_bad_input_one_line_exit_2(tmp_path, args, message):
    args = [a.replace("{empty}", str(tmp_path)) for a in args]
    message = message.replace("{empty}", str(tmp_path))
    (tmp_path / "bad.toml").write_text('source = "doc.pdf"\nsetup = unquoted text\n')
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "tfreg.report", *args, f"--out={tmp_path}/out"],
                          capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=ROOT),
                          cwd=tmp_path, timeout=60)
    elapsed = time.perf_counter() - start
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tfreg.report: error: ") and message in lines[0]
    assert not (tmp_path / "out").exists()
    assert elapsed < 5, f"tfreg.report took {elapsed:.1f} s to reject bad input"


def test_grid_heatmaps_and_dropout_curve(tmp_path):
    """BN stages x dropout stages (two probabilities, plus arms without dropout) and AGC clip x
    batch size grids; an arm that also changes augmentation stays out of the grid."""
    root = tmp_path / "grid"
    for bn in ("1", "1,2"):
        for rates in ("", "0.2", "0.2,0.2", "0.5", "0.5,0.5"):
            arm = f"bn{bn.count(',') + 1}_do{rates or 'none'}"
            write_run(root / arm / "seed_0", {"model": "resnet50", "norm_stages": bn, "dropout_rates": rates,
                                              "target_train_accuracy": 0.0}, history(0.7, "overfit", 0))
    write_run(root / "sym_augment" / "seed_0", {"model": "resnet50", "norm_stages": "1,2",
                                                "dropout_rates": "0.2,0.2", "pad_crop_pixels": 2,
                                                "target_train_accuracy": 0.0}, history(0.9, "overfit", 0))
    for clip in (0.01, 0.02):
        for batch in (64, 128):
            write_run(root / f"agc{clip}_b{batch}" / "seed_0",
                      {"model": "resnet50", "norm": "none", "agc_clip": clip, "batch_size": batch},
                      history(0.6, "overfit", 0))
    out = tmp_path / "out"
    assert main([str(root), "--study=resnet50_regularization", f"--out={out}"]) == 0
    for name in ("bn_dropout_accuracy_p0.2", "bn_dropout_accuracy_p0.5", "bn_dropout_time_to_target_p0.2",
                 "agc_accuracy", "accuracy_vs_dropout"):
        assert (out / f"{name}.png").read_bytes()[:4] == b"\x89PNG", name
    text = (out / "README.md").read_text()
    assert "Not drawn" not in text
    assert "time to 87% train acc" in text  # the study's target
    arms = {}
    for e in collect.gather([root]):
        arms.setdefault(e.arm, []).append(e)
    cells = figures.grid_cells(arms, "dropout_stages", "bn_stages",
                               ("norm", "norm_stages", "dropout_rates"), "dropout_prob")
    assert sorted(cells) == [0.2, 0.5]
    assert sorted(cells[0.2]) == [(0, 1), (0, 2), (1, 1), (1, 2), (2, 1), (2, 2)]
    assert [e.arm for e in cells[0.2][(2, 2)]] == ["bn2_do0.2,0.2"]  # not sym_augment


def test_diagnosis_labels():
    flat = [{"epoch": i + 1, "accuracy": 0.80, "test_accuracy": 0.795, "test_loss": 0.5} for i in range(8)]
    assert diagnose.diagnose(flat)[0] == "under-fitting"
    gap = [dict(r, accuracy=0.83) for r in flat]
    assert diagnose.diagnose(gap)[0] == "fine"
    huge = [dict(r, accuracy=0.99) for r in flat]
    label, why = diagnose.diagnose(huge)
    assert label == "over-fitting" and "increase regularization" in why
    val = [dict(r, val_accuracy=0.79, val_loss=0.5 - 0.05 * i) for i, r in enumerate(flat)]
    assert diagnose.diagnose(val)[0] == "still improving" and "val loss" in diagnose.diagnose(val)[1]
    assert diagnose.diagnose([{"epoch": 1, "accuracy": 0.5}])[0] == "unknown"
    chance = [dict(r, accuracy=0.11, test_accuracy=0.10 + 0.02 * (i == 3), test_loss=2.30)
              for i, r in enumerate(flat)]  # best 12.0%: exactly 2 points above 1 / 10
    label, why = diagnose.diagnose(chance, num_classes=10)
    assert label == "not learning" and "best test accuracy 12.0%" in why and "initialization" in why
    assert diagnose.diagnose(chance)[0] != "not learning"  # classes unknown: the rule is off
    above = [dict(r, test_accuracy=0.1201 if i == 3 else r["test_accuracy"]) for i, r in enumerate(chance)]
    assert diagnose.diagnose(above, num_classes=10)[0] != "not learning"


def test_reference_tables_are_consistent():
    for study in STUDIES.values():
        refs = study.refs
        for ref in refs.values():
            assert ref.baseline is None or ref.baseline in refs, (study.name, ref.arm)
            for v in (ref.test_accuracy, ref.best_test_accuracy, ref.train_accuracy, ref.val_accuracy):
                assert v is None or 0 < v < 1, (study.name, ref.arm)
        assert not refs or study.baseline in refs
    assert json.dumps(sorted(STUDIES)) == json.dumps(
        ["ai6103_group", "ai6103_hparams", "bn_resnet18", "cs5489_lecture", "resnet50_regularization"])


STUDY_FILE = """source = "our notes, 2024"
setup = "two settings"
baseline = "ls_baseline"

[[groups]]
title = "Smoothing"

[[groups.arms]]
arm = "ls_baseline"
test_accuracy = 0.5

[[groups.arms]]
arm = "ls_0.1"
baseline = "ls_baseline"
claim = "lower"
"""


def test_a_study_file_of_ones_own(sweep, tmp_path, monkeypatch):
    path = tmp_path / "mine.toml"
    path.write_text(STUDY_FILE)
    monkeypatch.chdir(tmp_path)
    assert main([str(sweep), f"--study={path}", "--out=out"]) == 0
    frame = pd.read_csv(tmp_path / "out" / "results.csv", keep_default_na=False).set_index("arm")
    assert list(frame.index) == ["ls_baseline", "ls_0.1", "augment", "ls_0.2"]
    # ours is higher by 6-7 points on every seed; the file claims lower
    assert frame.loc["ls_0.1", "reference"] == "claim: lower"
    assert frame.loc["ls_0.1", "verdict"] == "disagrees"
    # an arm the file does not list: compared with its baseline, no direction to judge
    assert frame.loc["augment", "baseline"] == "ls_baseline"
    assert frame.loc["augment", "verdict"] == "n/a" and frame.loc["augment", "group"] == "Other arms"
    text = (tmp_path / "out" / "README.md").read_text()
    assert text.startswith("# Report: `mine`")
    assert "source document: `our notes, 2024` (two settings)" in text
    assert f"--study={path} --out=out" in text and "| ls_0.1 vs ls_baseline | lower |" in text
    assert "Explaining runs" not in text


def test_a_disagreement_shows_its_explaining_run_under_the_findings(sweep, tmp_path, monkeypatch):
    path = tmp_path / "mine.toml"
    path.write_text(STUDY_FILE.replace('test_accuracy = 0.5\n', 'test_accuracy = 0.5\n'
                                       'explained = "not shown: the baseline does not disagree"\n')
                    + 'explained = "on 8 times the data: -0.2 [-0.5, +0.1], equivalent"\n')
    monkeypatch.chdir(tmp_path)
    assert main([str(sweep), f"--study={path}", "--out=out"]) == 0
    text = (tmp_path / "out" / "README.md").read_text()
    findings = text.split("## Findings")[1].split("## What was run")[0]
    assert "Explaining runs for the disagreements:\n\n- `ls_0.1`: on 8 times the data: -0.2 " \
        "[-0.5, +0.1], equivalent\n" in findings
    assert "not shown" not in text


@pytest.mark.parametrize("change, message", [
    (('setup = "two settings"\n', ""),
     "the file has no 'setup' (the document's setup, one sentence); add it"),
    (('baseline = "ls_baseline"\nclaim', 'baseline = "ls_base"\nclaim'),
     "arm 'ls_0.1' is compared with 'ls_base', which the file does not define; add that arm"),
    (("test_accuracy = 0.5", "test_accuracy = 50"),
     "test_accuracy = 50 of arm 'ls_baseline' is not a fraction; write 0.5 for 50%"),
    (("test_accuracy = 0.5", 'test_accuracy = "0.5"'),
     "test_accuracy in arm 'ls_baseline' is '0.5', not a number"),
    (('claim = "lower"', 'claim = "down"'), "claim = 'down': write one of higher, lower"),
    (("title", "titel"), "unknown field 'titel' in group 1 (known: title, arms); fix its name"),
    (('arm = "ls_0.1"', 'arm = "ls_baseline"'), "arm 'ls_baseline' is defined twice"),
    (("test_accuracy = 0.5", "test_loss = nan"), "test_loss of arm 'ls_baseline' is nan"),
    (('source = "our notes, 2024"', 'source = ""'), "source is empty"),
    (('source = "our notes, 2024"', 'source = "our notes'), "not valid TOML (Illegal character"),
])
def test_a_bad_study_file_is_refused_in_one_line(change, message):
    bad = STUDY_FILE.replace(*change)
    assert bad != STUDY_FILE
    with pytest.raises(UsageError) as caught:
        studies.parse(bad, "mine", "mine.toml")
    text = str(caught.value)
    assert text.startswith("study file mine.toml: ") and message in text and "\n" not in text


def test_the_documented_example_study_file_is_valid():
    with open(os.path.join(ROOT, "docs", "guide", "reports.md")) as f:
        example = f.read().split("```toml\n")[1].split("```")[0]
    study = studies.parse(example, "example", "docs/guide/reports.md")
    assert list(study.refs) == ["base", "dropout_0.3", "dropout_0.5"]
    assert study.refs["dropout_0.5"].claim == "higher" and study.refs["base"].test_accuracy == 0.912


def test_a_sweep_of_ones_own_against_a_baseline(tmp_path, monkeypatch):
    """No study file: a two-arm sweep of the user's own, the arm against --baseline with the
    same statistics (here Welch's interval: the width changes the initial weights) and a verdict
    without a document's direction."""
    root = tmp_path / "my_sweep"
    finals = {"narrow": [0.70, 0.72, 0.71], "wide": [0.80, 0.83, 0.81]}
    for arm, values in finals.items():
        for seed, final in enumerate(values):
            write_run(root / arm / f"seed_{seed}", {"width_multiplier": 1.0} if arm == "wide" else {},
                      history(final, "improving", seed))
    monkeypatch.chdir(tmp_path)
    assert main([str(root), "--baseline=narrow", "--out=mine"]) == 0
    frame = pd.read_csv(tmp_path / "mine" / "results.csv").set_index("arm")
    assert list(frame.index) == ["narrow", "wide"] and pd.isna(frame.loc["narrow", "verdict"])
    row = frame.loc["wide"]
    wide, narrow = np.array(finals["wide"]), np.array(finals["narrow"])
    ci = stats.ttest_ind(wide, narrow, equal_var=False).confidence_interval(0.95)
    assert row["method"] == "Welch" and row["changes"] == "width_multiplier=1"
    assert row["delta"] == pytest.approx(wide.mean() - narrow.mean(), abs=1e-9)
    assert (row["delta_ci_low"], row["delta_ci_high"]) == pytest.approx((ci.low, ci.high), abs=1e-9)
    assert row["verdict"] == "higher" and pd.isna(row["reference"]) and pd.isna(row["paper_delta"])
    text = (tmp_path / "mine" / "README.md").read_text()
    assert text.startswith("# Report: `mine`") and "every arm against `narrow`" in text
    assert "1 comparisons: 1 higher." in text and "| wide vs narrow | +10.33 [" in text
    assert "## How arms are compared" in text and "paper" not in text and "agrees" not in text
    assert "### Arms" in text and "| wide | narrow | `width_multiplier=1` |" in text
    assert f"python -m tfreg.report {root} --baseline=narrow --out=mine" in text
    for name in ("test_accuracy", "lr", "gap", "forest"):
        assert f"({name}.png)" in text and (tmp_path / "mine" / f"{name}.png").is_file()


def test_a_baseline_that_is_not_an_arm_is_refused(sweep, tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        main([str(sweep), "--baseline=nope", f"--out={tmp_path}/out"])
    assert stop.value.code == 2
    assert capsys.readouterr().err == (
        f"tfreg.report: error: --baseline=nope: no finished run of that arm under {sweep}; "
        "arms: augment, ls_0.1, ls_0.2, ls_baseline\n")
    assert not (tmp_path / "out").exists()


def test_a_flag_only_one_run_records_is_not_a_change():
    from tfreg.report import collect

    old = {"model": "resnet18", "weight_decay": "0"}
    new = {"model": "resnet18", "weight_decay": "1e-05", "batch_norm_kernel": "keras"}
    assert collect.changed_flags(new, old) == ["weight_decay=1e-05"]


def test_regenerate_lists_the_input_sweep_and_the_sweeps_nested_in_it(tmp_path):
    root = tmp_path / "runs"
    for sub, command in (("", "python -m tfreg.sweep a.flags --sweep_dir=runs"),
                         ("grid_b", "python -m tfreg.sweep --grid=x=1|2 --sweep_dir=runs/grid_b"),
                         ("grid_a", "python -m tfreg.sweep --grid=y=1|2 --sweep_dir=runs/grid_a")):
        (root / sub).mkdir(parents=True, exist_ok=True)
        (root / sub / "sweep.json").write_text(json.dumps({"command": command}))
    lines = readme._commands([], [str(root)], STUDIES["resnet50_regularization"], "out")
    assert lines == ["python -m tfreg.sweep a.flags --sweep_dir=runs",
                     "python -m tfreg.sweep --grid=y=1|2 --sweep_dir=runs/grid_a",
                     "python -m tfreg.sweep --grid=x=1|2 --sweep_dir=runs/grid_b",
                     "# this report",
                     f"python -m tfreg.report {root} --study=resnet50_regularization --out=out"]


def test_duplicates_and_malformed_runs_are_listed_and_left_out(tmp_path):
    """Issue 25, classes 3 and 6: two sweep folders that both hold ls_baseline/seed_0 count it
    once and say so; a run whose history.csv holds a text, or whose summary.json holds a text
    where a number belongs, is listed with its reason and the report goes on."""
    one, two = tmp_path / "one", tmp_path / "two"
    for root in (one, two):
        write_run(root / "ls_baseline" / "seed_0", {}, history(0.80, "overfit", 0))
    write_run(one / "ls_baseline" / "seed_1", {}, history(0.81, "overfit", 1))
    write_run(one / "ls_0.1" / "seed_0", ARMS["ls_0.1"][0], history(0.85, "overfit", 0))
    broken = one / "ls_0.1" / "seed_1"
    write_run(broken, ARMS["ls_0.1"][0], history(0.86, "overfit", 1))
    (broken / "history.csv").write_text("epoch,loss\n1,abc\n")
    texty = one / "ls_0.1" / "seed_2"
    write_run(texty, ARMS["ls_0.1"][0], history(0.87, "overfit", 2))
    summary = json.loads((texty / "summary.json").read_text())
    summary["final_test_accuracy"] = "high"
    (texty / "summary.json").write_text(json.dumps(summary))
    # config.json fields of the wrong type: flags that are not a mapping, an environment that is
    # a number (the report crashed on it)
    for seed, config_json in ((3, {"flags": "x"}), (4, {"flags": {}, "environment": 5})):
        bad_config = one / "ls_0.1" / f"seed_{seed}"
        write_run(bad_config, ARMS["ls_0.1"][0], history(0.88, "overfit", seed))
        (bad_config / "config.json").write_text(json.dumps(config_json))
    out = tmp_path / "out"
    assert main([str(one), str(two), "--study=ai6103_group", f"--out={out}"]) == 0
    frame = pd.read_csv(out / "results.csv").set_index("arm")
    assert frame.loc["ls_baseline", "n"] == 2 and frame.loc["ls_baseline", "seeds"] == "0 1"
    assert frame.loc["ls_0.1", "n"] == 1
    text = (out / "README.md").read_text()
    assert f"skipped: duplicate of {one}/ls_baseline/seed_0" in text
    assert "skipped: ValueError" in text and "final_test_accuracy is not a number" in text
    assert "config.json: flags is not a mapping ('x')" in text
    assert "config.json: environment is not a mapping (5)" in text


def test_an_out_that_cannot_be_written_is_refused_before_the_report(sweep, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    for out, says in ((blocker, "is a file"), (blocker / "sub", "not a writable folder")):
        proc = subprocess.run([sys.executable, "-m", "tfreg.report", str(sweep),
                               "--study=ai6103_group", f"--out={out}"], capture_output=True,
                              text=True, env=dict(os.environ, PYTHONPATH=ROOT), timeout=120)
        assert proc.returncode == 2 and says in proc.stderr and "Traceback" not in proc.stderr


def test_the_report_names_the_commit_its_runs_ran_at(tmp_path, monkeypatch):
    """issue 23: each report records the commit its sweep ran at (config.json's
    environment.source_commit, written by tfreg.train.runtime.source_commit)."""
    root = tmp_path / "s"
    for arm in ("a", "b"):
        for seed in (0, 1):
            write_run(root / arm / f"seed_{seed}", {"width_multiplier": 1.0} if arm == "b" else {},
                      history(0.8, "improving", seed))
            config_path = root / arm / f"seed_{seed}" / "config.json"
            recorded = json.loads(config_path.read_text())
            if (arm, seed) != ("b", 1):
                recorded["environment"] = {**ENV, "source_commit": "0123abc"}
            runs.write_json(config_path, recorded)
    monkeypatch.chdir(tmp_path)
    assert main([str(root), "--baseline=a", "--out=r"]) == 0
    text = (tmp_path / "r" / "README.md").read_text()
    assert "- Source: tfreg at commit 0123abc (3 runs); not recorded (1 runs)" in text


def test_source_commit_of_this_checkout():
    from tfreg.train.runtime import source_commit  # imports TensorFlow: the function is small

    sha = subprocess.run(["git", "-C", ROOT, "rev-parse", "HEAD"], capture_output=True,
                         text=True).stdout.strip()
    assert source_commit().split("+")[0] == sha


ALIAS_STUDY = """source = "our notes"
setup = "one network, four ways"
baseline = "base"

[[groups]]
title = "Heads"

[[groups.arms]]
arm = "base"
test_accuracy = 0.5

[[groups.arms]]
arm = "full"
baseline = "base"
test_accuracy = 0.6

[[groups]]
title = "Optimizers"

[[groups.arms]]
arm = "opt_adam"
same_as = "full"
test_accuracy = 0.61

[[groups.arms]]
arm = "opt_sgd"
baseline = "opt_adam"
test_accuracy = 0.55
"""


def _alias_sweep(root, arms):
    """Three seeds of each arm: {arm: flag overrides}; final test accuracy by arm."""
    finals = {"base": 0.70, "full": 0.80, "opt_sgd": 0.75, "copy": 0.80, "opt_adam": 0.79}
    for arm, overrides in arms.items():
        for seed in range(3):
            jitter = (0.0, 0.004, -0.002)[seed] if arm == "opt_sgd" else 0.0  # a spread of deltas
            write_run(root / arm / f"seed_{seed}", overrides,
                      history(finals.get(arm, 0.8) + 0.01 * seed + jitter, "improving", seed))


def test_an_arm_identical_to_another_is_listed_once(tmp_path, monkeypatch):
    """Issue 23: opt_adam is the same experiment as full (the study file's same_as; its sweep
    ran full only): one row `full = opt_adam`, and opt_sgd's comparison with opt_adam uses full's
    runs. `copy` recorded the same flags as full and the study does not list it: its runs are
    left out as a copy, and the row's name says it stands for copy too."""
    root = tmp_path / "sweep"
    full = {"head": "multiscale"}
    _alias_sweep(root, {"base": {}, "full": full, "opt_sgd": {**full, "optimizer": "adam"},
                        "copy": full})
    (tmp_path / "mine.toml").write_text(ALIAS_STUDY)
    monkeypatch.chdir(tmp_path)
    assert main([str(root), "--study=mine.toml", "--out=out"]) == 0
    frame = pd.read_csv(tmp_path / "out" / "results.csv", keep_default_na=False).set_index("arm")
    assert list(frame.index) == ["base", "full = opt_adam = copy", "opt_sgd"]
    row = frame.loc["opt_sgd"]
    assert row["baseline"] == "full = opt_adam = copy" and row["changes"] == "optimizer=adam"
    assert float(row["paper_delta"]) == pytest.approx(0.55 - 0.61)  # the document's opt_adam's
    assert float(row["delta"]) == pytest.approx(-0.05, abs=0.001) and row["method"] == "paired by seed"
    assert int(frame.loc["full = opt_adam = copy", "n"]) == 3
    text = (tmp_path / "out" / "README.md").read_text()
    assert "| full = opt_adam = copy vs base |" in text and "| opt_sgd vs full = opt_adam = copy |" in text
    assert "| opt_adam | " in text  # the document's numbers of both arms
    assert text.count("skipped: identical to full (listed once)") == 3
    assert "no finished run here" not in text  # opt_adam is listed, as full


def test_an_aliased_arm_with_runs_of_its_own_keeps_them(tmp_path, monkeypatch):
    """Real runs come first: opt_adam, listed by the study as the same as full, ran (before the
    sweep knew): it keeps its row and its comparisons, as a report of those runs always did."""
    root = tmp_path / "sweep"
    full = {"head": "multiscale"}
    _alias_sweep(root, {"base": {}, "full": full, "opt_adam": full,
                        "opt_sgd": {**full, "optimizer": "adam"}})
    (tmp_path / "mine.toml").write_text(ALIAS_STUDY)
    monkeypatch.chdir(tmp_path)
    assert main([str(root), "--study=mine.toml", "--out=out"]) == 0
    frame = pd.read_csv(tmp_path / "out" / "results.csv", keep_default_na=False).set_index("arm")
    assert list(frame.index) == ["base", "full", "opt_adam", "opt_sgd"]
    assert frame.loc["opt_sgd", "baseline"] == "opt_adam"
    assert float(frame.loc["opt_sgd", "delta"]) == pytest.approx(0.75 - 0.79, abs=0.001)


def test_a_sweeps_recorded_aliases_and_names_are_what_the_report_shows(tmp_path, monkeypatch):
    """No study file: sweep.json's "identical" lists b2 with b, whatever its flags; "names" gives
    a kept folder name its readable name. An arm compared with its own alias is identical, not
    computed."""
    root = tmp_path / "sweep"
    _alias_sweep(root, {"a": {}, "b": {"head": "multiscale"}, "norm_stages=": {"norm_stages": ""}})
    (root / "sweep.json").write_text(json.dumps({
        "command": "python -m tfreg.sweep ...", "identical": {"b2": "b"},
        "names": {"norm_stages=": "norm_stages=none"}}))
    monkeypatch.chdir(tmp_path)
    assert main([str(root), "--baseline=a", "--out=out"]) == 0
    frame = pd.read_csv(tmp_path / "out" / "results.csv", keep_default_na=False).set_index("arm")
    assert list(frame.index) == ["a", "b = b2", "norm_stages=none"]
    assert main([str(root), "--baseline=b2", "--out=against_b2"]) == 0  # the sweep ran it as b
    frame = pd.read_csv(tmp_path / "against_b2" / "results.csv", keep_default_na=False)
    assert frame.set_index("arm").loc["a", "baseline"] == "b = b2"
    study = studies.parse(ALIAS_STUDY.replace('arm = "full"\nbaseline = "base"',
                                              'arm = "full"\nbaseline = "opt_adam"'), "s", "s.toml")
    from tfreg.report import build, collect

    result = build.analyse(study, collect.gather([str(root)]), {"full": "b"})
    (row,) = [r for r in result["rows"] if r["arm"] == "b = full = opt_adam"]
    assert row["verdict"] == "identical" and row["method"] == "same runs"
    assert math.isnan(row["delta"]) and row["changes"] == ""


@pytest.mark.parametrize("change, message", [
    (('same_as = "full"', 'same_as = "fulll"'),
     "arm 'opt_adam': same_as = 'fulll' is not an arm of the file; define it or fix the name"),
    (('same_as = "full"', 'same_as = "opt_adam"'), "arm 'opt_adam' is the same as itself"),
    (('arm = "opt_sgd"\nbaseline = "opt_adam"', 'arm = "opt_sgd"\nsame_as = "opt_adam"'),
     "arm 'opt_sgd': same_as = 'opt_adam', which is itself the same as 'full'; write same_as = 'full'"),
    (('same_as = "full"', "same_as = 1"), "same_as in arm 'opt_adam' is 1, not a text"),
])
def test_same_as_names_an_arm_of_the_file_that_is_no_alias_itself(change, message):
    """No chains, so no cycles: every alias names the arm its group is listed under."""
    bad = ALIAS_STUDY.replace(*change)
    assert bad != ALIAS_STUDY
    with pytest.raises(UsageError) as caught:
        studies.parse(bad, "mine", "mine.toml")
    assert message in str(caught.value)
    assert studies.parse(ALIAS_STUDY, "mine", "mine.toml").refs["opt_adam"].same_as == "full"


def test_claim_flags_that_are_not_names_are_one_line():
    text = (studies._builtin_dir() / "cs5489_lecture.toml").read_text()
    text = text.replace("claim_flags = [", 'claim_flags = [["x"], ', 1)
    with pytest.raises(UsageError, match="claim_flags is a list of flag names"):
        studies.parse(text, "cs5489_lecture", "bad.toml")


def test_regenerate_points_a_moved_sweep_at_its_new_folder(tmp_path):
    """A finished sweep renamed (runs_v2 -> runs): the command is given for where the runs are,
    and a comment says where they ran."""
    root = tmp_path / "study" / "runs"
    root.mkdir(parents=True)
    (root / "sweep.json").write_text(json.dumps(
        {"command": "python -m tfreg.sweep a.flags --seeds=0,1 --sweep_dir=study/runs_v2 --parallel=2"}))
    lines = readme._commands([], [str(root)], STUDIES["resnet50_regularization"], "out")
    assert lines[:2] == [
        f"# the sweep ran into study/runs_v2 and its runs were moved to {root}; the same command "
        "with that --sweep_dir finds them finished",
        f"python -m tfreg.sweep a.flags --seeds=0,1 --sweep_dir={root} --parallel=2"]
