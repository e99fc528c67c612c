"""The sweep's bar (issue 24): a running run counts its epochs done / planned, so the bar has a
rate and an ETA after the first epoch of the first run; a run counts 1 when it ends (0 when
interrupted) and the bar ends on whole runs."""

import io
import re
import sys
import time
from types import SimpleNamespace

import pytest

from tfreg import runs
from tfreg.sweep import launch, progress


def fake(tmp_path, name, epochs, script="pass"):
    run_dir = tmp_path / name
    run_dir.mkdir(parents=True, exist_ok=True)
    return SimpleNamespace(arm=name, seed=0, dir=run_dir, flags={"epochs": str(epochs)},
                           flags_text="# tfreg\n",
                           command=lambda python: [python, "-c", script, str(run_dir)])


def epochs_done(run, n):
    runs.write_history(run.dir / "history.csv",
                       [{"epoch": e, "loss": 1.0, "accuracy": 0.5} for e in range(1, n + 1)])


def shown(out):
    """The bar's last line as tqdm drew it."""
    return re.split(r"[\r\n]", out.getvalue().rstrip())[-1]


def test_running_runs_count_their_epochs_and_the_bar_ends_on_whole_runs(tmp_path):
    a, b, c, d = (fake(tmp_path, n, epochs=4) for n in "abcd")
    epochs_done(b, 1)  # left by an earlier invocation: in the initial count, not in the rate
    out = io.StringIO()
    bar = progress.SweepBar([a, b, c, d], done={a.dir}, interval_s=3600, file=out, mininterval=0)
    assert bar.bar.n == pytest.approx(1.25) and "1.25/4" in shown(out)
    assert bar.bar.format_dict["rate"] is None
    time.sleep(0.05)
    epochs_done(b, 2)
    epochs_done(c, 1)
    bar.poll()
    assert bar.bar.n == pytest.approx(1.75)
    line = shown(out)
    assert "1.75/4" in line and "<?" not in line and "<00:" in line  # an ETA, in seconds
    epochs_done(c, 4)  # all its epochs, but it still evaluates and exports: not done yet
    bar.poll()
    assert bar.bar.n == pytest.approx(1 + 0.5 + 0.99)
    bar.ended(c, done=True)  # completed
    bar.ended(b, done=False)  # interrupted: not done, whatever its epochs
    assert bar.bar.n == pytest.approx(2.0)
    epochs_done(d, 3)
    bar.poll()
    bar.close()  # d never ended (a stopped sweep): not done
    assert bar.bar.n == 2 and isinstance(bar.bar.n, int)
    assert "| 2/4 [" in shown(out)


def test_the_count_never_shows_a_run_done_before_it_ends():
    assert progress.runs_text(3) == "3" and progress.runs_text(3.0) == "3"
    assert progress.runs_text(3.999) == "3.99" and progress.runs_text(0.29) == "0.29"
    assert progress.runs_text(2 / 3) == "0.66"


def test_a_run_without_an_epoch_count_counts_only_when_it_ends(tmp_path):
    run = fake(tmp_path, "r", epochs=4)
    run.flags = {}
    epochs_done(run, 2)
    bar = progress.SweepBar([run], done=set(), interval_s=3600, file=io.StringIO())
    bar.poll()
    assert bar.bar.n == 0
    bar.ended(run, done=True)
    bar.close()
    assert bar.bar.n == 1


def test_an_unreadable_history_counts_zero_and_keeps_the_bar_alive(tmp_path):
    run = fake(tmp_path, "r", epochs=4)
    (run.dir / "history.csv").write_bytes(b"\xff\xfe not text")
    assert progress.fraction(run, 4) == 0.0
    (run.dir / "history.csv").unlink()
    (run.dir / "history.csv").mkdir()  # a folder where the file belongs: an OSError
    assert progress.fraction(run, 4) == 0.0


@pytest.mark.slow
def test_an_eta_appears_after_the_first_epoch_of_the_first_run(tmp_path):
    """Two runs of 4 epochs one after the other (stand-ins writing history.csv every 0.3 s): the
    bar shows a fraction of a run and a remaining time before the first run has ended."""
    script = ("import pathlib, sys, time; from tfreg import runs; d = pathlib.Path(sys.argv[1]); "
              "[(time.sleep(0.3), runs.write_history(d / 'history.csv', [{'epoch': e, 'loss': 1.0}"
              " for e in range(1, n + 1)])) for n in range(1, 5)]; (d / 'ended').touch()")
    fakes = [fake(tmp_path, f"r{i}", epochs=4, script=script) for i in range(2)]
    out = io.StringIO()
    bar = progress.SweepBar(fakes, done=set(), interval_s=0.05, file=out, mininterval=0)
    seen = []

    def on_done(run, returncode, seconds):
        seen.append((run.arm, returncode, (fakes[0].dir / "history.csv").exists()))
        bar.ended(run, done=returncode == 0)

    launch.LocalLauncher(python=sys.executable).run(fakes, on_done, launch.Stop())
    lines = re.split(r"[\r\n]", out.getvalue())
    before_end = [line for line in lines if re.search(r"\| 0\.\d\d/2 \[", line)]
    assert before_end, out.getvalue()
    assert any("<?" not in line for line in before_end), before_end  # a remaining time
    bar.close()
    assert [s[:2] for s in seen] == [("r0", 0), ("r1", 0)]
    assert "| 2/2 [" in shown(out)
