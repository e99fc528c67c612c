"""Resume: a run killed with SIGKILL and started again with the same command ends with the same
history.csv and weights as an uninterrupted run (--deterministic, epoch granularity)."""

import csv
import json
import os
import signal
import subprocess
import sys
import time

import h5py
import numpy as np

from conftest import ROOT

ARGS = ["--dataset=synthetic", "--model=resnet20", "--width_multiplier=0.25",
        "--synthetic_train_examples=320", "--synthetic_test_examples=64", "--batch_size=32",
        "--epochs=4", "--dropout_rates=0.2,0.2,0.2", "--drop_path_rate=0.2", "--mixup_alpha=0.4",
        "--pad_crop_pixels=2", "--flip=horizontal", "--momentum=0.9", "--deterministic",
        "--verbose=0"]


def command(run_dir):
    return [sys.executable, "-m", "tfreg.run", *ARGS, f"--run_dir={run_dir}"]


def history(run_dir):
    with open(run_dir / "history.csv") as f:
        return [{k: v for k, v in r.items() if k != "epoch_time_s"} for r in csv.DictReader(f)]


def weights(run_dir):
    out = {}
    with h5py.File(run_dir / "checkpoints" / "latest.weights.h5") as f:
        f.visititems(lambda name, obj: out.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
    return out


def test_sigkill_then_rerun_equals_an_uninterrupted_run(tmp_path):
    env = dict(os.environ, PYTHONPATH=ROOT)
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    assert subprocess.run(command(straight), env=env, capture_output=True, timeout=600).returncode == 0

    proc = subprocess.Popen(command(killed), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    meta = killed / "checkpoints" / "training_metadata.json"
    deadline = time.time() + 300
    while time.time() < deadline:
        try:
            if json.loads(meta.read_text())["epoch"] >= 2:
                break
        except (OSError, ValueError):
            pass
        time.sleep(0.05)
    time.sleep(0.3)  # somewhere inside epoch 3
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert json.loads((killed / "summary.json").read_text())["status"] == "running"

    again = subprocess.run(command(killed), env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-2000:]
    assert history(killed) == history(straight)
    a, b = weights(straight), weights(killed)
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def test_a_failure_keeps_the_last_good_checkpoint(tmp_path):
    import keras

    from tfreg.train.loop import _Backup

    class Recorder:
        failure = None

    recorder = Recorder()
    backup = _Backup(recorder, str(tmp_path))
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    model.mix_seed = keras.random.SeedGenerator(0)
    model.net = model
    backup.set_model(model)
    backup.on_epoch_end(0)
    saved = (tmp_path / "latest.weights.h5").read_bytes()
    assert json.loads((tmp_path / "training_metadata.json").read_text())["epoch"] == 1
    model.layers[0].kernel.assign([[float("nan")], [float("nan")]])
    recorder.failure = "non-finite loss at epoch 2 step 3"
    backup.on_epoch_end(1)
    assert (tmp_path / "latest.weights.h5").read_bytes() == saved
    assert json.loads((tmp_path / "training_metadata.json").read_text())["epoch"] == 1
