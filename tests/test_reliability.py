"""Reliability round 3 (issue 25) and the cluster signals (issue 26): what makes a folder a run,
runs that end with their sweep, non-finite evaluations, SIGUSR2, filesystems without flock."""

import errno
import fcntl
import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from tfreg import rundir, runs
from tfreg.errors import UsageError
from conftest import ROOT, tf_noise_free, tiny_argv, tiny_flags

TINY = tiny_argv(synthetic_train_examples=128, synthetic_test_examples=32, batch_size=32,
                 saved_model=False)
HEADER = runs.FLAGS_HEADER


def _user_folder(path):
    """A folder of the user's whose entries are named like tfreg's."""
    (path / "checkpoints").mkdir(parents=True)
    (path / "checkpoints" / "model_epoch90.pt").write_bytes(b"weights")
    (path / "plots").mkdir()
    (path / "plots" / "my_figure.png").write_bytes(b"png")
    (path / "history.csv").write_text("step,loss\n1,0.5\n")
    (path / "summary.json").write_text('{"status": "completed", "mine": true}\n')
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


@pytest.mark.parametrize("overwrite", [False, True])
def test_a_folder_with_tfreg_named_entries_is_refused_and_left_alone(
        tmp_path, overwrite, run_process):
    before = _user_folder(tmp_path / "mine")
    result = run_process(*TINY, "--epochs=1", f"--run_dir={tmp_path / 'mine'}",
                         *(["--overwrite"] if overwrite else []))
    assert result.returncode == 2, result.stderr[-1500:]
    [line] = tf_noise_free(result.stderr)
    assert "holds no tfreg run" in line and "new or empty --run_dir" in line
    assert sorted(str(p.relative_to(tmp_path / "mine")) for p in (tmp_path / "mine").rglob("*")) == before
    assert (tmp_path / "mine" / "checkpoints" / "model_epoch90.pt").read_bytes() == b"weights"


def test_the_marker_is_flags_txt_with_tfreg_header(tmp_path):
    _user_folder(tmp_path)
    assert not runs.is_run_dir(tmp_path)  # a summary.json with a status is not a run
    (tmp_path / "flags.txt").write_text("--lr=0.1\n")
    assert not runs.is_run_dir(tmp_path)
    (tmp_path / "flags.txt").write_text(HEADER + "--seed=0\n")
    assert runs.is_run_dir(tmp_path)
    # a run killed after taking its lock and before its marker: the lock alone is not foreign
    empty = tmp_path / "killed_early"
    empty.mkdir()
    (empty / rundir.LOCK).write_text("123\n")
    rundir.check(empty, overwrite=False)


def test_prepare_writes_the_marker_first_and_an_overwrite_removes_it_last(tmp_path, monkeypatch):
    run = tmp_path / "run"
    rundir.prepare(run, False, HEADER + "--seed=0\n")
    assert (run / "flags.txt").read_text() == HEADER + "--seed=0\n"
    runs.write_json(run / "summary.json", {"status": "completed"})
    (run / "checkpoints" / "epoch_0001").mkdir()
    removed = []
    real_unlink = os.unlink

    def unlink(path, *a, **k):
        removed.append(os.path.basename(path))
        return real_unlink(path, *a, **k)

    monkeypatch.setattr(os, "unlink", unlink)
    rundir._held_locks.clear()
    rundir.prepare(run, True, HEADER + "--seed=1\n")
    assert "flags.txt" not in removed  # replaced in one rename, never absent
    assert (run / "flags.txt").read_text() == HEADER + "--seed=1\n"
    assert not (run / "summary.json").exists() and not (run / "checkpoints" / "epoch_0001").exists()


def test_a_filesystem_without_flock_falls_back_to_posix_locks(tmp_path, monkeypatch, processes):
    def no_flock(f, op):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_flock)
    with open(tmp_path / "a.lock", "a+") as first, open(tmp_path / "a.lock", "a+") as second:
        assert rundir.lock_exclusive(first)
        # POSIX locks belong to the process: another process sees this one busy
        probe = processes.run([sys.executable, "-c", (
            "import fcntl, sys\nf = open(sys.argv[1], 'a+')\n"
            "try:\n    fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB)\nexcept OSError:\n"
            "    sys.exit(3)\n"), str(tmp_path / "a.lock")])
        assert probe.returncode == 3
        del second

    def no_lockf(f, op):
        raise OSError(errno.EOPNOTSUPP, "Operation not supported")

    monkeypatch.setattr(fcntl, "lockf", no_lockf)
    with open(tmp_path / "b.lock", "a+") as f, pytest.raises(UsageError, match="neither flock nor POSIX"):
        rundir.lock_exclusive(f)


