# Metadata lives in pyproject.toml; this file serves tools that still call setup.py and ships the
# experiments: the repository keeps its flagfiles in experiments/ (the path every README, flags.txt
# and report quotes), and the build copies them into the package as tfreg/experiments/, where an
# installed tfreg finds them (tfreg/flagfiles.py; in a clone it reads experiments/ directly).
import pathlib

from setuptools import setup
from setuptools.command.build_py import build_py

EXPERIMENTS = pathlib.Path(__file__).resolve().parent / "experiments"
SHIPPED = (".flags", ".md", ".py")  # flagfiles, their READMEs, a study's own scripts


def experiment_files():
    return sorted(p for p in EXPERIMENTS.rglob("*")
                  if p.is_file() and p.suffix in SHIPPED and "__pycache__" not in p.parts)


class BuildWithExperiments(build_py):
    """build_py, then experiments/ copied to <build>/tfreg/experiments/ as package data."""

    def _targets(self):
        out = pathlib.Path(self.build_lib) / "tfreg" / "experiments"
        return [(src, out / src.relative_to(EXPERIMENTS)) for src in experiment_files()]

    def run(self):
        super().run()
        for src, dst in self._targets():
            self.mkpath(str(dst.parent))
            self.copy_file(str(src), str(dst), preserve_mode=False)

    def get_outputs(self, include_bytecode=True):
        return super().get_outputs(include_bytecode) + [str(dst) for _, dst in self._targets()]


setup(cmdclass={"build_py": BuildWithExperiments})
