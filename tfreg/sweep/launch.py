"""The local launcher: each run is its own `python -m tfreg.run` process (precision policy and op
determinism are process-wide), one at a time or --parallel=N at once, each pinned to its own GPU
when there are several; without GPUs the N processes split the CPU cores instead (TensorFlow's
intra-op pool of each gets cores // N threads, its inter-op pool one), since N processes that
each size their thread pools to the whole machine oversubscribe it (two cs5489 mini runs at once
took 122 s split that way; one after the other, with whole-machine pools, took 134-242 s on the same
2-core machine that day). A stop request (Ctrl-C, SIGTERM) stops launching and passes SIGTERM to the
running children, which checkpoint and exit; a second request kills them (they resume from their
last completed epoch)."""

import json
import os
import pathlib
import signal
import subprocess
import sys
import time

from tfreg import rundir, runs

INTERRUPTED_EXIT = (130, 143)  # tfreg.run after SIGINT / SIGTERM


def write_flags(run):
    """The run's resolved flags, written before it starts (tfreg.run reads them back)."""
    run.dir.mkdir(parents=True, exist_ok=True)
    runs.atomic_write(run.dir / "flags.txt", run.flags_text)


def _last_line(path):
    try:
        lines = [line.strip() for line in pathlib.Path(path).read_text(errors="replace").splitlines()]
    except OSError:
        return "no log"
    lines = [line for line in lines if line]
    return lines[-1][:300] if lines else "no output"


def outcome(run, returncode):
    """The run's status after its process ended: summary.json's when it says finished or failed;
    'interrupted' after a signal (resumable); otherwise 'failed: ...' with the log's last line
    (exit status 2: tfreg.run refused to start; a crash before summary.json was updated)."""
    status = (runs.read_summary(run.dir) or {}).get("status")
    if status in runs.FINISHED:
        return status
    if returncode == 2:
        return f"failed: {_last_line(run.dir / 'run.log')}"
    if runs.status_kind(status) == "failed":
        return status
    if returncode is None or returncode < 0 or returncode in INTERRUPTED_EXIT or status == "interrupted":
        return "interrupted"
    return f"failed: exit status {returncode}: {_last_line(run.dir / 'run.log')}"


