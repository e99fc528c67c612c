"""End to end: a short synthetic run writes the whole run directory, beats chance, exports
models that reload to the same outputs, and its flags.txt repeats it."""

import csv
import json
import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfreg import config
from tfreg import flags as flags_lib
from tfreg.errors import RunEnded
from tfreg.regularizers import registry
from tfreg.train import loop
from conftest import run_cli

SUMMARY_KEYS = {
    "status", "epochs_completed", "train_time_s", "params", "final_train_loss",
    "final_train_accuracy", "final_val_loss", "final_val_accuracy", "final_test_loss",
    "final_test_accuracy", "best_val_accuracy", "best_val_epoch", "best_test_accuracy",
    "best_test_epoch", "time_to_target_s", "epoch_to_target"}
RUN = dict(dataset="synthetic", model="resnet8", width_multiplier=0.5, epochs=3, batch_size=64,
           learning_rate=0.05, synthetic_train_examples=1500, synthetic_test_examples=300,
           val_split=0.2, split_mode="stratified", pad_crop_pixels=2, flip="horizontal",
           target_train_accuracy=0.3, deterministic=True, verbose=0, tensorboard_images=True)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("run") / "r"
    cfg = flags_lib.make_config(run_dir=str(run_dir), **RUN)
    return cfg, run_dir, loop.train_and_evaluate(cfg, run_dir)


def test_run_directory_contract(run):
    _, run_dir, summary = run
    for name in ("flags.txt", "config.json", "history.csv", "summary.json", "model.keras"):
        assert (run_dir / name).is_file(), name
    for name in ("tb", "checkpoints", "saved_model", "plots"):
        assert any((run_dir / name).iterdir()), name
    assert (run_dir / "plots" / "loss.png").stat().st_size > 1000
    on_disk = json.loads((run_dir / "summary.json").read_text())
    assert on_disk == json.loads(json.dumps(summary))
    assert SUMMARY_KEYS <= set(on_disk)
    assert on_disk["status"] == "completed" and on_disk["epochs_completed"] == 3
    numbers = [v for v in on_disk.values() if isinstance(v, float)]
    assert numbers and all(math.isfinite(v) for v in numbers)
    cfg_json = json.loads((run_dir / "config.json").read_text())
    assert cfg_json["flags"]["model"] == "resnet8"
    assert {"tfreg", "tensorflow", "keras", "devices"} <= set(cfg_json["environment"])
    assert cfg_json["data"]["sizes"] == {"train": 1200, "val": 300, "test": 300}
    assert cfg_json["data"]["class_proportions"]["val"] == [0.1] * 10


def test_history_has_one_row_per_epoch_with_test_columns(run):
    _, run_dir, summary = run
    with open(run_dir / "history.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    for col in ("lr", "loss", "accuracy", "val_loss", "val_accuracy", "test_loss",
                "test_accuracy", "epoch_time_s"):
        assert all(r[col] != "" for r in rows), col
    assert float(rows[-1]["test_accuracy"]) == pytest.approx(summary["final_test_accuracy"])
    assert summary["best_test_accuracy"] == max(float(r["test_accuracy"]) for r in rows)
    first = next(i for i, r in enumerate(rows, 1) if float(r["accuracy"]) >= 0.3)
    assert summary["epoch_to_target"] == first
    assert float(rows[0]["lr"]) == pytest.approx(0.05)  # cosine starts at the peak


def test_short_synthetic_run_beats_chance(run):
    # 3 epochs x 19 steps; chance is 0.1 on 10 balanced classes.
    assert run[2]["final_test_accuracy"] > 0.3


