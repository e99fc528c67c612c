"""The run directory contract (DESIGN.md): paths, the checks before a run starts, the lock, and
the overwrite rule.

<run_dir>/ flags.txt, config.json, history.csv, summary.json, tb/, checkpoints/, model.keras,
saved_model/, plots/ (and .lock while a process owns it). Results files are written atomically
(tfreg.runs.atomic_write), so a reader never sees a partial file.

Guarantees:
- A directory holding a finished run is never touched without --overwrite.
- What makes a folder a tfreg run is its flags.txt with tfreg's header line (runs.is_run_dir):
  written first, before any other entry of the run, and removed last by an overwrite.
- --overwrite clears only tfreg's own files, only in a directory that holds a tfreg run (or is
  empty), and only after every other check has passed and the lock is held.
- A folder that holds no tfreg run and has any entry but tfreg's lock is refused, with or without
  --overwrite, even when its entries are named like tfreg's (checkpoints/, plots/, history.csv).
- One process per run directory: `acquire` takes an flock on <run_dir>/.lock; the kernel
  releases it when the process dies, however it dies, so a stale lock never blocks a resume.
"""

import datetime
import errno
import fcntl
import os
import pathlib
import secrets
import shutil

from tfreg import runs
from tfreg.errors import UsageError

FILES = ("flags.txt", "config.json", "history.csv", "summary.json", "model.keras")
DIRS = ("tb", "checkpoints", "saved_model", "plots")  # saved_model/: written by the export
LOCK = ".lock"
DISPLAY_FLAGS = runs.OUTPUT_FLAGS  # a resume may change them

atomic_write = runs.atomic_write
write_json = runs.write_json
read_summary = runs.read_summary


def path(run_dir, name):
    return pathlib.Path(run_dir) / name


def default_run_dir(cfg):
    """runs/<model>_<dataset>_<UTC time>-<random>: unique even for runs started in one second."""
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y%m%d-%H%M%S")
    return os.path.join("runs", f"{cfg.model.model}_{cfg.data.dataset}_{stamp}-{secrets.token_hex(3)}")


def _foreign_entries(run_dir):
    """Entries of an existing directory that holds no tfreg run: everything but tfreg's lock (a
    run killed before writing its marker leaves only that) and the folders of a multi-worker
    run's other workers (worker_<i>/, chief_<i>/), which may start before the chief writes its
    marker."""
    return sorted(p.name for p in pathlib.Path(run_dir).iterdir()
                  if p.name != LOCK and not (p.is_dir() and p.name.startswith(("worker_", "chief_"))))


def check(run_dir, overwrite):
    """Raises UsageError unless run_dir can hold this run: new, empty, or a tfreg run (finished
    runs only with --overwrite), inside a writable folder. Creates nothing."""
    run_dir = pathlib.Path(run_dir)
    if run_dir.exists() and not run_dir.is_dir():
        raise UsageError(f"--run_dir={run_dir} is a file, not a folder; choose another --run_dir")
    foreign = _foreign_entries(run_dir) if run_dir.is_dir() and not runs.is_run_dir(run_dir) else []
    if foreign:
        raise UsageError(f"{run_dir} is not empty and holds no tfreg run ({', '.join(foreign[:3])}"
                         f"{', ...' if len(foreign) > 3 else ''}); tfreg never clears such a folder: "
                         "choose a new or empty --run_dir")
    summary = runs.read_summary(run_dir)
    if summary and summary.get("status") in runs.FINISHED and not overwrite:
        raise UsageError(f"{run_dir} already holds a {summary['status']} run; pass --overwrite to "
                         "replace it or choose another --run_dir")
    probe = runs.unwritable(run_dir.resolve())
    if probe:
        raise UsageError(f"cannot write the run directory {run_dir} ({probe} is not a writable "
                         "folder); choose another --run_dir")


def experiment_flags(text):
    """{name: value} of the flags of a flagfile that decide results (not run_dir, not display
    flags)."""
    return {k: v for k, v in runs.parse_flagfile(text).items()
            if k != "run_dir" and k not in DISPLAY_FLAGS}


def changed_flags(old_text, new_text, defaults_text=""):
    """Names of the result-deciding flags whose values differ. A flag missing from the old run's
    flags (added to tfreg after it started) counts as its default: a new flag's default keeps the
    behaviour that came before it."""
    old, new = experiment_flags(old_text), experiment_flags(new_text)
    defaults = runs.parse_flagfile(defaults_text)
    return sorted(k for k in old.keys() | new.keys()
                  if old.get(k, defaults.get(k)) != new.get(k, defaults.get(k)))


