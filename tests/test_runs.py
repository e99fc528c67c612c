"""The run store and the run directory's guarantees: load_run reads every ending with one summary
schema and without TensorFlow; --overwrite clears only a tfreg run, only after every check; a
corrupt checkpoint or an unwritable run directory ends in one line; default run dirs are unique."""

import json
import shutil
import subprocess
import sys

import pytest

from conftest import ROOT, tf_noise_free, tiny_argv
from tfreg import config, runs, rundir
from tfreg import flags as flags_lib

TINY = tiny_argv(synthetic_train_examples=64, synthetic_test_examples=32, batch_size=32,
                 saved_model=False)


@pytest.fixture(scope="module")
def completed(run_process, tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("done") / "run"
    result = run_process(*TINY, "--epochs=2", "--early_stopping_patience=1",
                     "--early_stopping_monitor=loss", f"--run_dir={run_dir}")
    assert result.returncode == 0, result.stderr[-2000:]
    return run_dir


def test_load_run_reads_a_completed_run(completed):
    run = runs.load_run(completed)
    assert run.status in runs.FINISHED and run.finished
    assert set(run.summary) == set(runs.SUMMARY_KEYS)
    assert run.summary["schema_version"] == runs.SCHEMA_VERSION
    assert [r["epoch"] for r in run.history] == list(range(1, run.summary["epochs_completed"] + 1))
    assert run.flags["model"] == "resnet8" and run.flags["batch_size"] == 32
    assert run.config["environment"]["cpu"]["model"]
    assert run.summary["final_test_accuracy"] == run.history[-1]["test_accuracy"]
    assert runs.find_runs(completed.parent) == [completed]


def test_load_run_reads_failed_and_killed_runs_with_the_same_schema(run_process, completed,
                                                                   tmp_path):
    nan = tmp_path / "nan"
    result = run_process(*TINY, "--norm=none", "--learning_rate=1e30", "--epochs=2", f"--run_dir={nan}")
    assert result.returncode == 1
    failed = runs.load_run(nan)
    assert runs.status_kind(failed.status) == "failed" and not failed.finished
    assert set(json.loads((nan / "summary.json").read_text())) == set(runs.SUMMARY_KEYS)
    assert failed.history == [] and failed.summary["epochs_completed"] == 0

    killed = tmp_path / "killed"  # SIGKILL before the first summary: only flags.txt and config.json
    killed.mkdir()
    shutil.copy(completed / "flags.txt", killed / "flags.txt")
    run = runs.load_run(killed)
    assert run.status is None and run.history == [] and run.flags["model"] == "resnet8"
    assert sorted(runs.find_runs(tmp_path)) == [killed, nan]


def test_the_run_store_does_not_import_tensorflow(completed):
    code = ("import sys, tfreg.runs as r; run = r.load_run(sys.argv[1]); "
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules; print(run.status)")
    out = subprocess.run([sys.executable, "-c", code, str(completed)], capture_output=True,
                         text=True, cwd=ROOT, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() in runs.FINISHED


def test_overwrite_refuses_a_folder_that_is_not_a_tfreg_run(run_process, tmp_path):
    precious = tmp_path / "thesis"
    precious.mkdir()
    (precious / "chapter1.tex").write_text("years of work")
    for extra in ([], ["--overwrite"]):
        result = run_process(*TINY, "--epochs=1", f"--run_dir={precious}", *extra)
        lines = tf_noise_free(result.stderr)
        assert result.returncode == 2 and len(lines) == 1 and "holds no tfreg run" in lines[0], lines
    assert sorted(p.name for p in precious.iterdir()) == ["chapter1.tex"]


def test_overwrite_clears_a_finished_run_only_after_every_check(run_process, completed, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(completed, run_dir)
    before = {p.name: p.stat().st_mtime_ns for p in run_dir.iterdir()}
    # fails at the dataset check, after flag parsing: the finished run must survive intact
    result = run_process(*TINY, "--epochs=1", "--overwrite", "--dataset=cifar10",
                     f"--data_dir={tmp_path / 'nowhere'}", f"--run_dir={run_dir}")
    assert result.returncode == 2
    assert {p.name: p.stat().st_mtime_ns for p in run_dir.iterdir()} == before
    assert runs.load_run(run_dir).finished
    result = run_process(*TINY, "--epochs=1", "--overwrite", f"--run_dir={run_dir}")
    assert result.returncode == 0, result.stderr[-2000:]
    assert runs.load_run(run_dir).summary["epochs_completed"] == 1


def test_overwrite_keeps_a_finished_run_when_init_from_does_not_fit(run_process, completed,
                                                                   tmp_path):
    """--init_from is checked layer by layer when the model is built: that happens before the run
    directory is touched, so a source whose layers do not fit (here a 1-channel model for
    3-channel data) leaves a finished run as it was, and nothing is written."""
    from tfreg.models.build import build_model

    source = tmp_path / "grey"
    source.mkdir()
    flags = runs.load_run(completed).flags
    cfg = flags_lib.make_config(**{k: flags[k] for k in ("dataset", "model", "width_multiplier")})
    build_model(cfg, (28, 28, 1), 10).save(str(source / "model.keras"))
    shutil.copy(completed / "flags.txt", source / "flags.txt")
    (source / "summary.json").write_text((completed / "summary.json").read_text())
    run_dir = tmp_path / "run"
    shutil.copytree(completed, run_dir)
    before = {p.name: p.stat().st_mtime_ns for p in run_dir.iterdir()}
    result = run_process(*TINY, "--epochs=1", "--overwrite", f"--init_from={source}",
                     f"--run_dir={run_dir}")
    lines = tf_noise_free(result.stderr)
    assert result.returncode == 2 and len(lines) == 1 and "normalize" in lines[0], lines
    assert {p.name: p.stat().st_mtime_ns for p in run_dir.iterdir()} == before
    assert runs.load_run(run_dir).finished
    fresh = tmp_path / "fresh"
    result = run_process(*TINY, "--epochs=1", f"--init_from={source}", f"--run_dir={fresh}")
    assert result.returncode == 2 and not fresh.exists()


def test_corrupt_checkpoint_fails_in_one_line_and_is_kept(run_process, completed, tmp_path):
    run_dir = tmp_path / "run"
    shutil.copytree(completed, run_dir)
    (run_dir / "summary.json").write_text(json.dumps({"status": "running"}))
    (checkpoint,) = (run_dir / "checkpoints").glob("epoch_*")
    (checkpoint / "trainer.variables.npz").write_bytes(b"not an npz file")
    result = run_process(*TINY, "--epochs=2", "--early_stopping_patience=1",
                     "--early_stopping_monitor=loss", f"--run_dir={run_dir}")
    lines = tf_noise_free(result.stderr)
    assert result.returncode == 1 and len(lines) == 1, lines
    assert str(checkpoint) in lines[0] and "cannot be loaded" in lines[0] and "--overwrite" in lines[0]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"].startswith("failed: the checkpoint")
    assert set(summary) == set(runs.SUMMARY_KEYS)
    assert (checkpoint / "trainer.variables.npz").read_bytes() == b"not an npz file"


def test_unwritable_run_dir_is_one_line(run_process, tmp_path):
    result = run_process(*TINY, "--epochs=1", "--run_dir=/proc/tfreg_run")
    lines = tf_noise_free(result.stderr)
    assert result.returncode == 2 and len(lines) == 1 and "/proc/tfreg_run" in lines[0], lines
    assert "--run_dir" in lines[0] and "Traceback" not in result.stderr


def test_default_run_dirs_are_unique_within_one_second():
    cfg = flags_lib.make_config()
    names = {rundir.default_run_dir(cfg) for _ in range(200)}
    assert len(names) == 200