def test_a_restarted_sweep_waits_for_the_run_left_running(tmp_path):
    from tfreg.sweep import launch

    class Run:
        dir = tmp_path / "arm" / "seed_0"

    Run.dir.mkdir(parents=True)
    held = open(Run.dir / rundir.LOCK, "a+")
    fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
    held.write("4242\n")
    held.flush()
    said = []
    waiter = threading.Thread(target=launch.wait_for_holder, args=(Run,),
                              kwargs=dict(poll_s=0.05, say=lambda *a, **k: said.append(a[0])))
    waiter.start()
    time.sleep(0.5)
    assert waiter.is_alive() and len(said) == 1 and "in use by pid 4242" in said[0]
    held.close()  # the orphan ends
    waiter.join(timeout=5)
    assert not waiter.is_alive()
    assert rundir.holder(Run.dir) is None


def _wait_gone(pid, timeout):
    deadline = time.time() + timeout
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        if time.time() >= deadline:
            return False
        time.sleep(0.1)


def _wait_status(run_dir, wanted, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if (runs.read_summary(run_dir) or {}).get("status") == wanted:
            return True
        time.sleep(0.1)
    return False


def test_a_run_ends_interrupted_when_its_sweep_dies(tmp_path, processes):
    """The sweep killed with SIGKILL (an OOM kill, a closed ssh session's SIGHUP does the same):
    its run gets SIGTERM from the kernel, checkpoints and ends 'interrupted' instead of training
    on unattended."""
    run_dir = tmp_path / "run"
    command = [sys.executable, "-m", "tfreg.run", *TINY, "--epochs=200", f"--run_dir={run_dir}"]
    parent = processes.Popen([sys.executable, "-c", (
        "import os, subprocess, sys, time\n"
        "env = dict(os.environ, TFREG_SWEEP_PID=str(os.getpid()), PYTHONPATH=sys.argv[1])\n"
        "p = subprocess.Popen(sys.argv[2:], env=env, process_group=0,\n"
        "                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
        "print(p.pid, flush=True)\ntime.sleep(600)\n"), ROOT, *command],
        stdout=subprocess.PIPE, text=True)
    child = int(parent.stdout.readline())
    try:
        assert _wait_status(run_dir, "running", 120)
        time.sleep(2)  # inside training
        parent.kill()
        parent.wait()
        assert _wait_gone(child, 60), "the run trained on after its sweep died"
        assert runs.read_summary(run_dir)["status"] == "interrupted"
    finally:
        if not _wait_gone(child, 0):
            os.kill(child, signal.SIGKILL)


def test_sigusr2_ends_a_run_interrupted_and_resumable(tmp_path, processes):
    """Slurm's warning before a time limit (submitit's --signal=USR2@90 reaches every process of
    the step): the run checkpoints and ends 'interrupted', exit 143, one line that says how to
    resume."""
    run_dir = tmp_path / "run"
    proc = processes.Popen([sys.executable, "-m", "tfreg.run", *TINY, "--epochs=200",
                            f"--run_dir={run_dir}"], env=dict(os.environ, PYTHONPATH=ROOT),
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert _wait_status(run_dir, "running", 120)
    time.sleep(2)
    proc.send_signal(signal.SIGUSR2)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err[-1500:]
    assert runs.read_summary(run_dir)["status"] == "interrupted"
    [line] = tf_noise_free(err)
    assert line.startswith("tfreg: interrupted after epoch") and "resume" in line
    assert "interrupted: interrupted" not in line


@pytest.mark.slow
def test_a_run_whose_evaluation_is_not_finite_fails(tmp_path):
    """Issue 25, class 5: a run whose training loss stays finite but whose test loss is NaN (here
    one test image holds an infinite pixel) used to end 'completed'; it fails, exit 1 from the
    command line, the last good checkpoint kept, the epoch's row in history.csv."""
    import numpy as np

    from tfreg import config
    from tfreg import flags as flags_lib
    from tfreg.data import prepare
    from tfreg.errors import RunEnded
    from tfreg.train import loop

    cfg = flags_lib.make_config(**tiny_flags(synthetic_train_examples=128, synthetic_test_examples=32,
                                             batch_size=32, epochs=2, saved_model=False,
                                             run_dir=str(tmp_path / "run")))
    data = prepare.prepare(cfg)
    data.x_test = data.x_test.astype(np.float32)
    data.x_test[3, 0, 0, 0] = np.inf
    with pytest.raises(RunEnded) as ended:
        loop.train_and_evaluate(cfg, tmp_path / "run", data)
    assert ended.value.exit_code == 1
    summary = runs.read_summary(tmp_path / "run")
    assert summary["status"].startswith("failed: non-finite test_loss")
    rows = runs.read_history(tmp_path / "run" / "history.csv")
    assert len(rows) == 1 and rows[0]["loss"] == rows[0]["loss"]  # training stayed finite
    assert not (tmp_path / "run" / "checkpoints" / "epoch_0001").exists()


@pytest.mark.parametrize("tool", ["tfreg.run", "tfreg.sweep", "tfreg.report", "tfreg.analyze"])
def test_help_piped_into_head_ends_quietly(tool, processes):
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader has gone before the first write: every write fails (EPIPE)
    writer = processes.run([sys.executable, "-m", tool, "--help"], stdout=write_end,
                           stderr=subprocess.PIPE, text=True, env=dict(os.environ, PYTHONPATH=ROOT),
                           timeout=120)
    os.close(write_end)
    assert writer.returncode == 0, writer.stderr[-1000:]
    assert "Traceback" not in writer.stderr and "BrokenPipe" not in writer.stderr


def test_python_m_tfreg_lists_the_four_tools(processes):
    out = processes.run([sys.executable, "-m", "tfreg"], capture_output=True, text=True,
                        env=dict(os.environ, PYTHONPATH=ROOT), timeout=60)
    assert out.returncode == 0
    for tool in ("tfreg-run", "tfreg-sweep", "tfreg-report", "tfreg-analyze"):
        assert tool in out.stdout


def test_a_resume_compares_with_what_the_run_recorded_not_an_edited_flags_txt(
        tmp_path, run_process):
    """Issue 25, class 3: flags.txt edited from lr 0.1 to 0.9 after the run started; config.json
    holds what it started with, so the resume is refused and nothing changes."""
    from tfreg import config
    from tfreg import flags as flags_lib

    run_dir = tmp_path / "run"
    cfg = flags_lib.make_config(dataset="synthetic", model="resnet8", epochs=3, learning_rate=0.1,
                             run_dir=str(run_dir))
    run_dir.mkdir()
    (run_dir / "flags.txt").write_text(HEADER + config.to_flagfile(cfg))
    runs.write_json(run_dir / "config.json", {"flags": cfg.flat()})
    runs.write_json(run_dir / "summary.json", {"status": "interrupted"})
    edited = (run_dir / "flags.txt").read_text().replace("--learning_rate=0.1\n",
                                                           "--learning_rate=0.9\n")
    (run_dir / "flags.txt").write_text(edited)
    before = {p.name: p.read_bytes() for p in run_dir.iterdir()}
    result = run_process(f"--flagfile={run_dir / 'flags.txt'}")
    assert result.returncode == 2, result.stderr[-1500:]
    [line] = tf_noise_free(result.stderr)
    assert "config.json records --learning_rate=0.1" in line and "edited" in line
    assert {p.name: p.read_bytes() for p in run_dir.iterdir()} == before
    # the flags it started with pass the check (config.json's lists come back as JSON lists)
    recorded = config.recorded_flagfile(json.loads((run_dir / "config.json").read_text())["flags"])
    assert recorded == config.to_flagfile(cfg)
    (run_dir / "flags.txt").write_text(HEADER + config.to_flagfile(cfg))
    rundir.check_resume(run_dir, config.to_flagfile(cfg), False, config.default_flagfile(), recorded)


FLOAT16_OVERFLOW = r'''
import json
import tfreg
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras
import numpy as np
from tfreg.flags import make_config
from tfreg.data.prepare import prepare
from tfreg.train import assemble, runtime

cfg = make_config(dataset="synthetic", model="resnet8", width_multiplier=0.25, batch_size=16,
                  synthetic_train_examples=32, synthetic_test_examples=16, learning_rate=0.1,
                  norm="none", mixed_precision="float16", epochs=1, verbose=0)
runtime.setup_runtime(cfg)
data = prepare(cfg)
mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
trainer, net = assemble.build(cfg, data, mirrored, 1)
images = np.asarray(data.x_train[:16], np.float32)
images[8:] = 60000.0  # the second half, replica 1's, overflows float16 (max 65504) on its own
labels = np.asarray(data.y_train[:16])
before = {v.path: v.numpy() for v in net.trainable_variables}
scale = float(trainer.optimizer.initial_scale)
trainer.fit(tf.data.Dataset.from_tensors((images, labels)), epochs=1, verbose=0)
after = {v.path: v.numpy() for v in net.trainable_variables}
print("RESULT " + json.dumps({
    "finite": bool(all(np.all(np.isfinite(w)) for w in after.values())),
    "unchanged": bool(all(np.array_equal(before[k], after[k]) for k in before)),
    "scale": [scale, float(trainer.optimizer.dynamic_scale.numpy())],
    "applied_steps": int(trainer.optimizer.iterations.numpy())}))
'''


def test_float16_on_two_replicas_skips_the_step_on_both_when_one_overflows(processes):
    """Issue 26, items 3 and 5: only replica 1's half of the batch overflows; both replicas skip
    the step (weights unchanged and finite) and the loss scale is halved; the step counter the
    learning-rate schedule reads still advances by one."""
    proc = processes.run([sys.executable, "-c", FLOAT16_OVERFLOW], capture_output=True,
                         text=True, timeout=300, env=dict(os.environ, PYTHONPATH=ROOT))
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.split("RESULT ", 1)[1])
    assert result["finite"] and result["unchanged"], result
    assert result["scale"][1] == result["scale"][0] / 2, result
    # the skipped step still counts for the learning-rate schedule (issue 26, item 5)
    assert result["applied_steps"] == 1, result


def test_an_unfinished_run_resumes_only_on_as_many_replicas_as_it_started_with(tmp_path):
    """Issue 26, item 9: a run started on 2 replicas and resumed on 1 device is refused in one
    line (dropout masks per replica and synchronized batch norm would change it half way)."""
    from tfreg import config
    from tfreg import flags as flags_lib
    from tfreg.train import loop

    run_dir = tmp_path / "run"
    cfg = flags_lib.make_config(dataset="synthetic", model="resnet8", epochs=2, run_dir=str(run_dir))
    run_dir.mkdir()
    (run_dir / "flags.txt").write_text(HEADER + config.to_flagfile(cfg))
    runs.write_json(run_dir / "config.json", {"flags": cfg.flat(), "environment": {"replicas": 2}})
    runs.write_json(run_dir / "summary.json", {"status": "interrupted"})
    before = {p.name: p.read_bytes() for p in run_dir.iterdir()}
    with pytest.raises(UsageError, match="started on 2 replica"):
        loop.train_and_evaluate(cfg, run_dir)
    assert {p.name: p.read_bytes() for p in run_dir.iterdir()} == before


def test_a_redirected_run_logs_plain_lines_that_start_with_the_run(tmp_path, processes):
    """Issue 24: the first line names the run directory, before data and TensorFlow load; in a
    file the progress bar becomes one line per epoch (no carriage returns or escapes), with the
    test result; no TensorFlow C++ start-up lines, even when the parent (a sweep) had set
    TF_CPP_MIN_LOG_LEVEL through tfreg."""
    run_dir = tmp_path / "run"
    env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="3", TFREG_TF_LOG_DEFAULT="3")
    result = processes.run([sys.executable, "-m", "tfreg.run", *TINY, "--epochs=2",
                            "--verbose=1", f"--run_dir={run_dir}"], capture_output=True,
                           text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-1500:]
    lines = result.stdout.splitlines()
    assert lines[0] == f"tfreg: run {run_dir}: resnet8 on synthetic, 2 epochs, seed 0"
    assert "\r" not in result.stdout and "\x1b[" not in result.stdout
    assert "Epoch 2/2" in result.stdout and "epoch 2 test: loss" in result.stdout
    assert result.stderr.strip() == "", result.stderr[:500]


