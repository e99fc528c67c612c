"""The run directory contract (DESIGN.md): paths, atomic writes, and the overwrite rule.

<run_dir>/ flags.txt, config.json, history.csv, summary.json, tb/, checkpoints/, model.keras,
saved_model/, plots/. Results files are written to a temporary name and renamed, so a reader never
sees a partial file. A directory whose summary.json says "completed" is never overwritten
without --overwrite.
"""

import datetime
import json
import os
import pathlib
import shutil
import tempfile

from tfreg.config import UsageError

FILES = ("flags.txt", "config.json", "history.csv", "summary.json", "model.keras")
DIRS = ("tb", "checkpoints", "saved_model", "plots")


def path(run_dir, name):
    return pathlib.Path(run_dir) / name


def default_run_dir(cfg):
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d-%H%M%S")
    return os.path.join("runs", f"{cfg.model.model}_{cfg.data.dataset}_{stamp}")


def atomic_write(target, text):
    target = pathlib.Path(target)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; results are ordinary files
    os.replace(tmp, target)


def write_json(target, obj):
    atomic_write(target, json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")


def read_summary(run_dir):
    try:
        with open(path(run_dir, "summary.json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def check(run_dir, overwrite):
    """Raises UsageError if the run dir holds a completed run (without --overwrite) or cannot be
    written. Creates nothing."""
    summary = read_summary(run_dir)
    if summary and summary.get("status") in ("completed", "stopped_early") and not overwrite:
        raise UsageError(f"{run_dir} already holds a {summary['status']} run; pass --overwrite to "
                         "replace it or choose another --run_dir")
    probe = pathlib.Path(run_dir).resolve()
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK):
        raise UsageError(f"cannot write the run directory {run_dir} ({probe} is not a writable "
                         "folder); choose another --run_dir")


def check_resume(run_dir, flagfile_text, overwrite):
    """An unfinished run is resumed only with the flags it was started with."""
    path_ = path(run_dir, "flags.txt")
    if overwrite or not path_.exists():
        return
    def experiment_lines(text):
        return [l for l in text.splitlines() if l.startswith("--") and not l.startswith("--run_dir=")]
    old, new = experiment_lines(path_.read_text()), experiment_lines(flagfile_text)
    if old != new:
        changed = sorted(set(new) - set(old))
        raise UsageError(f"{run_dir} holds an unfinished run started with other flags "
                         f"(now {', '.join(changed[:3]) or 'fewer flags'}); resume it with "
                         f"--flagfile={path_}, or pass --overwrite to start over")


def prepare(run_dir, overwrite):
    """Creates the run dir layout; clears a completed run's results when overwrite is set."""
    run_dir = pathlib.Path(run_dir)
    if overwrite:
        for name in FILES:
            path(run_dir, name).unlink(missing_ok=True)
        for name in DIRS:
            shutil.rmtree(path(run_dir, name), ignore_errors=True)
    for name in DIRS:
        path(run_dir, name).mkdir(parents=True, exist_ok=True)
    return run_dir
