"""Bundled experiments (issue 24): where a --flagfile is found (tfreg.flagfiles), the same resolved
flags whichever way a flagfile is named, listing and copying the bundled experiments, and the
sweep finding its arm flagfiles the same way. The installed wheel: tests/test_wheel.py."""

import pathlib
import re

import pytest

from tfreg import cli, config, flagfiles
from tfreg import flags as flags_lib
from tfreg.errors import UsageError
from tfreg.sweep import plan as planlib
from conftest import ROOT, run_cli

ROOT = pathlib.Path(ROOT)
EXPERIMENTS = ROOT / "experiments"
NESTED = "cs5489_lecture/mini/dropout"  # includes mini/base.flags, which includes base.flags


def _flags(*argv):
    """The resolved flags as flags.txt writes them."""
    return config.to_flagfile(flags_lib.parse_args(["tfreg.run", *argv]))


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_a_clone_bundles_its_experiments_folder():
    assert flagfiles.bundled_root() == EXPERIMENTS


def test_every_flagfile_resolves_the_same_from_anywhere(tmp_path, monkeypatch):
    """From the repository root (absl's old rule), from an unrelated working directory (the
    documented path then falls back to the bundled copy), by bundled name, and by absolute path:
    the same flags, so flags.txt does not depend on where the file was found."""
    paths = sorted(p.relative_to(ROOT).as_posix() for p in EXPERIMENTS.rglob("*.flags"))
    assert len(paths) > 100 and f"experiments/{NESTED}.flags" in paths
    monkeypatch.chdir(ROOT)
    at_root = {p: _flags(f"--flagfile={p}") for p in paths}
    monkeypatch.chdir(tmp_path)
    for path in paths:
        name = path.removeprefix("experiments/").removesuffix(".flags")
        assert _flags(f"--flagfile={path}") == at_root[path], path
        assert _flags(f"--experiment={name}") == at_root[path], path
        assert _flags(f"--flagfile={ROOT / path}") == at_root[path], path
    nested = f"experiments/{NESTED}.flags"
    assert _flags("--flagfile", nested) == at_root[nested]  # absl's two-argument form


def test_an_include_is_found_beside_the_including_file_then_above_it(tmp_path, monkeypatch):
    _write(tmp_path / "study/base.flags", "--epochs=3\n--batch_size=16\n")
    _write(tmp_path / "study/arm.flags", "# an include beside the file\n--flagfile=base.flags\n"
                                         "--batch_size=8\n")
    _write(tmp_path / "study/deep/arm.flags", "--flagfile=study/arm.flags\n--learning_rate=0.5\n")
    elsewhere = _write(tmp_path / "elsewhere/x", "")
    monkeypatch.chdir(elsewhere.parent)
    cfg = flags_lib.parse_args(["t", f"--flagfile={tmp_path}/study/deep/arm.flags"])
    assert (cfg.train.epochs, cfg.data.batch_size, cfg.train.learning_rate) == (3, 8, 0.5)
    # the working directory still works for an include written relative to it (absl's rule)
    _write(tmp_path / "elsewhere/cwd.flags", "--epochs=7\n")
    _write(tmp_path / "other/uses_cwd.flags", "--flagfile=cwd.flags\n")
    assert flags_lib.parse_args(["t", f"--flagfile={tmp_path}/other/uses_cwd.flags"]).train.epochs == 7


def test_the_including_files_tree_wins_over_the_working_directory(tmp_path, monkeypatch):
    """A study copied out and edited reads its own base.flags, from whatever working directory."""
    cli.experiments_main(["copy", "cs5489_lecture", str(tmp_path / "mine")])
    base = tmp_path / "mine/experiments/cs5489_lecture/mini/base.flags"
    base.write_text(base.read_text() + "--epochs=1\n")
    monkeypatch.chdir(ROOT)  # the repository's own experiments/ is here too
    arm = tmp_path / f"mine/experiments/{NESTED}.flags"
    assert flags_lib.parse_args(["t", f"--flagfile={arm}"]).train.epochs == 1
    assert flags_lib.parse_args(["t", f"--experiment={NESTED}"]).train.epochs != 1
    monkeypatch.chdir(tmp_path / "mine")  # here the documented path and the name mean the copy
    assert flags_lib.parse_args(["t", f"--flagfile=experiments/{NESTED}.flags"]).train.epochs == 1
    assert flags_lib.parse_args(["t", f"--experiment={NESTED}"]).train.epochs == 1


