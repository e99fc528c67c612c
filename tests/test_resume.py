"""Resume and kills: a run killed at any instant (SIGKILL, SIGTERM, Ctrl-C; SIGKILL at named
instants inside the checkpoint save; between the last checkpoint and the export) resumes with the same command and ends with the
same history and weights as an uninterrupted run (--deterministic, epoch granularity); one process
per run directory."""

import csv
import json
import os
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest

from tfreg import flags as flags_lib
from tfreg import runs
from conftest import ROOT, tf_noise_free, tiny_argv, tiny_flags

ARGS = tiny_argv(synthetic_train_examples=320, synthetic_test_examples=64, batch_size=32, epochs=4,
                 dropout_rates=(0.2, 0.2, 0.2), drop_path_rate=0.2, mixup_alpha=0.4,
                 pad_crop_pixels=2, flip="horizontal", momentum=0.9, deterministic=True,
                 saved_model=False)
ENV = dict(os.environ, PYTHONPATH=ROOT)


def command(run_dir, *extra):
    return [sys.executable, "-m", "tfreg.run", *ARGS, *extra, f"--run_dir={run_dir}"]


def history(run_dir):
    with open(run_dir / "history.csv") as f:
        return [{k: v for k, v in r.items() if k != "epoch_time_s"} for r in csv.DictReader(f)]


def h5_arrays(path):
    out = {}
    with h5py.File(path) as f:
        f.visititems(lambda name, obj: out.__setitem__(name, obj[()]) if isinstance(obj, h5py.Dataset) else None)
    return out


def checkpoint_weights(run_dir):
    (latest,) = sorted((run_dir / "checkpoints").glob("epoch_*"))
    with np.load(latest / "trainer.variables.npz") as f:
        return {name: f[name] for name in f.files}


def assert_same_arrays(a, b):
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def status(run_dir):
    return json.loads((run_dir / "summary.json").read_text())["status"]


def epochs_saved(run_dir):
    done = [int(p.name.split("_")[1]) for p in (run_dir / "checkpoints").glob("epoch_*")
            if (p / "meta.json").exists()] if (run_dir / "checkpoints").exists() else []
    return max(done, default=0)


def wait_for_epoch(run_dir, epoch, proc, timeout=300):
    """Polls until a checkpoint of at least `epoch` completed epochs exists."""
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        if epochs_saved(run_dir) >= epoch:
            return
        time.sleep(0.05)
    raise AssertionError(f"no checkpoint of epoch {epoch} appeared")


