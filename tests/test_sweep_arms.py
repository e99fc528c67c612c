"""Arm names and identical arms of python -m tfreg.sweep (issue 23): a grid cell's name reads
`none` for an empty value, a sweep folder made under the old names still resumes; an arm identical
to an earlier one runs once and the sweep says so and records it. --list and finished stand-in
runs only, so no run trains here."""

import json
import pathlib

from conftest import ROOT, tiny_argv
from tfreg.sweep import cli, plan

TINY = tiny_argv(synthetic_train_examples=64, synthetic_test_examples=32, batch_size=32,
                 saved_model=False, epochs=1)


def _flagfile(path, *lines):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_a_grid_cell_with_an_empty_value_reads_none():
    grid = plan.parse_grid(["norm_stages=|1", "dropout_rates=|0.2,0.2"])
    assert [name for name, _, _ in plan.arms([], "experiments/smoke.flags", grid)] == [
        "norm_stages=none+dropout_rates=none", "norm_stages=none+dropout_rates=0.2,0.2",
        "norm_stages=1+dropout_rates=none", "norm_stages=1+dropout_rates=0.2,0.2"]
    # where `none` is itself a value of the axis, the empty value keeps its old name
    names = [n for n, _, _ in plan.arms([], "experiments/smoke.flags",
                                        plan.parse_grid(["weight_decay_exclude=|none"]))]
    assert names == ["weight_decay_exclude=", "weight_decay_exclude=none"]


def test_a_sweep_folder_made_under_the_old_names_resumes():
    """The committed grid's folders (`norm_stages=+dropout_rates=`) are found again by the command
    that made them, and each gets its readable name for reports."""
    sweep_dir = pathlib.Path(ROOT) / "reports/resnet50_regularization/earlier_grids/grid_bn_x_dropout"
    grid = plan.parse_grid(["norm_stages=|1|1,2|1,2,3", "dropout_rates=|0.2|0.2,0.2|0.2,0.2,0.2"])
    arms, names = plan.named_arms([], "experiments/resnet50_regularization/mini/base.flags", grid,
                                  sweep_dir)
    assert all((sweep_dir / name).is_dir() for name, _, _ in arms) and len(arms) == 16
    assert names["norm_stages=+dropout_rates=0.2"] == "norm_stages=none+dropout_rates=0.2"
    assert names["norm_stages=1+dropout_rates="] == "norm_stages=1+dropout_rates=none"
    assert len(names) == 7  # the cells without an empty value kept their names


def _identical_sweep(tmp_path):
    head = _flagfile(tmp_path / "multiscale_head.flags", *TINY, "--head=multiscale")
    adam = _flagfile(tmp_path / "opt_adam.flags", f"--flagfile={head}")
    other = _flagfile(tmp_path / "l2.flags", *TINY, "--weight_decay=0.0005")
    return [head, adam, other, "--seeds=0,1", f"--sweep_dir={tmp_path / 'sweep'}"]


def test_an_arm_identical_to_another_is_listed_and_not_run(tmp_path, capsys):
    argv = _identical_sweep(tmp_path)
    assert cli.main([*argv, "--list"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "opt_adam is identical to multiscale_head: its runs are " \
                                  "multiscale_head's"
    assert [line.split("\t")[:2] for line in out.splitlines()[1:]] == [
        ["multiscale_head", "seed 0"], ["multiscale_head", "seed 1"], ["l2", "seed 0"],
        ["l2", "seed 1"]]
    assert not (tmp_path / "sweep").exists()
    # grid points of two flagfiles that come to the same flags
    plain = _flagfile(tmp_path / "plain.flags", *TINY)
    assert cli.main([argv[0], plain, "--grid=head=gap|multiscale", *argv[3:], "--list"]) == 0
    assert capsys.readouterr().out.splitlines()[:2] == [
        "plain+head=gap is identical to multiscale_head+head=gap: its runs are "
        "multiscale_head+head=gap's",
        "plain+head=multiscale is identical to multiscale_head+head=multiscale: its runs are "
        "multiscale_head+head=multiscale's"]


def test_a_sweep_records_its_identical_arms_and_a_resumed_one_keeps_them(tmp_path, capsys):
    """Every run finished already (stand-ins), so nothing launches: the sweep says which arm is
    which, writes it into sweep.json, creates no folder for opt_adam, and a second invocation
    keeps the record."""
    argv = _identical_sweep(tmp_path)
    _, planned = cli.build_plan(argv)
    for run in planned:
        run.dir.mkdir(parents=True)
        (run.dir / "flags.txt").write_text(run.flags_text)
        (run.dir / "summary.json").write_text('{"status": "completed"}')
    for _ in range(2):
        assert cli.main(argv) == 0
        out = capsys.readouterr().out
        assert "opt_adam is identical to multiscale_head: its runs are multiscale_head's" in out
        assert "0 completed, 0 failed, 4 skipped" in out.splitlines()[-1]
        recorded = json.loads((tmp_path / "sweep" / "sweep.json").read_text())
        assert recorded["identical"] == {"opt_adam": "multiscale_head"} and recorded["names"] == {}
        assert sorted(p.name for p in (tmp_path / "sweep").iterdir() if p.is_dir()) == [
            "l2", "multiscale_head"]
