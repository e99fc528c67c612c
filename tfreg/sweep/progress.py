"""The sweep's progress bar (tqdm), counting runs in fractions while they train: a running run
counts its epochs done / epochs planned (the rows of its history.csv, which tfreg.run rewrites
after every epoch, against its --epochs), so the bar moves and tqdm has a rate, hence an ETA,
after the first epoch of the first run instead of sitting at 0% until a run ends. A run counts
1 when it ends (completed, stopped early or failed) and 0 again when it was interrupted (it is
not done), so the count the bar ends on is in whole runs. The running runs are read every
`interval_s` by a thread, which works the same whatever launches them (local processes or a
Slurm array writing to a shared file system)."""

import math
import threading

from tqdm import tqdm

from tfreg import runs

BAR_FORMAT = "{l_bar}{bar}| {runs}/{total_fmt} [{elapsed}<{remaining}, {rate_fmt}{postfix}]"
RUNNING_MAX = 0.99  # a run whose epochs are all done still evaluates and exports: not yet 1


def runs_text(n):
    """The bar's count: whole runs as integers ('4'), fractions to 0.01 run rounded down, so the
    count never shows a run as done before it ends."""
    whole = round(n)
    if abs(n - whole) < 1e-9:
        return str(whole)
    return f"{math.floor(n * 100 + 1e-9) / 100:.2f}"


class _RunBar(tqdm):
    @property
    def format_dict(self):
        return dict(super().format_dict, runs=runs_text(self.n))


def epochs_planned(run):
    """The run's --epochs from its flags, None when it has none."""
    try:
        epochs = int(run.flags.get("epochs"))
    except (TypeError, ValueError):
        return None
    return epochs if epochs > 0 else None


def fraction(run, planned_epochs):
    """The part of `run` done by its epochs (0 when unknown or unreadable: a history.csv being
    replaced, a stale handle on a shared file system), below RUNNING_MAX."""
    if not planned_epochs:
        return 0.0
    try:
        done = len(runs.read_history(run.dir / "history.csv"))
    except (OSError, ValueError, TypeError, UnicodeDecodeError):
        return 0.0
    return min(done / planned_epochs, RUNNING_MAX)


class SweepBar:
    """tqdm over the planned runs; `done` are the runs that need no launch (finished or skipped).
    An unfinished run starts with the epochs an earlier invocation left it (a resumed run has
    them already), in the bar's initial count, so they add nothing to the rate."""

    def __init__(self, planned, done, interval_s=5.0, **tqdm_args):
        self._lock = threading.Lock()
        self._epochs = {run.dir: epochs_planned(run) for run in planned}
        self._open = {run.dir: run for run in planned if run.dir not in done}
        self._credit = {d: fraction(run, self._epochs[d]) for d, run in self._open.items()}
        initial = len(planned) - len(self._open) + sum(self._credit.values())
        self.bar = _RunBar(total=len(planned), initial=initial, unit="run", bar_format=BAR_FORMAT,
                           miniters=0, **tqdm_args)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, args=(interval_s,), daemon=True,
                                        name="tfreg-sweep-progress")
        self._thread.start()

    def _set(self, run, value):
        """Caller holds the lock."""
        delta = value - self._credit.get(run.dir, 0.0)
        self._credit[run.dir] = value
        if delta:
            self.bar.update(delta)

    def poll(self):
        """Reads the epochs done of every run not yet ended."""
        with self._lock:
            for run in self._open.values():
                value = fraction(run, self._epochs[run.dir])
                if value > self._credit[run.dir]:
                    self._set(run, value)

    def _watch(self, interval_s):
        while not self._stop.wait(interval_s):
            self.poll()

    def ended(self, run, done):
        """`run` ended: it counts 1 when `done` (completed, stopped early, failed), else 0."""
        with self._lock:
            self._open.pop(run.dir, None)
            self._set(run, 1.0 if done else 0.0)

    def write(self, line):
        self.bar.write(line)

    def close(self):
        self._stop.set()
        self._thread.join()
        with self._lock:
            for run in self._open.values():  # never started or never ended (a stopped sweep)
                self._set(run, 0.0)
            self._open = {}
            self.bar.n = round(self.bar.n)  # whole runs, without float dust
        self.bar.close()