@pytest.mark.parametrize("args, says", [
    (["lr_range", "--lr_end=inf"], "finite number > 0"),
    (["lr_range", "--lr_start=nan"], "finite number > 0"),
    (["landscape", "--learning_rates=nan"], "finite numbers > 0"),
    (["landscape", "--method=santurkar", "--step_sizes=inf"], "finite numbers > 0"),
    (["sanity", "--target_accuracy=inf"], "finite number > 0"),
])
def test_the_analysis_tools_refuse_non_finite_numbers(tmp_path, args, says, processes):
    """Issue 25, class 7: one line, exit 2, nothing written (before any TensorFlow work)."""
    out = tmp_path / "out"
    result = processes.run([sys.executable, "-m", "tfreg.analyze", *args, "--dataset=synthetic",
                            f"--out={out}"], capture_output=True, text=True, timeout=120,
                           env=dict(os.environ, PYTHONPATH=ROOT))
    assert result.returncode == 2, result.stderr[-1000:]
    [line] = tf_noise_free(result.stderr)
    assert line.startswith("tfreg.analyze: error:") and says in line
    assert not out.exists()


def test_the_analysis_tools_check_out_before_computing(tmp_path, processes):
    """Issue 25, class 6: an --out that cannot be written is refused before the work starts."""
    blocker = tmp_path / "file"
    blocker.write_text("x")
    for out, says in ((blocker, "is a file"), (blocker / "sub", "not a writable folder")):
        result = processes.run([sys.executable, "-m", "tfreg.analyze", "lr_range",
                                "--dataset=synthetic", f"--out={out}"], capture_output=True,
                               text=True, timeout=120, env=dict(os.environ, PYTHONPATH=ROOT))
        assert result.returncode == 2 and says in result.stderr, result.stderr[-1000:]