def test_only_the_documented_prefix_falls_back_to_the_bundled_experiments(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UsageError, match=r"--flagfile=quickstart.flags does not exist; check the "
                                         r"path \(a relative path starts from the working"):
        flags_lib.parse_args(["t", "--flagfile=quickstart.flags"])
    for arg, shown in (("--flagfile=experiments/nope.flags", "--flagfile=experiments/nope.flags"),
                       ("--experiment=nope", "--experiment=nope (experiments/nope.flags)")):
        with pytest.raises(UsageError) as e:
            flags_lib.parse_args(["t", arg])
        assert str(e.value).startswith(shown + " is not in the working directory, nor among the "
                                               "bundled experiments"), e.value
        assert "python -m tfreg experiments list" in str(e.value)
    _write(tmp_path / "mine.flags", "--flagfile=experiments/nope.flags\n")
    with pytest.raises(UsageError, match=r"\(included by .*mine.flags\) is not in the working "
                                         r"directory, the including file's folder or above it"):
        flags_lib.parse_args(["t", "--flagfile=mine.flags"])


def test_a_loop_and_an_unreadable_flagfile_are_one_line_each(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _write(tmp_path / "a.flags", "--flagfile=b.flags\n")
    _write(tmp_path / "b.flags", "--epochs=2\n--flagfile=a.flags\n")
    with pytest.raises(UsageError, match="--flagfile=a.flags includes itself"):
        flags_lib.parse_args(["t", "--flagfile=a.flags"])
    (tmp_path / "folder.flags").mkdir()
    with pytest.raises(UsageError, match="does not exist"):
        flags_lib.parse_args(["t", "--flagfile=folder.flags"])
    (tmp_path / "binary.flags").write_bytes(b"\xff\xfe\x00--epochs=1")
    with pytest.raises(UsageError, match=r"cannot read --flagfile=binary.flags .*UnicodeDecode"):
        flags_lib.parse_args(["t", "--flagfile=binary.flags"])


def test_expansion_reads_a_flagfile_as_absl_does(tmp_path, monkeypatch):
    """Whole-line '#' and '//' comments and blank lines skipped, lines stripped, an empty
    --flagfile= ignored, nothing after '--' expanded, later flags override earlier ones."""
    monkeypatch.chdir(tmp_path)
    _write(tmp_path / "inner.flags", "--epochs=4\n")
    _write(tmp_path / "outer.flags", "# a comment\n// another\n\n   \n  --batch_size=9  \n"
                                     "--flagfile=\n--flagfile=inner.flags\n--epochs=5\n")
    assert flagfiles.expand(["prog", "--epochs=1", "--flagfile=outer.flags", "--seed=3", "--",
                             "--flagfile=x"]) == \
        ["prog", "--epochs=1", "--batch_size=9", "--epochs=4", "--epochs=5", "--seed=3", "--",
         "--flagfile=x"]
    cfg = flags_lib.parse_args(["t", "--flagfile=outer.flags", "--epochs=6"])
    assert (cfg.data.batch_size, cfg.train.epochs) == (9, 6)
    _write(tmp_path / "on_smoke.flags", "--experiment=smoke\n--epochs=1\n")  # in a file too
    assert _flags("--flagfile=on_smoke.flags") == _flags("--experiment=smoke", "--epochs=1")
    with pytest.raises(UsageError, match="--experiment needs a name"):
        flags_lib.parse_args(["t", "--experiment="])


def test_list_names_every_bundled_experiment_and_study(capsys):
    assert cli.main(["experiments"]) == 0
    out = capsys.readouterr().out
    for name in ("quickstart", "smoke", "asym_dropout", "cs5489_lecture", "bn_resnet18"):
        assert f"\n  {name} " in out, name
    assert "22 arms" in out and "tfreg-run --experiment=NAME" in out
    assert cli.experiments_main(["list", "cs5489_lecture"]) == 0
    out = capsys.readouterr().out
    assert "cs5489_lecture/dropout " in out and "cs5489_lecture/mini/dropout " in out
    # the description is the header's first line without its 'name: '
    listing = cli_output(["list"], capsys)
    assert re.search(r"\n  smoke +a tiny run that checks an installation", listing)
    assert cli.experiments_main(["list", "no_such_study"]) == 2
    assert "no bundled study 'no_such_study'" in capsys.readouterr().err


def cli_output(argv, capsys):
    assert cli.experiments_main(argv) == 0
    return capsys.readouterr().out


def test_copy_writes_the_documented_path_and_never_overwrites_by_default(tmp_path, monkeypatch,
                                                                         capsys):
    monkeypatch.chdir(tmp_path)
    out = cli_output(["copy", "quickstart"], capsys)
    copy = tmp_path / "experiments/quickstart.flags"
    assert copy.read_text() == (EXPERIMENTS / "quickstart.flags").read_text()
    assert "tfreg-run --experiment=quickstart" in out
    copy.write_text(copy.read_text() + "--epochs=2\n")
    assert flags_lib.parse_args(["t", "--experiment=quickstart"]).train.epochs == 2  # the copy
    assert cli.experiments_main(["copy", "experiments/quickstart.flags"]) == 2
    assert "already exists" in capsys.readouterr().err and "--epochs=2" in copy.read_text()
    assert cli.experiments_main(["copy", "quickstart", "--overwrite"]) == 0
    assert copy.read_text() == (EXPERIMENTS / "quickstart.flags").read_text()
    out = cli_output(["copy", "cs5489_lecture", "sub"], capsys)
    study = tmp_path / "sub/experiments/cs5489_lecture"
    assert (study / "README.md").is_file() and (study / "mini/dropout.flags").is_file()
    assert sorted(p.name for p in study.glob("*.flags")) == \
        sorted(p.name for p in (EXPERIMENTS / "cs5489_lecture").glob("*.flags"))
    assert "--experiment=cs5489_lecture/ARM" in out
    (tmp_path / "a_file").write_text("")
    for bad in (["copy", "nope"], ["copy", "../tfreg"], ["copy"], ["frobnicate"],
                ["copy", "quickstart", "a_file"]):  # DEST not a folder: one line, no traceback
        assert cli.experiments_main(bad) == 2, bad
        assert capsys.readouterr().err.startswith("tfreg: error: "), bad


def test_the_sweep_finds_arm_flagfiles_as_tfreg_run_does(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    _write(tmp_path / "mine.flags", "--flagfile=experiments/smoke.flags\n--epochs=1\n")
    arms = planlib.arms(["experiments/smoke.flags", "mine.flags"], None, [])
    assert [(name, source) for name, source, _ in arms] == \
        [("smoke", "experiments/smoke.flags"), ("mine", "mine.flags")]
    assert arms[0][2] == [f"--flagfile={EXPERIMENTS / 'smoke.flags'}"]
    assert arms[1][2] == [f"--flagfile={tmp_path / 'mine.flags'}"]
    with pytest.raises(UsageError, match="flagfile missing.flags does not exist"):
        planlib.arms(["missing.flags"], None, [])


def test_run_lists_the_bundled_experiments_and_documents_the_rule(tmp_path):
    help_text = run_cli("--help").stdout
    assert "--experiment=NAME" in help_text and "bundled" in help_text
    listing = run_cli("--list_experiments", cwd=tmp_path).stdout
    assert "smoke" in listing and "cs5489_lecture" in listing


@pytest.mark.slow
def test_dry_run_and_flags_txt_do_not_depend_on_where_the_flagfile_was_found(tmp_path):
    """The same nested study arm named three ways: from the repository root, from another
    working directory (found among the bundled experiments), and by --experiment."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    ways = {"root": (ROOT, f"--flagfile=experiments/{NESTED}.flags"),
            "elsewhere": (elsewhere, f"--flagfile=experiments/{NESTED}.flags"),
            "name": (elsewhere, f"--experiment={NESTED}")}
    tiny = ["--epochs=1", "--steps_per_epoch=1", "--nosaved_model", "--verbose=0"]
    dry, flags_txt = {}, {}
    for way, (cwd, arg) in ways.items():
        result = run_cli(arg, "--dry_run", f"--run_dir={tmp_path / 'dry'}", cwd=cwd)
        assert result.returncode == 0, result.stderr
        dry[way] = result.stdout
        run_dir = tmp_path / way / "run"
        result = run_cli(arg, *tiny, f"--run_dir={run_dir}", cwd=cwd)
        assert result.returncode == 0, result.stderr
        flags_txt[way] = (run_dir / "flags.txt").read_text().replace(str(run_dir), "RUN_DIR")
    assert dry["root"] and dry["root"] == dry["elsewhere"] == dry["name"]
    assert "--dropout_rates=0.1,0.1,0.1,0.1" in flags_txt["root"]
    assert flags_txt["root"] == flags_txt["elsewhere"] == flags_txt["name"]