@pytest.fixture(scope="module")
def straight(tmp_path_factory, processes):
    run_dir = tmp_path_factory.mktemp("straight") / "run"
    result = processes.run(command(run_dir), env=ENV, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    return run_dir


def test_killed_run_resumes_to_the_uninterrupted_result(straight, tmp_path, processes):
    """One run directory killed three times, after epochs 1, 2 and 3 (SIGTERM, Ctrl-C, SIGKILL),
    each time resumed by the same command: it ends with the uninterrupted run's history and
    weights."""
    killed = tmp_path / "killed"
    kills = [(1, signal.SIGTERM, 143, "interrupted"), (2, signal.SIGINT, 130, "interrupted"),
             (3, signal.SIGKILL, -9, "running")]
    for epoch, sig, code, left in kills:
        # SIGINT's default action restored in the child: a shell starts background jobs with
        # SIGINT ignored, and Python then installs no KeyboardInterrupt handler.
        proc = processes.Popen(command(killed), env=ENV, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
        # a new epoch of this process (an earlier kill may have landed an epoch late)
        wait_for_epoch(killed, max(epoch, epochs_saved(killed) + 1), proc)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == code, (sig, err[-2000:])
        assert status(killed) == left, sig
        if sig != signal.SIGKILL:
            lines = tf_noise_free(err)
            assert len(lines) == 1 and "interrupted" in lines[0] and "resume" in lines[0], lines

    again = processes.run(command(killed), env=ENV, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-2000:]
    assert history(killed) == history(straight)
    assert_same_arrays(checkpoint_weights(straight), checkpoint_weights(killed))


# Runs tfreg.run with a SIGKILL at one named instant inside the save of epoch KILL_EPOCH:
# "weights" (the h5 file half written), "before_rename" (the new checkpoint complete under its
# temporary name), "after_rename" (in place, the previous one not yet removed).
KILLING_RUN = """
import os, signal, sys
from tfreg.train import checkpoint
POINT, EPOCH = os.environ["KILL_POINT"], int(os.environ["KILL_EPOCH"])
saving = {}
real_save, real_variables, real_fsync = (checkpoint.Checkpointer.save, checkpoint._save_variables,
                                       checkpoint._fsync)
def save(self, model, epochs_done, *rest):
    saving["epoch"] = epochs_done
    return real_save(self, model, epochs_done, *rest)
def save_variables(model, path):
    real_variables(model, path)
    if POINT == "weights" and saving["epoch"] == EPOCH:
        with open(path, "r+b") as f:
            f.truncate(100)
        os.kill(os.getpid(), signal.SIGKILL)
def fsync(path):
    real_fsync(path)
    if saving.get("epoch") == EPOCH and os.path.isdir(path) == (POINT == "after_rename") \\
            and POINT != "weights":
        os.kill(os.getpid(), signal.SIGKILL)
checkpoint.Checkpointer.save, checkpoint._save_variables, checkpoint._fsync = save, save_variables, fsync
from tfreg import run
sys.exit(run.main(["tfreg.run"] + sys.argv[1:]))
"""


def test_sigkill_inside_the_save_leaves_a_run_that_resumes(straight, tmp_path, processes):
    """SIGKILL at each named instant inside a checkpoint save, one per epoch (no timing
    involved): each time the same command resumes, and the end result is the uninterrupted one."""
    run_dir = tmp_path / "run"
    args = command(run_dir)[3:]  # the flags after `python -m tfreg.run`
    for epoch, point in enumerate(["weights", "before_rename", "after_rename"], start=1):
        killed = processes.run([sys.executable, "-c", KILLING_RUN, *args], capture_output=True,
                               text=True, timeout=600,
                               env=dict(ENV, KILL_POINT=point, KILL_EPOCH=str(epoch)))
        assert killed.returncode == -signal.SIGKILL, (point, killed.stderr[-2000:])
        assert status(run_dir) == "running"
        done = [p.name for p in (run_dir / "checkpoints").glob("epoch_*")]
        assert f"epoch_{epoch - 1:04d}" in done or (epoch == 1 and not done) or \
            (point == "after_rename" and f"epoch_{epoch:04d}" in done), (point, done)
    again = processes.run(command(run_dir), env=ENV, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-2000:]
    assert status(run_dir) == "completed"
    assert history(run_dir) == history(straight)
    assert_same_arrays(checkpoint_weights(straight), checkpoint_weights(run_dir))


def test_kill_after_the_last_checkpoint_exports_the_trained_weights(straight, tmp_path, processes):
    """The state a kill between the final checkpoint and the export leaves: the same command
    must export the checkpoint's weights, not fresh ones."""
    import shutil

    run_dir = tmp_path / "run"
    shutil.copytree(straight, run_dir, ignore=shutil.ignore_patterns(".lock"))
    for name in ("model.keras", "saved_model", "summary.json"):
        path = run_dir / name
        shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
    (run_dir / "summary.json").write_text(json.dumps({"status": "running"}))
    for name in ("flags.txt", "config.json"):  # written by the copy's original path
        text = (run_dir / name).read_text().replace(str(straight), str(run_dir))
        (run_dir / name).write_text(text)
    result = processes.run(command(run_dir), env=ENV, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    assert status(run_dir) == "completed"
    exported = h5_arrays_of_model(run_dir / "model.keras")
    expected = h5_arrays_of_model(straight / "model.keras")
    assert_same_arrays(exported, expected)
    assert history(run_dir) == history(straight)
    # --nosaved_model: model.keras only, and its reload check alone in the summary
    assert not (run_dir / "saved_model").exists()
    check = json.loads((run_dir / "summary.json").read_text())["export_check"]
    assert check == {"model_keras_max_abs_diff": 0.0, "saved_model_max_abs_diff": None,
                     "saved_model_uint8_max_abs_diff": None}


def h5_arrays_of_model(path):
    import zipfile

    with zipfile.ZipFile(path) as z, z.open("model.weights.h5") as f:
        data = f.read()
    tmp = path.parent / "extracted.weights.h5"
    tmp.write_bytes(data)
    try:
        return h5_arrays(tmp)
    finally:
        tmp.unlink()


@pytest.fixture
def trainer():
    import tensorflow as tf

    from tfreg import config
    from tfreg import flags as flags_lib
    from tfreg.data import prepare
    from tfreg.train import assemble

    cfg = flags_lib.make_config(**tiny_flags(synthetic_train_examples=32, synthetic_test_examples=8,
                                             dropout_rates=[0.1], epochs=1))
    trainer, _ = assemble.build(cfg, prepare.prepare(cfg), tf.distribute.get_strategy(), 1)
    trainer.optimizer.build(trainer.trainable_variables)
    return trainer


def test_interrupt_inside_the_save_keeps_the_previous_checkpoint(tmp_path, trainer, monkeypatch):
    from tfreg.train import checkpoint
    from tfreg.train.checkpoint import Checkpointer, seed_generators

    ckpt = Checkpointer(tmp_path)
    ckpt.save(trainer, 1)
    saved = [v.numpy() for v in trainer.variables]
    states = [g.state.numpy() for g in seed_generators(trainer)]
    for v in trainer.trainable_variables:
        v.assign(v + 1.0)
    for g in seed_generators(trainer):
        g.next()
    real_save = checkpoint._save_variables

    def interrupted_save(model, path):
        real_save(model, path)
        with open(path, "r+b") as f:  # a half-written file, then Ctrl-C
            f.truncate(100)
        raise KeyboardInterrupt

    monkeypatch.setattr(checkpoint, "_save_variables", interrupted_save)
    with pytest.raises(KeyboardInterrupt):
        ckpt.save(trainer, 2)
    monkeypatch.undo()
    assert ckpt.latest().name == "epoch_0001"
    assert ckpt.restore(trainer) == 1
    for v, expected in zip(trainer.variables, saved):
        np.testing.assert_array_equal(v.numpy(), expected, err_msg=v.path)
    for g, expected in zip(seed_generators(trainer), states):
        np.testing.assert_array_equal(g.state.numpy(), expected)
    assert not list(tmp_path.glob(".epoch_*"))  # the partial save is cleared on restore


def test_a_kill_while_an_epoch_is_saved_again_keeps_a_checkpoint(tmp_path, trainer, monkeypatch):
    """Saving an epoch that already has a checkpoint: a kill between setting the old one aside
    and renaming the new one into place still leaves a checkpoint that restores."""
    from tfreg.train import checkpoint
    from tfreg.train.checkpoint import Checkpointer

    ckpt = Checkpointer(tmp_path)
    ckpt.save(trainer, 1)
    saved = [v.numpy() for v in trainer.variables]
    for v in trainer.trainable_variables:
        v.assign(v + 1.0)
    real_rename = os.rename

    def rename_then_die(src, dst):
        real_rename(src, dst)
        if str(dst).endswith(".superseded_epoch_0001"):
            raise KeyboardInterrupt  # the process ends here

    monkeypatch.setattr(checkpoint.os, "rename", rename_then_die)
    with pytest.raises(KeyboardInterrupt):
        ckpt.save(trainer, 1)
    monkeypatch.setattr(checkpoint.os, "rename", real_rename)
    assert ckpt.restore(trainer) == 1
    for v, expected in zip(trainer.variables, saved):
        np.testing.assert_array_equal(v.numpy(), expected, err_msg=v.path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["epoch_0001"]
    ckpt.save(trainer, 1)  # and a save that completes leaves only the new one
    assert sorted(p.name for p in tmp_path.iterdir()) == ["epoch_0001"]


def test_a_failure_keeps_the_last_good_checkpoint(tmp_path, trainer):
    from tfreg.train.callbacks import CheckpointCallback
    from tfreg.train.checkpoint import Checkpointer

    class Recorder:
        failure = None

    callback = CheckpointCallback(Checkpointer(tmp_path), Recorder())
    callback.set_model(trainer)
    callback.on_epoch_end(0)
    saved = (tmp_path / "epoch_0001" / "trainer.variables.npz").read_bytes()
    trainer.trainable_variables[0].assign(trainer.trainable_variables[0] * float("nan"))
    callback.recorder.failure = "non-finite loss at epoch 2 step 3"
    callback.on_epoch_end(1)
    assert [p.name for p in tmp_path.iterdir()] == ["epoch_0001"]
    assert (tmp_path / "epoch_0001" / "trainer.variables.npz").read_bytes() == saved


def test_the_checkpoint_holds_every_variable_and_restores_them_bit_for_bit(tmp_path, trainer):
    """The .npz holds the model's weights and the optimizer's variables (what Keras's
    save_weights stored) and puts each back exactly; a checkpoint written by an earlier tfreg with
    save_weights (trainer.weights.h5) restores the same state."""
    import h5py

    from tfreg.train.checkpoint import Checkpointer, state_variables

    ckpt = Checkpointer(tmp_path)
    for v in trainer.optimizer.variables:  # slots that are not all zeros
        v.assign(np.arange(int(np.prod(v.shape))).reshape(v.shape).astype(v.dtype) % 7)
    ckpt.save(trainer, 1)
    saved = [v.numpy() for v in state_variables(trainer)]
    trainer.save_weights(tmp_path / "legacy.weights.h5")
    with h5py.File(tmp_path / "legacy.weights.h5") as f:
        stored = []
        f.visititems(lambda name, obj: stored.append(name) if isinstance(obj, h5py.Dataset) else None)
    assert len(saved) == len(stored) == len(trainer.weights) + len(trainer.optimizer.variables)

    def scramble():
        for v in state_variables(trainer):
            v.assign(np.full(v.shape, 3, v.dtype))

    def assert_restored():
        for v, expected in zip(state_variables(trainer), saved, strict=True):
            np.testing.assert_array_equal(v.numpy(), expected, err_msg=v.path)

    scramble()
    assert ckpt.restore(trainer) == 1
    assert_restored()
    (tmp_path / "epoch_0001" / "trainer.variables.npz").unlink()  # an earlier tfreg's checkpoint
    os.rename(tmp_path / "legacy.weights.h5", tmp_path / "epoch_0001" / "trainer.weights.h5")
    scramble()
    assert ckpt.restore(trainer) == 1
    assert_restored()


def test_a_checkpoint_of_another_model_is_refused(tmp_path, trainer):
    import tensorflow as tf

    from tfreg import flags as flags_lib
    from tfreg.data import prepare
    from tfreg.train import assemble
    from tfreg.train.checkpoint import CheckpointError, Checkpointer

    Checkpointer(tmp_path).save(trainer, 1)
    cfg = flags_lib.make_config(**tiny_flags(synthetic_train_examples=32, synthetic_test_examples=8,
                                             width_multiplier=0.5, epochs=1))
    other, _ = assemble.build(cfg, prepare.prepare(cfg), tf.distribute.get_strategy(), 1)
    with pytest.raises(CheckpointError, match="cannot be loaded .*(shape|variables)"):
        Checkpointer(tmp_path).restore(other)


def test_second_process_on_a_run_dir_is_refused_and_a_stale_lock_is_not(tmp_path, run_process):
    from tfreg import rundir

    run_dir = tmp_path / "run"
    lock = rundir.acquire(run_dir)  # this process holds it, as a live run would
    without_display = [a for a in ARGS if a not in ("--nosaved_model", "--verbose=0")]
    result = run_process(*without_display, "--epochs=1", f"--run_dir={run_dir}")
    lines = tf_noise_free(result.stderr)
    assert result.returncode == 2 and len(lines) == 1 and "in use by another tfreg process" in lines[0], lines
    assert not (run_dir / "summary.json").exists()
    lock.close()  # what the kernel does when the owner dies: the lock file stays, unlocked
    rundir._held_locks.remove(lock)
    assert (run_dir / rundir.LOCK).exists()
    again = rundir.acquire(run_dir)  # tfreg.run's own step; a whole run resuming past the lock
    again.close()                    # file of a SIGKILLed process: the kill tests above
    rundir._held_locks.remove(again)


def test_resume_may_change_display_flags_only(tmp_path, run_process):
    """An unfinished run resumes with another --verbose or --saved_model; another --seed is
    refused in one line (before TensorFlow loads)."""
    from tfreg import config, rundir

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    base = [a for a in ARGS if not a.startswith("--verbose")] + ["--epochs=1", f"--run_dir={run_dir}"]

    def flags(*extra):
        return config.to_flagfile(flags_lib.parse_args(["tfreg.run", *base, *extra]))

    (run_dir / "flags.txt").write_text(runs.FLAGS_HEADER + flags("--verbose=0"))
    (run_dir / "summary.json").write_text(json.dumps({"status": "interrupted"}))
    changed = run_process(*base, "--verbose=0", "--seed=5")
    assert changed.returncode == 2 and "--seed=5" in changed.stderr
    assert len(tf_noise_free(changed.stderr)) == 1
    defaults = config.default_flagfile()
    # accepted, no error: flags that change no result
    rundir.check_resume(run_dir, flags("--verbose=2", "--saved_model"), False, defaults)


def test_a_run_older_than_a_flag_resumes_with_its_default(tmp_path, run_process):
    """flags.txt written before a flag existed: the flag's default keeps the old behaviour, so the
    same command resumes; another value of that flag is refused (in one line, before TensorFlow)."""
    from tfreg import config, rundir
    from tfreg.config import UsageError

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    base = [a for a in ARGS if not a.startswith("--verbose")] + ["--epochs=1", "--verbose=0"]
    flags = config.to_flagfile(flags_lib.parse_args(["tfreg.run", *base, f"--run_dir={run_dir}"]))
    assert "--label_smoothing=0.0" in flags.splitlines()
    older = "\n".join(l for l in flags.splitlines() if not l.startswith("--label_smoothing="))
    (run_dir / "flags.txt").write_text(runs.FLAGS_HEADER + older + "\n")
    (run_dir / "summary.json").write_text(json.dumps({"status": "interrupted"}))
    defaults = config.default_flagfile()
    rundir.check_resume(run_dir, flags, False, defaults)  # the same command: resumes
    with pytest.raises(UsageError, match="--label_smoothing=0.1"):
        rundir.check_resume(run_dir, flags.replace("--label_smoothing=0.0", "--label_smoothing=0.1"),
                            False, defaults)
    with pytest.raises(UsageError, match="label_smoothing"):  # without defaults: the old rule
        rundir.check_resume(run_dir, flags, False)
    changed = run_process(*base, "--label_smoothing=0.1", f"--run_dir={run_dir}")
    lines = tf_noise_free(changed.stderr)
    assert changed.returncode == 2 and len(lines) == 1 and "--label_smoothing=0.1" in lines[0], lines


def test_the_best_validation_endpoint_survives_a_resume(tmp_path, processes):
    """--test_every_epochs=0 with a validation split: the best validation epoch's weights travel in
    the checkpoint, so a run stopped with SIGTERM after epoch 2 and resumed records the same test
    accuracy at its best validation epoch as an uninterrupted run (and the same history)."""
    extra = ("--epochs=5", "--val_split=0.25", "--test_every_epochs=0")
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    done = processes.run(command(straight, *extra), env=ENV, capture_output=True, text=True,
                         timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    proc = processes.Popen(command(resumed, *extra), env=ENV, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, text=True)
    wait_for_epoch(resumed, 2, proc)
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=120)
    again = processes.run(command(resumed, *extra), env=ENV, capture_output=True, text=True,
                          timeout=600)
    assert again.returncode == 0, again.stderr[-2000:]
    assert history(resumed) == history(straight)
    rows = history(straight)
    best = max(rows, key=lambda r: (float(r["val_accuracy"]), -int(r["epoch"])))
    assert best["test_accuracy"] != ""  # the endpoint is recorded
    tested = {r["epoch"] for r in rows if r["test_accuracy"] != ""}
    assert tested == {best["epoch"], rows[-1]["epoch"]}
