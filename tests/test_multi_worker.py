"""--strategy=multi_worker: two worker processes on 127.0.0.1, configured by TF_CONFIG, train
with Keras fit (around keras-team/keras#20585) and finish with identical weights."""

import json
import os
import socket
import subprocess
import sys

import numpy as np

from conftest import ROOT, tf_noise_free, tiny_argv

ARGS = tiny_argv(strategy="multi_worker", synthetic_train_examples=192, synthetic_test_examples=32,
                 batch_size=32, epochs=2, dropout_rates=(0.1,), mixup_alpha=0.2, pad_crop_pixels=2,
                 saved_model=False)


def free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def test_two_workers_finish_with_identical_weights(tmp_path, processes):
    workers = [f"127.0.0.1:{p}" for p in free_ports(2)]
    run_dir = tmp_path / "mw"
    procs = []
    for index in range(2):
        tf_config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
        env = dict(os.environ, PYTHONPATH=ROOT, TF_CONFIG=json.dumps(tf_config))
        procs.append(processes.Popen([sys.executable, "-m", "tfreg.run", *ARGS, f"--run_dir={run_dir}"],
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


def test_multi_worker_without_tf_config_is_one_line(tmp_path, processes):
    env_free = {k: v for k, v in os.environ.items() if k != "TF_CONFIG"}
    result = processes.run([sys.executable, "-m", "tfreg.run", "--strategy=multi_worker",
                            "--synthetic_train_examples=20", f"--run_dir={tmp_path / 'r'}"],
                           capture_output=True, text=True, env=dict(env_free, PYTHONPATH=ROOT))
    lines = tf_noise_free(result.stderr)
    assert result.returncode == 2 and len(lines) == 1 and "TF_CONFIG" in lines[0]
    assert not (tmp_path / "r").exists()


def test_sweep_runs_a_two_node_run_through_slurm_variables(tmp_path, processes):
    """--slurm_nodes=2 (issue 26 item 11) on submitit's LocalExecutor: two tasks get the variables
    of a two-task Slurm step, each starts tfreg.run --strategy=multi_worker, which builds its
    cluster with TensorFlow's SlurmClusterResolver (no TF_CONFIG); the chief writes the run."""
    arm = tmp_path / "two_nodes.flags"
    arm.write_text("\n".join(a for a in ARGS if not a.startswith("--strategy")) + "\n")
    sweep_dir = tmp_path / "sweep"
    env = {k: v for k, v in os.environ.items() if k != "TF_CONFIG" and not k.startswith("SLURM_")}
    proc = processes.run([sys.executable, "-m", "tfreg.sweep", str(arm), "--seeds=0",
                          f"--sweep_dir={sweep_dir}", "--launcher=submitit_local",
                          "--slurm_nodes=2", "--slurm_gpus_per_task=0"],
                         capture_output=True, text=True, env=dict(env, PYTHONPATH=ROOT), timeout=600)
    run_dir = sweep_dir / "two_nodes" / "seed_0"
    logs = "".join(p.read_text() for p in sorted(run_dir.glob("*.log")))
    assert proc.returncode == 0, proc.stderr[-2000:] + logs[-3000:]
    assert "--strategy=multi_worker" in (run_dir / "flags.txt").read_text().splitlines()
    chief = json.loads((run_dir / "summary.json").read_text())
    other = json.loads((run_dir / "worker_1" / "summary.json").read_text())
    assert chief["status"] == other["status"] == "completed"
    assert chief["final_train_loss"] == other["final_train_loss"]
    assert json.loads((run_dir / "config.json").read_text())["environment"]["replicas"] == 2
    assert (run_dir / "worker_1.log").exists()


def test_slurm_nodes_needs_a_slurm_launcher(tmp_path, processes):
    proc = processes.run([sys.executable, "-m", "tfreg.sweep", "experiments/smoke.flags",
                          f"--sweep_dir={tmp_path / 's'}", "--slurm_nodes=2"], cwd=ROOT,
                         capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=ROOT))
    assert proc.returncode == 2 and "--slurm_nodes needs --launcher=slurm" in proc.stderr
    assert not (tmp_path / "s").exists()
