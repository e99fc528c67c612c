"""tfreg installed from its wheel (issue 24): the wheel built from this working tree, installed into
a fresh virtual environment outside the repository, and used from an empty folder through its
console scripts: a bundled tiny experiment by name, a bundled study arm whose flagfiles include
each other, and a two-arm sweep of the user's own flagfiles, reported without a study
(`tfreg-report SWEEP --baseline=ARM`).

The fresh environment gets tfreg from the wheel only; its dependencies (TensorFlow and the rest)
come from this test's own environment through a .pth file, which Python reads after the fresh
environment's site-packages, so nothing is downloaded and the wheel's tfreg is the one imported
(checked)."""

import csv
import dataclasses
import json
import os
import pathlib
import shutil
import subprocess
import sys
import sysconfig

import pytest

from tfreg import config, runs
from tfreg import flags as flags_lib
from conftest import ROOT

pytestmark = pytest.mark.slow

ROOT = pathlib.Path(ROOT)
# what an sdist holds (MANIFEST.in): copied so that building writes nothing into the repository
SOURCES = ("pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "tfreg", "experiments")


@dataclasses.dataclass
class Installed:
    """A virtual environment with tfreg installed from its wheel."""
    venv: pathlib.Path
    wheel: pathlib.Path

    @property
    def env(self):
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        env["PATH"] = f"{self.venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        return env

    def tool(self, name, *args, cwd, timeout=600):
        """Runs the console script `name` (tfreg-run, tfreg-sweep, ...) of the environment in
        `cwd`; CompletedProcess with text output."""
        return subprocess.run([str(self.venv / "bin" / name), *map(str, args)], cwd=cwd,
                              env=self.env, capture_output=True, text=True, timeout=timeout)

    def python(self, code, cwd):
        return self.tool("python", "-c", code, cwd=cwd)


def build_wheel(out):
    """tfreg's wheel from a copy of this working tree's sources, built offline with this
    environment's setuptools (no build isolation)."""
    src = out / "src"
    for name in SOURCES:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            src.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, src / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                    "--no-index", "-w", str(out / "dist"), str(src)], check=True,
                   capture_output=True, text=True)
    (wheel,) = (out / "dist").glob("tfreg-*.whl")
    return wheel


