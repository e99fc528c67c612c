"""The run store: read run directories without TensorFlow, and the one summary schema.

Every tool above `tfreg.run` (sweep, report, analysis) reads runs through `load_run` and
`find_runs`; none of them imports TensorFlow, so a report over hundreds of runs starts in about a
second. `tfreg.train` writes history.csv and summary.json through the functions here, so the
reader and the writer share one definition of each file.

summary.json has the same keys for every ending (SUMMARY_KEYS, `schema_version` SCHEMA_VERSION):
`status` is "running", "completed", "stopped_early", "interrupted" or "failed: <reason>", and
every metric a run did not reach is null. docs/guide/run-directory.md documents each key.
"""

import csv
import dataclasses
import io
import json
import os
import pathlib
import re
import tempfile

SCHEMA_VERSION = 1
FLAGS_HEADER = "# tfreg resolved flags: python -m tfreg.run --flagfile=THIS_FILE\n"
FINISHED = ("completed", "stopped_early")
# Flags that change what a run prints or exports, not what it computes: a resume may change them,
# and they never make two runs different arms or trials.
OUTPUT_FLAGS = ("verbose", "saved_model", "test_every_epochs", "tensorboard_images")

SEED_DIR = re.compile(r"^seed_(\d+)$")  # a sweep's layout: <sweep>/<arm>/seed_<k>/

HISTORY_COLUMNS = ("epoch", "lr", "loss", "accuracy", "val_loss", "val_accuracy", "test_loss",
                   "test_accuracy", "weight_norm", "grad_norm", "epoch_time_s")

SUMMARY_KEYS = (
    "schema_version", "status", "epochs_completed", "epochs_planned", "train_time_s",
    "wall_time_s", "params",
    "final_train_loss", "final_train_accuracy", "final_val_loss", "final_val_accuracy",
    "final_test_loss", "final_test_accuracy",
    "best_val_accuracy", "best_val_epoch", "best_test_accuracy", "best_test_epoch",
    "target_train_accuracy", "time_to_target_s", "epoch_to_target", "early_stopping_best_epoch",
    "tta", "tta_test_accuracy", "mc_dropout_samples", "mc_dropout_test_accuracy", "export_check",
    "timings",
)


def hparam_value(value):
    """A flag value as TensorBoard's HParams holds it: None ('all' stages) -> 'all', tuples ->
    'a,b', scalars unchanged."""
    if value is None:
        return "all"
    if isinstance(value, (bool, int, float, str)):
        return value
    return ",".join(map(str, value))


def trial_id(cfg_flat):
    """The HParams trial of a run, so the seeds of one arm group as one trial in TensorBoard: the
    arm's name for a run in a sweep's layout (<sweep>/<arm>/seed_<k>), else a hash of every flag
    but the seed and the places it writes."""
    import hashlib

    run_dir = pathlib.PurePath(str(cfg_flat.get("run_dir") or ""))
    if SEED_DIR.match(run_dir.name) and run_dir.parent.name:
        return run_dir.parent.name
    keep = {k: v for k, v in cfg_flat.items() if k not in ("seed", "run_dir", *OUTPUT_FLAGS)}
    return hashlib.sha1(json.dumps(keep, sort_keys=True, default=str).encode()).hexdigest()[:12]


def status_kind(status):
    """'failed: x' -> 'failed'; other statuses unchanged; None for a missing status."""
    if not isinstance(status, str):  # missing, or a hand-edited summary.json: not an ending
        return None
    return "failed" if status.startswith("failed") else status


def _best(rows, key):
    values = [(r[key], r["epoch"]) for r in rows if r.get(key) is not None]
    if not values:
        return None, None
    value, epoch = max(values, key=lambda v: (v[0], -v[1]))  # the first epoch reaching the max
    return value, epoch


def make_summary(status, rows, epochs_planned, params=None, train_time_s=None, wall_time_s=None,
                 target_train_accuracy=None, **extra):
    """A summary dict with every SUMMARY_KEYS key, derived from the history rows.

    `extra` sets the remaining keys (time_to_target_s, tta_test_accuracy, ...); unknown keys
    are an error, so the schema cannot drift silently.
    """
    unknown = set(extra) - set(SUMMARY_KEYS)
    if unknown:
        raise KeyError(f"not summary keys: {sorted(unknown)}")
    summary = dict.fromkeys(SUMMARY_KEYS)
    last = rows[-1] if rows else {}
    if train_time_s is None:
        train_time_s = sum(r.get("epoch_time_s") or 0.0 for r in rows)
    summary.update(schema_version=SCHEMA_VERSION, status=status, epochs_completed=len(rows),
                   epochs_planned=epochs_planned, params=params,
                   train_time_s=round(train_time_s, 3),
                   wall_time_s=None if wall_time_s is None else round(wall_time_s, 3),
                   target_train_accuracy=target_train_accuracy or None)
    for split, prefix in (("train", ""), ("val", "val_"), ("test", "test_")):
        for metric in ("loss", "accuracy"):
            summary[f"final_{split}_{metric}"] = last.get(prefix + metric)
    for split, prefix in (("val", "val_"), ("test", "test_")):
        summary[f"best_{split}_accuracy"], summary[f"best_{split}_epoch"] = _best(rows, prefix + "accuracy")
    summary.update(extra)
    return summary


