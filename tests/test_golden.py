"""Behaviour pinned byte for byte: every flag, every committed flagfile's config, flags.txt and
--dry_run summary, and a deterministic tiny run (tests/golden_record.py says what and how to
regenerate)."""

import json
import os

import pytest

import golden_record as g

REGEN = os.environ.get("TFREG_REGEN_GOLDEN") == "1"


def _check_json(name, value):
    path = g.GOLDEN / name
    if REGEN:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(value, indent=1, sort_keys=True) + "\n")
    golden = json.loads(path.read_text())
    assert sorted(value) == sorted(golden)
    for key in golden:
        assert value[key] == golden[key], key


def test_flags_unchanged():
    _check_json("flags.json", g.flag_table())


def test_flagfile_configs_and_flags_txt_unchanged():
    _check_json("flagfiles.json", g.flagfile_records())


QUICK = ["experiments/smoke.flags", "experiments/asym_dropout.flags",
         "experiments/resnet50_regularization/mini/base.flags"]


def test_dry_run_unchanged_quick():
    golden = json.loads((g.GOLDEN / "dry_run.json").read_text())
    for path, text in g.dry_run_records(QUICK).items():
        assert text == golden[path], path


@pytest.mark.slow
def test_dry_run_unchanged_every_flagfile():
    _check_json("dry_run.json", g.dry_run_records())


@pytest.mark.slow
def test_tiny_run_unchanged(tmp_path):
    out = g.tiny_run(tmp_path / "run")
    for name, text in out.items():
        path = g.GOLDEN / "tiny_run" / name
        if REGEN:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        assert text == path.read_text(), name
