"""Process-wide runtime set-up: seeds, op determinism, precision policy, distribution strategy.

Importable on its own by the benchmark, sweep-side checks and analysis tools.
"""

import json
import os
import pathlib
import platform
import re
import subprocess

import keras
import tensorflow as tf

import tfreg
from tfreg import hardware
from tfreg.errors import UsageError

POLICIES = {"none": "float32", "float16": "mixed_float16", "bfloat16": "mixed_bfloat16"}


def setup_runtime(cfg):
    """Seeds, determinism and precision policy: before any model or data is built."""
    keras.utils.set_random_seed(cfg.run.seed)
    if cfg.run.deterministic:
        tf.config.experimental.enable_op_determinism()
    keras.mixed_precision.set_global_policy(POLICIES[cfg.run.mixed_precision])


SLURM_STEP = ("SLURM_PROCID", "SLURM_STEP_NUM_TASKS", "SLURM_STEP_NODELIST",
              "SLURM_STEP_TASKS_PER_NODE")
SLURM_PORT_BASE, SLURM_PORT_SPAN = 20000, 20000  # the run's port: from its Slurm job id


def check_runtime(run_cfg):
    """Combinations that only fail on the first step, refused before anything is written."""
    if run_cfg.strategy == "multi_worker":
        if "TF_CONFIG" not in os.environ and all(v in os.environ for v in SLURM_STEP):
            return  # a Slurm job step: the cluster comes from its variables (make_strategy)
        try:
            spec = json.loads(os.environ.get("TF_CONFIG", ""))
            spec["cluster"], spec["task"]["type"], spec["task"]["index"]
        except (ValueError, KeyError, TypeError):
            raise UsageError(
                "--strategy=multi_worker needs TF_CONFIG, e.g. TF_CONFIG='{\"cluster\": {\"worker\": "
                "[\"host1:2222\", \"host2:2222\"]}, \"task\": {\"type\": \"worker\", \"index\": 0}}' "
                "on each host, or a Slurm job step with one task per node (tfreg.sweep "
                "--launcher=slurm --slurm_nodes=N; docs/guide/distributed.md)") from None
        return  # listing devices here would start TensorFlow before the collective ops are set up
    if run_cfg.jit_compile and run_cfg.strategy == "mirrored" and len(tf.config.list_logical_devices("GPU")) < 2:
        raise UsageError(
            "--jit_compile with --strategy=mirrored needs GPUs (XLA cannot compile the "
            "cross-device step on CPU devices); drop --jit_compile or use --strategy=one_device")


def make_strategy(run_cfg):
    if run_cfg.strategy == "multi_worker":  # before any other TensorFlow op
        if "TF_CONFIG" not in os.environ and all(v in os.environ for v in SLURM_STEP):
            return tf.distribute.MultiWorkerMirroredStrategy(
                cluster_resolver=slurm_cluster_resolver(os.environ))
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_logical_devices("GPU")
    if run_cfg.strategy == "mirrored":
        return tf.distribute.MirroredStrategy()
    if run_cfg.strategy == "one_device":
        return tf.distribute.OneDeviceStrategy(gpus[0].name if gpus else "/cpu:0")
    return tf.distribute.MirroredStrategy() if len(gpus) > 1 else tf.distribute.get_strategy()


class _SlurmResolver(tf.distribute.cluster_resolver.SlurmClusterResolver):
    """TensorFlow's SlurmClusterResolver with the GPUs each task already sees: Slurm has set
    CUDA_VISIBLE_DEVICES per task, so it is left alone (auto_set_gpu=False), and a CPU node has
    none, which the base class cannot say (its port and GPU arithmetic needs gpus_per_task >= 1,
    so it gets 1 there while num_accelerators reports 0)."""

    def __init__(self, gpus, tasks_per_node, port_base):
        self._visible_gpus = gpus
        super().__init__(port_base=port_base, gpus_per_node=max(gpus, 1) * tasks_per_node,
                         gpus_per_task=max(gpus, 1), auto_set_gpu=False)

    def num_accelerators(self, task_type=None, task_id=None, config_proto=None):
        return {"GPU": self._visible_gpus}


def slurm_cluster_resolver(environ):
    """The cluster of a multi-node run from its Slurm job step (one run per step, every task one
    worker; task 0 is the chief): hosts, ranks and tasks per node from Slurm's variables, ports
    from the job id so that two runs sharing a node do not collide."""
    tasks_per_node = max(int(n) for n in re.findall(r"(\d+)(?:\(x\d+\))?",
                                                    environ["SLURM_STEP_TASKS_PER_NODE"]))
    port = SLURM_PORT_BASE + int(environ.get("SLURM_JOB_ID", "0").split("_")[0]) % SLURM_PORT_SPAN
    return _SlurmResolver(len(tf.config.list_physical_devices("GPU")), tasks_per_node, port)


def worker_run_dir(strategy, run_dir):
    """The chief writes run_dir; under multi-worker, worker i writes run_dir/worker_i (every
    worker must take part in evaluation and saving, which run collective ops)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) or resolver is None:
        return run_dir
    task_type, task_id = resolver.task_type, resolver.task_id
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    if task_type == "chief" or (task_type == "worker" and task_id == 0 and not has_chief):
        return run_dir
    return run_dir / f"{task_type}_{task_id}"


def source_commit():
    """The git commit of the tfreg source this process runs ('<sha>', '<sha>+dirty' when tfreg/
    has uncommitted changes), or None outside a git checkout (an installed wheel): a study's
    report names the commit its runs ran at."""
    root = pathlib.Path(tfreg.__file__).resolve().parent.parent
    if not (root / ".git").exists():
        return None
    try:
        git = ["git", "-C", str(root)]
        sha = subprocess.run(git + ["rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=30, check=True).stdout.strip()
        dirty = subprocess.run(git + ["status", "--porcelain", "--untracked-files=no", "--", "tfreg"],
                               capture_output=True, text=True, timeout=30, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return sha + ("+dirty" if dirty else "") if sha else None


def environment(strategy):
    """Versions, devices and the source commit, for config.json."""
    return {"tfreg": tfreg.__version__, "tensorflow": tf.__version__, "keras": keras.__version__,
            "python": platform.python_version(), "cpu": hardware.cpu_info(),
            "devices": [d.name for d in tf.config.list_logical_devices()],
            "replicas": strategy.num_replicas_in_sync, "source_commit": source_commit(),
            # what the sweep gives the run again when it resumes (tfreg.sweep.launch)
            "threads": {k: os.environ.get(k) for k in ("TF_NUM_INTRAOP_THREADS",
                                                        "TF_NUM_INTEROP_THREADS")}}