def test_exports_reload_with_identical_outputs(run):
    _, run_dir, summary = run
    assert max(summary["export_check"].values()) < 1e-5
    images = np.random.default_rng(0).integers(0, 256, size=(4, 32, 32, 3)).astype(np.uint8)
    reloaded = keras.saving.load_model(run_dir / "model.keras")
    saved = tf.saved_model.load(str(run_dir / "saved_model"))
    probs = saved.serve(tf.constant(images, tf.float32))["probabilities"].numpy()
    np.testing.assert_allclose(probs.sum(-1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(probs, reloaded(images.astype(np.float32)).numpy(), atol=1e-5)
    np.testing.assert_allclose(probs, saved.serve_uint8(tf.constant(images))["probabilities"].numpy(),
                               atol=1e-6)
    names = [n.decode() for n in saved.class_names()["class_names"].numpy()]
    assert names == [f"class_{k}" for k in range(10)]  # the synthetic dataset's labels


def test_tensorboard_runs_overlay_with_plain_tags_once_each(run):
    cfg, run_dir, _ = run
    tags, steps, scalars = {}, {}, {}  # run -> tag -> events; -> steps; run -> scalar tags
    for event_file in (run_dir / "tb").rglob("events.out.tfevents.*"):
        split = event_file.parent.name
        tags.setdefault(split, {})
        for event in tf.compat.v1.train.summary_iterator(str(event_file)):
            for value in event.summary.value:
                tags[split].setdefault(value.tag, 0)
                tags[split][value.tag] += 1
                steps.setdefault(split, {}).setdefault(value.tag, []).append(event.step)
                if value.metadata.plugin_data.plugin_name == "scalars":
                    scalars.setdefault(split, set()).add(value.tag)
    # TensorBoard lists every folder with an event file as a run: none of them without a curve
    assert sorted(tags) == sorted(scalars) == ["tb", "test", "train", "validation"]
    for split in ("train", "validation", "test"):  # epochs numbered as in history.csv
        assert sorted(steps[split]["epoch_loss"]) == list(range(1, cfg.train.epochs + 1)), split
    assert not any(t.startswith("evaluation_") for t in tags["validation"])  # no second copy
    epochs = cfg.train.epochs
    for split in ("train", "validation", "test"):  # the same tags, so TensorBoard overlays them
        assert tags[split]["epoch_loss"] == epochs and tags[split]["epoch_accuracy"] == epochs, split
    assert tags["train"]["epoch_learning_rate"] == epochs
    assert tags["tb"]["weight_norm"] == epochs and tags["tb"]["epoch_time_s"] == epochs
    assert {"epoch_grad_norm", "augmented_train_batch"} <= set(tags["train"])
    assert "_hparams_/session_start_info" in tags["tb"]  # above the runs: their metrics are its metrics
    every = set().union(*tags.values())
    assert not {"epoch_lr", "epoch_epoch_time_s", "epoch_test_accuracy", "epoch_test_loss",
                "epoch_weight_norm"} & every


def test_flags_txt_repeats_the_run(run, tmp_path):
    _, run_dir, _ = run
    again = tmp_path / "again"
    # --nosaved_model changes no result (the export above is checked once)
    result = run_cli(f"--flagfile={run_dir / 'flags.txt'}", f"--run_dir={again}", "--nosaved_model")
    assert result.returncode == 0, result.stderr[-2000:]
    first = json.loads((run_dir / "config.json").read_text())["flags"]
    second = json.loads((again / "config.json").read_text())["flags"]
    assert first["saved_model"] and not second["saved_model"]
    assert {**first, "run_dir": "", "saved_model": 0} == {**second, "run_dir": "", "saved_model": 0}

    def history(d):
        with open(d / "history.csv") as f:
            return [{k: v for k, v in r.items() if k != "epoch_time_s"} for r in csv.DictReader(f)]

    assert history(again) == history(run_dir)  # --deterministic: bitwise the same


def test_every_regularizer_at_once(tmp_path):
    flags = dict(
        dataset="synthetic", model="resnet8", width_multiplier=0.25, synthetic_train_examples=320,
        synthetic_test_examples=64, val_split=0.2, batch_size=32, epochs=2, steps_per_epoch=4,
        warmup_epochs=1, target_train_accuracy=0.01, verbose=0,
        **registry.everything_on())  # the early stopping monitor needs the val_split above
    cfg = flags_lib.make_config(run_dir=str(tmp_path / "all"), **flags)
    summary = loop.train_and_evaluate(cfg, tmp_path / "all")
    assert summary["status"] == "completed" and summary["epochs_completed"] == 2
    for key, value in summary.items():
        if isinstance(value, float):
            assert math.isfinite(value), key
    assert 0 <= summary["tta_test_accuracy"] <= 1 and 0 <= summary["mc_dropout_test_accuracy"] <= 1
    assert summary["epoch_to_target"] == 1
    with open(tmp_path / "all" / "history.csv") as f:
        rows = list(csv.DictReader(f))
    assert float(rows[0]["lr"]) == pytest.approx(0.1 / 4)  # warmup: first step of 4
    assert float(rows[1]["lr"]) == pytest.approx(0.1)


def test_non_finite_loss_stops_the_run_as_failed(tmp_path):
    cfg = flags_lib.make_config(run_dir=str(tmp_path / "nan"), dataset="synthetic", model="resnet8",
                             width_multiplier=0.25, synthetic_train_examples=128, batch_size=32,
                             norm="none", learning_rate=1e30, epochs=3, verbose=0)
    with pytest.raises(RunEnded) as ended:
        loop.train_and_evaluate(cfg, tmp_path / "nan")
    assert ended.value.exit_code == 1
    summary = json.loads((tmp_path / "nan" / "summary.json").read_text())
    assert summary["status"].startswith("failed: non-finite loss at epoch 1 step ")
    assert summary["epochs_completed"] == 0
    assert json.loads((tmp_path / "nan" / "summary.json").read_text())["status"] == summary["status"]
    assert not (tmp_path / "nan" / "model.keras").exists()
