"""Every committed study report regenerates from its committed raw runs with the same numbers."""

import pathlib
import subprocess
import sys

import pytest

from conftest import ROOT

REPORTS = sorted(p.parent for p in (pathlib.Path(ROOT) / "reports").glob("*/results.csv")
                 if (p.parent / "runs").is_dir())


@pytest.mark.parametrize("report", REPORTS, ids=[p.name for p in REPORTS])
def test_committed_report_regenerates_from_its_runs(report, tmp_path):
    out = tmp_path / report.name
    study = report.name.removeprefix("pilot_")  # a study's pilot is reported as that study
    result = subprocess.run([sys.executable, "-m", "tfreg.report", str(report / "runs"),
                             f"--study={study}", f"--out={out}"],
                            capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert result.returncode == 0, result.stderr
    assert (out / "results.csv").read_text() == (report / "results.csv").read_text()
    for figure in report.glob("*.png"):
        assert (out / figure.name).is_file(), figure.name


def test_at_least_one_report_is_committed():
    assert REPORTS