def test_a_grid_value_spelt_twice_is_refused(tmp_path, processes):
    """Issue 25, class 8: --grid=learning_rate=0.1|0.10|1e-1 is one experiment, not three arms."""
    out = processes.run([sys.executable, "-m", "tfreg.sweep", "--grid=learning_rate=0.1|0.10|1e-1",
                         "--dataset=synthetic", "--epochs=1", f"--sweep_dir={tmp_path / 's'}"],
                        capture_output=True, text=True, timeout=120,
                        env=dict(os.environ, PYTHONPATH=ROOT))
    assert out.returncode == 2, out.stderr[-800:]
    assert "same experiment" in out.stderr and "learning_rate=0.1" in out.stderr
    assert not (tmp_path / "s").exists()


def test_a_full_disk_at_a_checkpoint_fails_the_run_and_keeps_the_last_one(tmp_path, monkeypatch):
    """Issue 25, class 4: the free space is checked before a checkpoint write (h5py's write on a
    full disk crashed the process); the run ends 'failed: not enough disk space ...', exit 1, the
    previous checkpoint kept, and the message says how to resume."""
    import shutil

    from tfreg import config
    from tfreg import flags as flags_lib
    from tfreg.errors import RunEnded
    from tfreg.train import loop

    real = shutil.disk_usage
    saves = []

    def disk_usage(path):
        usage = real(path)
        if "checkpoints" in str(path):
            saves.append(path)
            if len(saves) >= 2:  # the disk is full by the second epoch's save
                return usage._replace(free=1000)
        return usage

    monkeypatch.setattr(shutil, "disk_usage", disk_usage)
    cfg = flags_lib.make_config(**tiny_flags(synthetic_train_examples=64, synthetic_test_examples=32,
                                             batch_size=32, epochs=3, saved_model=False,
                                             run_dir=str(tmp_path / "run")))
    with pytest.raises(RunEnded) as ended:
        loop.train_and_evaluate(cfg, tmp_path / "run")
    assert ended.value.exit_code == 1 and "rerun the same command to resume" in str(ended.value)
    status = runs.read_summary(tmp_path / "run")["status"]
    assert status.startswith("failed: not enough disk space for the epoch 2 checkpoint"), status
    kept = sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir())
    assert kept == ["epoch_0001"]


