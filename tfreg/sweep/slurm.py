"""The Slurm launcher: the runs to do become one Slurm job array through submitit
(github.com/facebookincubator/submitit), each task one `python -m tfreg.run` process.

Before the time limit submitit signals the task (USR2); `RunTask.checkpoint` then stops the run
with SIGTERM (it checkpoints and exits) and submitit requeues the task, which resumes the run.
Slurm's `--signal=USR2@90` (no `B:`) reaches the run too, which ends 'interrupted' on USR2 as on
SIGTERM (exit 143, checkpoint kept), so either order of the two signals leaves a resumable run. A
task is requeued after a time limit up to MAX_REQUEUES times (submitit's default is 3).
`--launcher=submitit_local` sends the same array through submitit's LocalExecutor, to try a Slurm
sweep on one machine (and to test this path where there is no Slurm).

Multi-node runs (`--slurm_nodes=N`): each array task spans N nodes with one task per node; every
task starts the same `tfreg.run --strategy=multi_worker`, which builds its cluster from Slurm's
variables (tfreg.train.runtime.slurm_cluster_resolver); task 0 is the chief and writes the run
directory, task k logs to worker_<k>.log beside run.log. Under submitit's LocalExecutor the N
tasks run on this machine and get the Slurm variables a one-node step would have, so the same
path runs without Slurm."""

import os
import signal
import subprocess
import sys
import time

import submitit

from tfreg import runs
from tfreg.sweep import launch


MAX_REQUEUES = 1000


class RunTask(submitit.helpers.Checkpointable):
    """One array task: runs spec's command (its output to spec's run_dir/run.log) and returns
    (exit status, seconds)."""

    def __init__(self):
        self._proc = None

    def __call__(self, spec):
        started = time.monotonic()
        if (runs.read_summary(spec["run_dir"]) or {}).get("status") in runs.FINISHED:
            return 0, 0.0  # requeued just as the run finished
        env = dict(os.environ, **{launch.PARENT_ENV: str(os.getpid())})
        rank = 0
        if spec.get("nodes", 1) > 1:
            job = submitit.JobEnvironment()
            rank = job.global_rank
            if "SLURM_PROCID" not in env:  # submitit's LocalExecutor: a one-node Slurm step
                env.update(local_slurm_step(job.global_rank, job.num_tasks, job.job_id))
        log_name = "run.log" if rank == 0 else f"worker_{rank}.log"
        with open(os.path.join(spec["run_dir"], log_name), "a") as log:
            self._proc = subprocess.Popen(spec["command"], cwd=spec["cwd"], stdout=log,
                                          stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                          env=env)
            try:
                # poll, not wait(): a blocking wait holds the process's lock, and checkpoint(),
                # called from submitit's signal handler in this thread, must poll it too
                while self._proc.poll() is None:
                    time.sleep(0.5)
            except BaseException:  # cancelled or requeued: the run checkpoints on SIGTERM
                if self._proc.poll() is None:
                    self._proc.send_signal(signal.SIGTERM)
                raise
        return self._proc.returncode, time.monotonic() - started

    def checkpoint(self, spec):
        """Before the time limit (submitit's USR2, 90 s ahead on Slurm): stop the run, which saves
        its checkpoint, and requeue the same task, which resumes it."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + 80
            while self._proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.2)
        return submitit.helpers.DelayedSubmission(RunTask(), spec)

    def __getstate__(self):
        return {"_proc": None}  # a process handle does not pickle


def local_slurm_step(rank, num_tasks, job_id):
    """The variables of a Slurm job step with num_tasks tasks on this one node, for a multi-node
    run under submitit's LocalExecutor (SlurmClusterResolver reads them)."""
    return {"SLURM_PROCID": str(rank), "SLURM_STEP_NUM_TASKS": str(num_tasks),
            "SLURM_STEP_NODELIST": "localhost", "SLURM_STEP_TASKS_PER_NODE": str(num_tasks),
            "SLURM_JOB_ID": str(job_id)}


class SubmititLauncher:
    def __init__(self, sweep_dir, cluster, partition=None, time_min=240, gpus_per_task=1,
                 cpus_per_task=8, array_parallelism=256, nodes=1):
        self.folder = os.path.join(sweep_dir, ".submitit", "%j")
        self.cluster = cluster
        self.nodes = nodes
        # one task per node; submitit's LocalExecutor has one node, so its tasks stand for nodes
        placement = dict(nodes=1, tasks_per_node=nodes) if cluster == "local" else dict(
            nodes=nodes, tasks_per_node=1)
        self.parameters = dict(
            name="tfreg-sweep", timeout_min=time_min, gpus_per_node=gpus_per_task,
            cpus_per_task=cpus_per_task, slurm_partition=partition,
            slurm_array_parallelism=array_parallelism, **placement)

    def run(self, todo, on_done, stop):
        # submitit requeues a task after a time limit at most 3 times by default, abandoning a run
        # longer than four limits; tfreg's runs resume exactly, so let them come back as often
        executor = submitit.AutoExecutor(folder=self.folder, cluster=self.cluster,
                                         slurm_max_num_timeout=MAX_REQUEUES)
        executor.update_parameters(**self.parameters)
        specs = []
        for run in todo:
            launch.write_flags(run)
            specs.append({"command": run.command(sys.executable), "cwd": os.getcwd(),
                          "run_dir": str(run.dir), "nodes": self.nodes})
        jobs = executor.map_array(RunTask(), specs)
        waiting = dict(zip(jobs, todo))
        cancelled_at = None
        while waiting:
            if stop.signum and cancelled_at is None:
                for job in waiting:
                    job.cancel(check=False)  # Slurm sends the runs SIGTERM: they checkpoint
                cancelled_at = time.monotonic()
            for job in [j for j in waiting if j.done()]:
                try:
                    returncode, seconds = job.results()[0]  # task 0: the chief
                except Exception:  # noqa: BLE001 - cancelled, or killed; summary.json tells
                    returncode, seconds = None, 0.0
                on_done(waiting.pop(job), returncode, seconds)
            if cancelled_at is not None and time.monotonic() - cancelled_at > 120:
                break
            time.sleep(1.0)
        return list(waiting.values())
