"""A full disk under a sweep (issue 25 class 4): sweep.csv that cannot be written is removed
rather than left saying `pending` for runs that ended, the sweep says so once, its runs go on,
and it exits 1. Stand-in runs (a launcher that writes finished summaries): nothing trains here."""

import errno

from conftest import tiny_argv
from tfreg import runs
from tfreg.sweep import cli, record

TINY = tiny_argv(synthetic_train_examples=64, synthetic_test_examples=32, batch_size=32,
                 saved_model=False, epochs=1)


class FinishingLauncher:
    def run(self, todo, on_done, stop):
        for run in todo:
            run.dir.mkdir(parents=True, exist_ok=True)
            runs.write_json(run.dir / "summary.json", {"status": "completed",
                                                        "final_test_accuracy": 0.5})
            on_done(run, 0, 1.0)
        return []


def test_a_sweep_table_that_cannot_be_written_is_removed_and_said_once(tmp_path, monkeypatch, capsys):
    arm = tmp_path / "a.flags"
    arm.write_text("\n".join(TINY) + "\n")
    sweep_dir = tmp_path / "sweep"
    writes = []
    real = record.write_csv

    def full_after_the_first(*args):
        writes.append(args)
        if len(writes) > 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(*args)

    monkeypatch.setattr(record, "write_csv", full_after_the_first)
    monkeypatch.setattr(cli, "make_launcher", lambda args, sweep_dir: FinishingLauncher())
    monkeypatch.setattr(record, "write_hparams_config", lambda *a: None)
    assert cli.main([str(arm), "--seeds=0,1,2", f"--sweep_dir={sweep_dir}"]) == 1
    out = capsys.readouterr().out
    assert out.count("could not write") == 1 and "No space left on device" in out
    assert not (sweep_dir / "sweep.csv").exists()  # not a table that says `pending`
    assert out.strip().splitlines()[-1].startswith(
        "tfreg.sweep: 3 completed, 0 failed, 0 skipped, 0 interrupted (sweep.csv not written)")
    assert len(writes) == 5  # the start, after each of the 3 runs, the end
    # the disk has room again: the same command skips the runs and writes the table
    monkeypatch.setattr(record, "write_csv", real)
    assert cli.main([str(arm), "--seeds=0,1,2", f"--sweep_dir={sweep_dir}"]) == 0
    assert (sweep_dir / "sweep.csv").read_text().count(",completed,") == 3