def test_the_sweep_answers_malformed_run_files_in_one_line(tmp_path, processes):
    """Issue 25, class 6: a summary.json whose status is not a text, a flags.txt that is not
    UTF-8, a sweep.csv that is a folder: one line or a clean run, never a traceback."""
    flags = tmp_path / "a.flags"
    flags.write_text("--dataset=synthetic\n--epochs=1\n")

    def sweep(sweep_dir, *extra):
        return processes.run([sys.executable, "-m", "tfreg.sweep", str(flags), "--seeds=0",
                              f"--sweep_dir={sweep_dir}", "--list", *extra], capture_output=True,
                             text=True, timeout=120, env=dict(os.environ, PYTHONPATH=ROOT))

    bad_flags = tmp_path / "s1" / "a" / "seed_0"
    bad_flags.mkdir(parents=True)
    (bad_flags / "flags.txt").write_bytes(b"# tfreg\n--lr=\xff\xfe\n")
    result = sweep(tmp_path / "s1")
    assert result.returncode == 2 and "cannot be read as a flagfile" in result.stderr
    assert "Traceback" not in result.stderr
    (tmp_path / "s2" / "sweep.csv").mkdir(parents=True)
    result = sweep(tmp_path / "s2")
    assert result.returncode == 2 and "is not a file" in result.stderr and "Traceback" not in result.stderr
    odd = tmp_path / "s3" / "a" / "seed_0"
    odd.mkdir(parents=True)
    (odd / "summary.json").write_text('{"status": 5}')
    result = sweep(tmp_path / "s3")
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr[-800:]
    assert "seed 0" in result.stdout
