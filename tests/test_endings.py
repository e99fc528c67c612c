"""How runs end, as a user sees it: stopped early, an exception inside training (one line, status
"failed: ...", exit 1, the last good checkpoint kept, a traceback only when debugging), an unknown
schedule kind that cannot slip through, and a first screen free of TensorFlow's C++ start-up lines."""

import json
import os
import signal
import sys

import pytest

from conftest import ROOT, tf_noise_free, tiny_argv
from tfreg import config, runs
from tfreg import flags as flags_lib

TINY = tiny_argv(synthetic_train_examples=64, synthetic_test_examples=32, saved_model=False)
ENV = dict(os.environ, PYTHONPATH=ROOT)


def test_a_run_that_stops_improving_ends_stopped_early(tmp_path, run_process):
    """A learning rate of 1e-30 leaves the weights unchanged, so training accuracy (an exact count
    over the whole set, one full batch per epoch) never improves after epoch 1: patience 1 stops
    the run after epoch 2 of 5, and the best epoch is 1."""
    run_dir = tmp_path / "run"
    result = run_process(*TINY, "--batch_size=64", "--epochs=5", "--learning_rate=1e-30",
                         "--lr_schedule=constant", "--weight_decay=0", "--early_stopping_patience=1",
                         "--early_stopping_monitor=accuracy", f"--run_dir={run_dir}")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "status: stopped_early" in result.stdout
    run = runs.load_run(run_dir)
    assert run.status == "stopped_early" and run.finished
    assert run.summary["epochs_completed"] == 2 and run.summary["epochs_planned"] == 5
    assert run.summary["early_stopping_best_epoch"] == 1
    assert run.history[0]["accuracy"] == run.history[1]["accuracy"]
    assert (run_dir / "model.keras").is_file()


# tfreg.run with an exception raised by the run recorder at the end of epoch 2 (after epoch 1's
# checkpoint): what any bug inside training looks like to the run's endings.
FAILING_RUN = """
import sys
from tfreg.train import callbacks
real = callbacks.RunRecorder.on_epoch_end
def on_epoch_end(self, epoch, logs=None):
    if epoch == 1:
        raise RuntimeError("disk on fire")
    return real(self, epoch, logs)
callbacks.RunRecorder.on_epoch_end = on_epoch_end
from tfreg import run
sys.exit(run.main(["tfreg.run"] + sys.argv[1:]))
"""


@pytest.fixture
def failing_run(processes):
    def start(run_dir, *extra, env=ENV):
        return processes.run([sys.executable, "-c", FAILING_RUN, *TINY, "--batch_size=32",
                              "--epochs=3", f"--run_dir={run_dir}", *extra],
                             capture_output=True, text=True, timeout=300, env=env, cwd=ROOT)
    return start


def test_an_exception_inside_training_fails_in_one_line_and_keeps_the_checkpoint(tmp_path,
                                                                                failing_run):
    run_dir = tmp_path / "run"
    result = failing_run(run_dir)
    lines = tf_noise_free(result.stderr)
    assert result.returncode == 1 and len(lines) == 1, lines
    assert "RuntimeError: disk on fire" in lines[0] and "checkpoint is kept" in lines[0]
    assert "Traceback" not in result.stderr
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "failed: RuntimeError: disk on fire"
    assert set(summary) == set(runs.SUMMARY_KEYS) and summary["epochs_completed"] == 1
    assert [p.name for p in (run_dir / "checkpoints").iterdir()] == ["epoch_0001"]


class _Summary:
    recorder = None

    def __call__(self, status, **extra):
        return {"status": status}


