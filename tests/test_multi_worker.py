"""--strategy=multi_worker: two worker processes on 127.0.0.1, configured by TF_CONFIG, train
with Keras fit (around keras-team/keras#20585) and finish with identical weights."""

import json
import os
import socket
import subprocess
import sys

import numpy as np

from conftest import ROOT, tf_noise_free

ARGS = ["--strategy=multi_worker", "--dataset=synthetic", "--model=resnet8",
        "--width_multiplier=0.25", "--synthetic_train_examples=192", "--synthetic_test_examples=32",
        "--batch_size=32", "--epochs=2", "--dropout_rates=0.1", "--mixup_alpha=0.2",
        "--pad_crop_pixels=2", "--nosaved_model", "--verbose=0"]


def free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def test_two_workers_finish_with_identical_weights(tmp_path):
    workers = [f"127.0.0.1:{p}" for p in free_ports(2)]
    run_dir = tmp_path / "mw"
    procs = []
    for index in range(2):
        tf_config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
        env = dict(os.environ, PYTHONPATH=ROOT, TF_CONFIG=json.dumps(tf_config))
        procs.append(subprocess.Popen([sys.executable, "-m", "tfreg.run", *ARGS, f"--run_dir={run_dir}"],
                                      env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outs = [p.communicate(timeout=500) for p in procs]
    for p, (_, err) in zip(procs, outs):
        assert p.returncode == 0, err[-3000:]
    chief = json.loads((run_dir / "summary.json").read_text())
    other = json.loads((run_dir / "worker_1" / "summary.json").read_text())
    assert chief["status"] == other["status"] == "completed"
    assert chief["final_train_loss"] == other["final_train_loss"]
    assert json.loads((run_dir / "config.json").read_text())["environment"]["replicas"] == 2
    from tfreg.export import load_keras_model

    a = load_keras_model(run_dir / "model.keras").get_weights()
    b = load_keras_model(run_dir / "worker_1" / "model.keras").get_weights()
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


def test_multi_worker_without_tf_config_is_one_line(tmp_path):
    env_free = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    result = subprocess.run([sys.executable, "-m", "tfreg.run", "--strategy=multi_worker",
                             "--synthetic_train_examples=20", f"--run_dir={tmp_path / 'r'}"],
                            capture_output=True, text=True, env=dict(env_free, PYTHONPATH=ROOT))
    lines = tf_noise_free(result.stderr)
    assert result.returncode == 2 and len(lines) == 1 and "TF_CONFIG" in lines[0]
    assert not (tmp_path / "r").exists()
