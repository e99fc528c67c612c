"""Every committed study report regenerates byte for byte (README.md, results.csv, every figure)
from its committed raw runs and its study file, tfreg/studies/<study>.toml; so does every
explaining run's report (reports/<study>/explain_<what>/)."""

import pathlib
import subprocess
import sys

import pytest

from conftest import ROOT

REPORTS = sorted(p.parent for pattern in ("*/results.csv", "*/explain_*/results.csv")
                 for p in (pathlib.Path(ROOT) / "reports").glob(pattern)
                 if (p.parent / "runs").is_dir())
STUDY_FILES = pathlib.Path(ROOT) / "tfreg" / "studies"


def _name(report):
    return str(report.relative_to(pathlib.Path(ROOT) / "reports"))


@pytest.mark.parametrize("report", REPORTS, ids=[_name(p) for p in REPORTS])
def test_committed_report_regenerates_from_its_runs_and_study_file(report, tmp_path):
    out = tmp_path / report.name
    explaining = report.name.startswith("explain_")
    # a study's pilot and its explaining runs are reported as that study
    study = report.parent.name if explaining else report.name.removeprefix("pilot_")
    study_file = STUDY_FILES / f"{study}.toml"
    runs = f"reports/{_name(report)}/runs"  # as the committed README's commands quote it
    result = subprocess.run([sys.executable, "-m", "tfreg.report", runs, f"--study={study_file}",
                             f"--out={out}"], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stderr
    written = sorted(p.name for p in out.iterdir())
    assert written == sorted(p.name for p in report.iterdir() if p.is_file())
    for name in written:
        new, old = (out / name).read_bytes(), (report / name).read_bytes()
        if name == "README.md":  # the one line that names the study file and --out as given
            new = new.replace(f" --study={study_file} --out={out}".encode(),
                              f" --study={study} --out=reports/{_name(report)}".encode())
        assert new == old, f"{report.name}/{name} differs"


def test_every_built_in_study_has_a_committed_report():
    studies = {p.name.removesuffix(".toml") for p in STUDY_FILES.glob("*.toml")}
    assert studies == {p.name.removeprefix("pilot_") for p in REPORTS
                       if not p.name.startswith("explain_")}
    assert len(studies) == 5