@pytest.mark.parametrize("signum,exit_code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_that_tensorflow_turns_into_another_exception_still_ends_interrupted(
        tmp_path, monkeypatch, signum, exit_code):
    """The signal handler raises wherever the main thread is; inside TensorFlow the exception can
    come out as another (a sweep test saw "AttributeError: 'dict' object has no attribute
    '_type_spec'" after SIGTERM at a run's start). The run still ends 'interrupted', exit 143/130
    (resumable), not 'failed'; the same exception without a signal is a failure."""
    from tfreg import errors
    from tfreg.train import loop

    def mangled():
        try:
            errors.raise_interrupted(signum, None)
        except BaseException:
            raise AttributeError("'dict' object has no attribute '_type_spec'") from None

    monkeypatch.setattr(errors, "_signals_received", [])
    with pytest.raises(errors.RunEnded) as ended, loop._endings(tmp_path, _Summary()):
        mangled()
    assert ended.value.exit_code == exit_code and str(ended.value).startswith("interrupted")
    assert json.loads((tmp_path / "summary.json").read_text())["status"] == "interrupted"

    monkeypatch.setattr(errors, "_signals_received", [])
    with pytest.raises(errors.RunEnded) as ended, loop._endings(tmp_path, _Summary()):
        raise AttributeError("'dict' object has no attribute '_type_spec'")
    assert ended.value.exit_code == 1
    assert json.loads((tmp_path / "summary.json").read_text())["status"].startswith(
        "failed: AttributeError")


@pytest.mark.slow
def test_the_traceback_appears_only_when_debugging(tmp_path, monkeypatch, capsys):
    """TFREG_DEBUG=1, or --verbose=2 (also inside a flagfile), adds the traceback to the one line
    (in this process: training itself replaced by an exception)."""
    from tfreg import run
    from tfreg.train import loop

    def fail(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(loop, "train_and_evaluate", fail)
    monkeypatch.setattr(run.signal, "signal", lambda *args: None)  # keep pytest's handlers
    flagfile = tmp_path / "verbose.flags"
    flagfile.write_text("--verbose=2\n")
    cases = [("plain", [], None, False), ("env", [], "1", True),
             ("flagfile", [f"--flagfile={flagfile}"], None, True), ("flag", ["--verbose=2"], None, True)]
    for name, extra, debug, traceback in cases:
        monkeypatch.delenv("TFREG_DEBUG", raising=False)
        if debug:
            monkeypatch.setenv("TFREG_DEBUG", debug)
        argv = ["tfreg.run", *TINY, "--epochs=1", *extra, f"--run_dir={tmp_path / name}"]
        assert run.main(argv) == 1, name
        err = capsys.readouterr().err
        assert "RuntimeError: disk on fire" in err, name
        assert ("Traceback" in err) == traceback, (name, err)


def test_an_unknown_schedule_kind_cannot_slip_through():
    from tfreg.train import schedules

    with pytest.raises(config.UsageError, match="lr_schedule"):
        flags_lib.make_config(lr_schedule="exponential")
    with pytest.raises(ValueError, match="exponential"):  # built directly ...
        schedules.Schedule("exponential", 0.1, 10)
    saved = schedules.Schedule("step", 0.1, 10, boundaries=[5]).get_config()
    with pytest.raises(ValueError, match="exponential"):  # ... or read back from a saved model
        schedules.Schedule.from_config({**saved, "kind": "exponential"})


def test_an_unknown_schedule_kind_is_one_line_on_the_command_line(run_process):
    result = run_process(*TINY, "--lr_schedule=exponential", "--dry_run")
    lines = tf_noise_free(result.stderr)
    assert result.returncode == 2 and len(lines) == 1 and "lr_schedule" in lines[0], lines


def test_the_first_screen_has_no_tensorflow_start_up_lines(tmp_path, processes):
    """Without TF_CPP_MIN_LOG_LEVEL in the environment (a newcomer's shell), TensorFlow's C++
    lines (oneDNN, 'Could not find cuda drivers', 'failed call to cuInit') stay hidden; a user
    who sets the variable gets them back."""
    env = {k: v for k, v in ENV.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    args = [sys.executable, "-m", "tfreg.run", *TINY, "--dry_run"]
    quiet = processes.run(args, capture_output=True, text=True, timeout=300, env=env, cwd=ROOT)
    assert quiet.returncode == 0, quiet.stderr[-2000:]
    assert quiet.stderr.strip() == ""
    loud = processes.run(args, capture_output=True, text=True, timeout=300, cwd=ROOT,
                         env=dict(env, TF_CPP_MIN_LOG_LEVEL="0"))
    assert loud.returncode == 0 and "I0000" in loud.stderr  # the switch is real