# ---- writing (atomic: a reader never sees a partial file) ----------------------------------

def unwritable(path):
    """None when `path` (a folder, existing or not) can be created or written; else the nearest
    existing entry on its way that is not a writable folder, for the error message. Every tool
    checks its output place with it before it computes anything."""
    probe = pathlib.Path(path).absolute()
    while not probe.exists():
        probe = probe.parent
    return None if probe.is_dir() and os.access(probe, os.W_OK | os.X_OK) else probe


def atomic_write(target, text):
    target = pathlib.Path(target)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp creates 0600; results are ordinary files
        os.replace(tmp, target)
    except BaseException:
        pathlib.Path(tmp).unlink(missing_ok=True)
        raise


def write_json(target, obj):
    atomic_write(target, json.dumps(obj, indent=2, default=str) + "\n")


def _fmt(v):
    return str(v) if isinstance(v, int) else repr(float(v))


def history_text(rows):
    columns = [c for c in HISTORY_COLUMNS if any(r.get(c) is not None for r in rows)]
    out = io.StringIO()
    writer = csv.DictWriter(out, columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({c: ("" if r.get(c) is None else _fmt(r[c])) for c in columns})
    return out.getvalue()


def write_history(path, rows):
    atomic_write(path, history_text(rows))


# ---- reading ------------------------------------------------------------------------------

def read_history(path):
    """history.csv rows as dicts of floats (epoch an int, empty cells None); [] if absent."""
    try:
        with open(path) as f:
            rows = []
            for r in csv.DictReader(f):
                row = {k: (None if v in ("", None) else float(v)) for k, v in r.items()}
                row["epoch"] = int(row["epoch"])
                rows.append(row)
            return rows
    except FileNotFoundError:
        return []


def read_summary(run_dir):
    """summary.json as a dict, or None when it is missing or unreadable."""
    try:
        with open(pathlib.Path(run_dir) / "summary.json") as f:
            summary = json.load(f)
    except (OSError, ValueError):
        return None
    return summary if isinstance(summary, dict) else None


def parse_flagfile(text):
    """{name: string value} of a flags.txt (`--name=value`, `--name` -> 'true', `--noname` ->
    'false'); comment lines skipped. Values stay strings: the flag layer owns their types."""
    out = {}
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("--"):
            continue
        name, eq, value = line[2:].partition("=")
        if eq:
            out[name] = value
        elif name.startswith("no"):
            out[name[2:]] = "false"
        else:
            out[name] = "true"
    return out


@dataclasses.dataclass
class Run:
    """One run directory as the tools above tfreg.run see it."""
    dir: pathlib.Path
    flags: dict        # resolved flag values as written in config.json (flags.txt strings if absent)
    config: dict       # config.json ({} when missing)
    history: list      # history.csv rows
    summary: dict      # summary.json with every SUMMARY_KEYS key (status None when missing)

    @property
    def status(self):
        return self.summary.get("status")

    @property
    def finished(self):
        return self.status in FINISHED


def _read_json(path):
    try:
        with open(path) as f:
            value = json.load(f)
        return value if isinstance(value, dict) else {}
    except (OSError, ValueError):
        return {}


def load_run(run_dir):
    """Reads a run directory: its flags, config, history and summary (never raises on a partial
    run; a run killed before writing summary.json has status None)."""
    run_dir = pathlib.Path(run_dir)
    config = _read_json(run_dir / "config.json")
    flags = config.get("flags") or {}
    if not isinstance(flags, dict):
        raise ValueError(f"config.json: flags is not a mapping ({flags!r})"[:120])
    flags = dict(flags)
    if not flags and (run_dir / "flags.txt").exists():
        flags = parse_flagfile((run_dir / "flags.txt").read_text())
    summary = dict.fromkeys(SUMMARY_KEYS)
    summary.update(read_summary(run_dir) or {})
    return Run(run_dir, flags, config, read_history(run_dir / "history.csv"), summary)


def is_run_dir(path):
    """True when `path` holds a tfreg run: its flags.txt starts with tfreg's header line. That file
    is the marker: tfreg.run writes it before anything else of a run (tfreg.rundir.prepare), the
    sweep before starting the run, and an overwrite removes it last. Entries that only look like
    tfreg's (a summary.json, a checkpoints/ folder) do not make a folder a run."""
    flags = pathlib.Path(path) / "flags.txt"
    try:
        with open(flags, "rb") as f:
            return f.readline().startswith(b"# tfreg")
    except OSError:
        return False


def find_runs(root):
    """Every run directory under `root` (or root itself), sorted; does not descend into a run."""
    root = pathlib.Path(root)
    found = []
    for dirpath, dirnames, _ in os.walk(root):
        if is_run_dir(dirpath):
            found.append(pathlib.Path(dirpath))
            dirnames[:] = []  # multi-worker replicas (worker_i/) belong to their run
            continue
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
    return sorted(found)