def cpu_threads(parallel, environ=os.environ, cores=None):
    """Thread settings for one of `parallel` CPU runs at once: TF_NUM_INTRAOP_THREADS = its share
    of the cores, TF_NUM_INTEROP_THREADS = 1; a setting already in the environment is kept."""
    cores = cores or len(os.sched_getaffinity(0))
    wanted = {"TF_NUM_INTRAOP_THREADS": str(max(1, cores // parallel)), "TF_NUM_INTEROP_THREADS": "1"}
    return {k: v for k, v in wanted.items() if k not in environ}


def local_gpus(environ=os.environ):
    """GPU ids to pin processes to: CUDA_VISIBLE_DEVICES when set, else `nvidia-smi -L`'s."""
    visible = environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [d.strip() for d in visible.split(",") if d.strip() and not d.strip().startswith("-")]
    try:
        listing = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [str(i) for i, _ in enumerate(l for l in listing.splitlines() if l.startswith("GPU "))]


THREAD_VARS = ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS")


def recorded_threads(run_dir):
    """The thread settings a run started with (config.json's environment.threads: each of
    THREAD_VARS, None where it was unset), or None for a run not started or from before tfreg
    recorded them."""
    try:
        threads = json.loads((pathlib.Path(run_dir) / "config.json").read_text())["environment"]["threads"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return threads if isinstance(threads, dict) and set(threads) == set(THREAD_VARS) else None


def run_env(slot, parallel, gpus, environ=None, cores=None, threads=None):
    """The environment of the run in launcher slot `slot` (0..parallel-1): the sweep's pid (the run
    ends with the sweep); with --parallel > 1 its share of the CPU cores (cpu_threads), and where
    there are GPUs one of them (round robin) with memory growth on when two runs share a GPU (with
    TensorFlow's default, the first process takes nearly all its memory). Settings already in the
    environment are kept, except the thread settings of a run that resumes (`threads`, from
    recorded_threads): it gets those it started with, since the thread count changes the order of
    TensorFlow's reductions and so the numbers (a resume under another --parallel stays exact)."""
    environ = os.environ if environ is None else environ
    env = dict(environ, **{PARENT_ENV: str(os.getpid())})
    if parallel > 1:
        env.update(cpu_threads(parallel, environ, cores))
    for name, value in (threads or {}).items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = str(value)
    if parallel > 1:
        if gpus:
            env["CUDA_VISIBLE_DEVICES"] = gpus[slot % len(gpus)]
            if parallel > len(gpus) and "TF_FORCE_GPU_ALLOW_GROWTH" not in environ:
                env["TF_FORCE_GPU_ALLOW_GROWTH"] = "true"
    return env


PARENT_ENV = "TFREG_SWEEP_PID"  # tfreg.run ends (SIGTERM, 'interrupted') when this process dies


def wait_for_holder(run, poll_s=1.0, say=print):
    """Waits while another process holds the run's lock: a run left by a sweep that died ends
    within seconds (it gets SIGTERM when its sweep dies, checkpoints, exits), and the same run is
    then resumed here rather than failed as 'in use'."""
    announced = False
    while (pid := rundir.holder(run.dir)) is not None:
        if not announced:
            say(f"tfreg.sweep: waiting for {run.dir}: in use by pid {pid} (a run left by an earlier "
                "sweep ends within seconds; another tfreg.run there, when it ends)", flush=True)
            announced = True
        time.sleep(poll_s)


class Stop:
    """Signal state shared by the launchers: the first signal asks to stop, a second to hurry."""

    def __init__(self):
        self.signum, self.count = None, 0

    def __call__(self, signum, frame=None):
        self.signum = self.signum or signum
        self.count += 1


class LocalLauncher:
    def __init__(self, parallel=1, gpus=(), python=sys.executable):
        self.parallel, self.gpus, self.python = parallel, list(gpus), python

    def _start(self, run, slot):
        wait_for_holder(run)
        write_flags(run)
        env = run_env(slot, self.parallel, self.gpus, threads=recorded_threads(run.dir))
        with open(run.dir / "run.log", "a") as log:
            # Its own process group: a Ctrl-C in the terminal reaches the sweep only, which then
            # sends each child exactly one SIGTERM.
            return subprocess.Popen(run.command(self.python), stdout=log, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, env=env, process_group=0)

    def run(self, todo, on_done, stop):
        """Runs `todo` in order; calls on_done(run, returncode, seconds) as each ends. Returns the
        runs never started (after a stop)."""
        pending, running, free = list(todo), {}, list(range(self.parallel))
        signalled = {}
        if self.parallel == 1 and len(gpus := local_gpus()) > 1:
            print(f"tfreg.sweep: one run at a time, each mirrored over all {len(gpus)} GPUs "
                  "(--strategy=auto); --parallel=N runs N at once, one GPU each", flush=True)
        while running or (pending and not stop.signum):
            while pending and free and not stop.signum:
                slot, run = free.pop(0), pending.pop(0)
                running[self._start(run, slot)] = (run, slot, time.monotonic())
            for proc in running:
                wanted = 0 if not stop.signum else (signal.SIGTERM if stop.count == 1 else signal.SIGKILL)
                if wanted and signalled.get(proc) != wanted:
                    proc.send_signal(wanted)
                    signalled[proc] = wanted
            for proc in [p for p in running if p.poll() is not None]:
                run, slot, started = running.pop(proc)
                free.append(slot)
                on_done(run, proc.returncode, time.monotonic() - started)
            time.sleep(0.2)
        return pending