def check_resume(run_dir, flagfile_text, overwrite, defaults_text="", recorded_text=None):
    """An unfinished run is resumed only with the flags it was started with (`defaults_text`, the
    flagfile of every default, stands in for flags the run's flags.txt predates). Those are what
    the run recorded in config.json when it started (`recorded_text`, its flags as a flagfile)
    where it did, so a hand-edited flags.txt cannot change a run half way; else its flags.txt."""
    path_ = path(run_dir, "flags.txt")
    if overwrite or not path_.exists():
        return
    if recorded_text is not None:
        changed = changed_flags(recorded_text, flagfile_text, defaults_text)
        if changed:
            old = experiment_flags(recorded_text)
            shown = [f"--{k}={old[k]}" if k in old else f"no --{k}" for k in changed[:3]]
            raise UsageError(f"{run_dir} holds an unfinished run started with other flags than "
                             f"these (its config.json records {', '.join(shown)}; was its flags.txt "
                             "edited?); resume it with the flags it started with, or pass "
                             "--overwrite to start over")
    changed = changed_flags(path_.read_text(), flagfile_text, defaults_text)
    if changed:
        new = experiment_flags(flagfile_text)
        shown = [f"--{k}={new[k]}" if k in new else f"no --{k}" for k in changed[:3]]
        raise UsageError(f"{run_dir} holds an unfinished run started with other flags "
                         f"(now {', '.join(shown)}); resume it with "
                         f"--flagfile={path_}, or pass --overwrite to start over")


_held_locks = []  # open lock files, kept for the life of the process
_BUSY = (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES)


def lock_exclusive(f):
    """Takes an exclusive lock on the open file f without waiting: True when taken, False when
    another process holds it. flock first; where the filesystem has no flock (ENOLCK, EOPNOTSUPP
    or ENOSYS on some Lustre, GPFS and NFS mounts) POSIX record locks (fcntl.lockf), which such
    mounts often keep; either way the kernel or the lock server drops the lock when the process
    dies. UsageError, one line, where neither works."""
    error = None
    for lock in (fcntl.flock, fcntl.lockf):
        try:
            lock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except OSError as e:
            if e.errno in _BUSY:
                return False
            error = e
    raise UsageError(f"cannot lock {f.name}: its filesystem supports neither flock nor POSIX locks "
                     f"({error.strerror}); use a folder on a filesystem that does (a local disk, "
                     "or Lustre mounted with -o flock)")


def acquire(run_dir):
    """Creates run_dir and takes its lock; UsageError if another live process holds it."""
    run_dir = pathlib.Path(run_dir)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        f = open(run_dir / LOCK, "a+")
    except OSError as e:
        raise UsageError(f"cannot create the run directory {run_dir} ({e.strerror}); "
                         "choose another --run_dir") from None
    try:
        locked = lock_exclusive(f)
    except UsageError:
        f.close()
        raise
    if not locked:
        f.seek(0)
        owner = f.read().strip() or "unknown"
        f.close()
        raise UsageError(f"{run_dir} is in use by another tfreg process (pid {owner}); wait for "
                         "it to end or choose another --run_dir") from None
    f.seek(0)
    f.truncate()
    f.write(f"{os.getpid()}\n")
    f.flush()
    _held_locks.append(f)
    return f


def holder(run_dir):
    """The pid (text) of the live process that holds run_dir's lock, or None when none does."""
    try:
        with open(pathlib.Path(run_dir) / LOCK, "a+") as f:
            if lock_exclusive(f):
                return None  # closing the file releases the probe's lock
            f.seek(0)
            return f.read().strip() or "unknown"
    except (OSError, UsageError):
        return None


def prepare(run_dir, overwrite, flags_text):
    """Takes the lock, re-checks under it, clears a previous run's results when overwriting (the
    marker, flags.txt, last), writes flags.txt (`flags_text`) before any other entry, and creates
    the layout. Call only once every other check has passed."""
    run_dir = pathlib.Path(run_dir)
    acquire(run_dir)
    check(run_dir, overwrite)  # another process may have finished this run meanwhile
    if overwrite:
        for name in DIRS:
            shutil.rmtree(path(run_dir, name), ignore_errors=True)
        for name in FILES:
            if name != "flags.txt":
                path(run_dir, name).unlink(missing_ok=True)
    if overwrite or not runs.is_run_dir(run_dir):
        atomic_write(path(run_dir, "flags.txt"), flags_text)
    for name in DIRS:
        if name != "saved_model":
            path(run_dir, name).mkdir(parents=True, exist_ok=True)
    return run_dir
