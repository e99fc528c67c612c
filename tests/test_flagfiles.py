"""Every flagfile under experiments/ parses, passes the cross-flag checks and builds its model with
its dataset's class count and image shape (no dataset needed); the study folders hold an arm file
and a mini arm file for every arm of the report's reference tables."""

import dataclasses
import pathlib

import pytest

from tfreg.flags import parse_args
from tfreg import validation
from tfreg.models.build import build_model
from tfreg.report.studies import STUDIES

ROOT = pathlib.Path(__file__).resolve().parent.parent
EXPERIMENTS = ROOT / "experiments"
FLAGFILES = sorted(p.relative_to(ROOT).as_posix() for p in EXPERIMENTS.rglob("*.flags"))
SHAPES = {"cifar10": ((32, 32, 3), 10), "cifar100": ((32, 32, 3), 100),
          "fashion_mnist": ((28, 28, 1), 10), "synthetic": ((32, 32, 3), 10)}


def _parse(path, monkeypatch):
    monkeypatch.chdir(ROOT)  # nested --flagfile paths are relative to the working directory
    return parse_args(["prog", f"--flagfile={path}"])


def _lines(path):
    return (ROOT / path).read_text().splitlines()


def test_every_flagfile_parses_validates_and_builds(monkeypatch):
    assert len(FLAGFILES) > 100
    built = {}
    for path in FLAGFILES:
        cfg = _parse(path, monkeypatch)
        validation.validate(cfg)
        shape, classes = SHAPES[cfg.data.dataset]
        classes = len(cfg.data.classes) or classes
        key = (cfg.model, cfg.data.normalize, shape, classes)
        if key not in built:  # one build per distinct network (full-size ResNets take seconds)
            net = build_model(cfg, shape, classes)
            assert net.output_shape == (None, classes), path
            built[key] = path


def test_flagfiles_document_themselves():
    for path in FLAGFILES:
        lines = _lines(path)
        header = [line for line in lines if line.startswith("#")]
        flags_ = [line for line in lines if line.strip() and not line.startswith("#")]
        assert header and lines[0].startswith("#"), f"{path}: no header comment"
        # absl strips whole-line comments only: a '#' after a flag would become part of its value
        assert all(line.startswith("--") and "#" not in line for line in flags_), path
        if path.count("/") == 1 and path != "experiments/asym_dropout.flags" or \
                path.startswith("experiments/checks/") or path.endswith("base.flags"):
            continue  # quickstart and checks predate the study layout
        text = "\n".join(header)
        assert "Command: python -m tfreg.run --flagfile=" + path in text, path
        assert "Reference:" in text or "Same arm as" in text, path


def test_study_arms_and_mini_arms_exist_and_include_their_base(monkeypatch):
    for name, study in STUDIES.items():
        folder = f"experiments/{name}"
        arms = {p.stem for p in (ROOT / folder).glob("*.flags")} - {"base"}
        minis = {p.stem for p in (ROOT / folder / "mini").glob("*.flags")} - {"base"}
        assert set(study.refs) <= arms, (name, set(study.refs) - arms)
        assert arms == minis, (name, arms ^ minis)
        assert (ROOT / folder / "README.md").exists()
        for arm in arms:
            for path, base in ((f"{folder}/{arm}.flags", f"{folder}/base.flags"),
                               (f"{folder}/mini/{arm}.flags", f"{folder}/mini/base.flags")):
                first = next(line for line in _lines(path) if not line.startswith("#"))
                assert first.startswith(f"--flagfile={folder}/"), path
                assert _includes(path, base), f"{path} does not include {base}"
            mini = _parse(f"{folder}/mini/{arm}.flags", monkeypatch)
            assert mini.data.dataset == "fashion_mnist" and mini.data.train_examples > 0
            assert mini.run.verbose == 2


def _includes(path, target):
    for line in _lines(path):
        if line.startswith("--flagfile="):
            inner = line.split("=", 1)[1]
            if inner == target or _includes(inner, target):
                return True
    return False


def test_mini_arm_changes_what_its_full_arm_changes(monkeypatch):
    # the mini arm differs from its mini base where the full arm differs from its base, and
    # nowhere else except the budget (epochs, steps, lr step epochs, sizes scaled to 28x28) and
    # what the mini design rules change (MINI_RULES.md): the validation split (rule 2) and the
    # schedule annealed to 0 where the document's arm is not about a constant rate (rule 1)
    budget = {"epochs", "steps_per_epoch", "lr_step_epochs", "cutout_pixels", "batch_size",
              "early_stopping_patience", "run_dir", "val_split", "split_mode", "lr_schedule",
              "lr_min"}
    for name in STUDIES:
        folder = f"experiments/{name}"
        full_base = dataclasses.asdict(_parse(f"{folder}/base.flags", monkeypatch))
        mini_base = dataclasses.asdict(_parse(f"{folder}/mini/base.flags", monkeypatch))
        for path in sorted((ROOT / folder).glob("*.flags")):
            if path.stem == "base":
                continue
            full = dataclasses.asdict(_parse(f"{folder}/{path.name}", monkeypatch))
            mini = dataclasses.asdict(_parse(f"{folder}/mini/{path.name}", monkeypatch))
            full_changes = _changed(full_base, full) - budget
            mini_changes = _changed(mini_base, mini) - budget
            assert full_changes == mini_changes, (path.name, full_changes ^ mini_changes)


def _changed(a, b):
    return {k for section in a for k, v in a[section].items() if b[section][k] != v}


def test_design_command_is_the_resnet50_studys_best_model(monkeypatch):
    cfg = _parse("experiments/asym_dropout.flags", monkeypatch)
    assert cfg.model.model == "resnet50" and cfg.data.dataset == "cifar10"
    assert cfg.model.dropout_rates == (0.1, 0.2, 0.3) and cfg.model.norm_stages == (1, 2)
    assert cfg.augment.pad_crop_pixels > 0 and cfg.augment.flip == "horizontal"


@pytest.mark.parametrize("path", ["experiments/ai6103_group/ls_baseline.flags"])
def test_later_flags_override_an_included_flagfile(path, monkeypatch):
    monkeypatch.chdir(ROOT)
    cfg = parse_args(["prog", f"--flagfile={path}", "--epochs=2"])
    assert cfg.train.epochs == 2 and cfg.train.lr_schedule == "cosine"