def install_wheel(out):
    """A fresh virtual environment under `out` with tfreg installed from its wheel: `Installed`."""
    wheel = build_wheel(out)
    venv = out / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install",
                    "-q", "--no-deps", "--no-index", str(wheel)], check=True, capture_output=True,
                   text=True)
    site = subprocess.run([str(venv / "bin" / "python"), "-c",
                           "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          check=True, capture_output=True, text=True).stdout.strip()
    (pathlib.Path(site) / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return Installed(venv, wheel)


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    return install_wheel(tmp_path_factory.mktemp("wheel"))


@pytest.fixture
def empty_dir(tmp_path):
    folder = tmp_path / "empty"
    folder.mkdir()
    return folder


def _completed(result):
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    return result.stdout


def test_the_wheel_ships_the_experiments_and_its_tfreg_is_imported(installed, empty_dir):
    out = _completed(installed.python(
        "import tfreg, tfreg.flagfiles as f; print(tfreg.__file__); print(f.bundled_root())",
        empty_dir))
    module, bundled = out.split()
    assert pathlib.Path(module).is_relative_to(installed.venv), module
    assert pathlib.Path(bundled) == pathlib.Path(module).parent / "experiments"
    shipped = {p.relative_to(ROOT / "experiments").as_posix()
               for p in (ROOT / "experiments").rglob("*.flags")}
    assert {p.relative_to(bundled).as_posix() for p in pathlib.Path(bundled).rglob("*.flags")} == \
        shipped
    listing = _completed(installed.tool("tfreg-experiments", "list", cwd=empty_dir))
    assert "smoke" in listing and "cs5489_lecture" in listing
    assert list(empty_dir.iterdir()) == []


def test_a_bundled_tiny_experiment_runs_from_an_empty_folder(installed, empty_dir):
    out = _completed(installed.tool("tfreg-run", "--experiment=smoke", "--run_dir=runs/smoke",
                                    cwd=empty_dir))
    assert "status: completed" in out
    run = runs.load_run(empty_dir / "runs/smoke")
    assert run.status == "completed" and run.summary["final_test_accuracy"] > 0.2
    assert (empty_dir / "runs/smoke/saved_model").is_dir()
    # the run recorded the repository's experiments/smoke.flags, resolved
    expected = config.to_flagfile(flags_lib.parse_args(
        ["t", f"--flagfile={ROOT / 'experiments/smoke.flags'}", "--run_dir=runs/smoke"]))
    assert (empty_dir / "runs/smoke/flags.txt").read_text() == runs.FLAGS_HEADER + expected


def test_a_bundled_study_arm_resolves_its_includes_inside_the_package(installed, empty_dir):
    # mini/dropout.flags includes mini/base.flags, which includes base.flags, each by its
    # repository-root path
    out = _completed(installed.tool("tfreg-run", "--experiment=cs5489_lecture/mini/dropout",
                                    "--dry_run", cwd=empty_dir))
    assert "dropout" in out.lower()
    _completed(installed.tool("tfreg-experiments", "copy", "cs5489_lecture", cwd=empty_dir))
    assert (empty_dir / "experiments/cs5489_lecture/mini/dropout.flags").is_file()


USER_ARMS = {  # the user's own flagfiles, each on the bundled smoke experiment, shortened
    "baseline.flags": "# my baseline\n--flagfile=experiments/smoke.flags\n--epochs=1\n"
                      "--steps_per_epoch=5\n",
    "smoothing.flags": "# my change: label smoothing\n--flagfile=baseline.flags\n"
                       "--label_smoothing=0.1\n",
}


def run_own_sweep(installed, folder):
    """The user's two arms x one seed, swept from `folder` (the sweep directory: folder/sweep)."""
    for name, text in USER_ARMS.items():
        (folder / name).write_text(text)
    out = _completed(installed.tool("tfreg-sweep", *USER_ARMS, "--seeds=0", "--sweep_dir=sweep",
                                    cwd=folder))
    assert "2 completed, 0 failed" in out, out
    return folder / "sweep"


@pytest.fixture(scope="module")
def own_sweep(installed, tmp_path_factory):
    """A two-arm sweep of the user's own flagfiles, run once for the tests that read it."""
    return run_own_sweep(installed, tmp_path_factory.mktemp("own_sweep"))


def test_a_two_arm_sweep_of_the_users_own_flagfiles(own_sweep):
    with open(own_sweep / "sweep.csv") as f:
        rows = list(csv.DictReader(f))
    assert sorted((row["arm"], row["label_smoothing"], row["status"]) for row in rows) == \
        [("baseline", "0.0", "completed"), ("smoothing", "0.1", "completed")]
    for arm, smoothing in (("baseline", 0.0), ("smoothing", 0.1)):
        run = runs.load_run(own_sweep / arm / "seed_0")
        assert run.status == "completed", arm
        assert float(run.flags["label_smoothing"]) == smoothing
        assert (run.flags["dataset"], run.flags["epochs"]) == ("fashion_mnist", 1)
    assert "baseline.flags" in json.loads((own_sweep / "sweep.json").read_text())["command"]


def test_the_users_own_sweep_is_reported_without_a_study(installed, own_sweep):
    folder = own_sweep.parent
    _completed(installed.tool("tfreg-report", "sweep", "--baseline=baseline", "--out=report",
                              cwd=folder))
    with open(folder / "report/results.csv") as f:
        rows = {row["arm"]: row for row in csv.DictReader(f)}
    assert sorted(rows) == ["baseline", "smoothing"]
    assert rows["smoothing"]["baseline"] == "baseline"
    assert rows["smoothing"]["changes"] == "label_smoothing=0.1"
    text = (folder / "report/README.md").read_text()
    assert "every arm against `baseline`" in text and "agrees" not in text
