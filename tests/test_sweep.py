"""python -m tfreg.sweep: a grid x seeds completes with one correct sweep.csv row per run; a sweep
stopped with SIGTERM and started again repeats no finished run and ends with the same histories
as an uninterrupted sweep (--deterministic); the submitit path on its local executor; failed runs
are retried only with --retry_failed; bad input is one line, exit 2, nothing written."""

import csv
import json
import os
import signal
import subprocess
import sys
import threading
import time
from types import SimpleNamespace

import pytest

from conftest import ROOT, tiny_argv
from tfreg import config, runs
from tfreg import flags as flags_lib
from tfreg.sweep import cli, launch, plan, record

TINY = tiny_argv(synthetic_train_examples=64, synthetic_test_examples=32, batch_size=32,
                 learning_rate=0.01, saved_model=False)
GRID_RUN = TINY + ["--epochs=2", "--deterministic"]
NORM = ["all", "1,2"]
DROPOUT = ["0.2,0.2,0.2", "0.1,0.2,0.3"]
ARMS = [f"norm_stages={n}+dropout_rates={d}" for n in NORM for d in DROPOUT]


def sweep_cmd(*args):
    return [sys.executable, "-m", "tfreg.sweep", *args]


# Every run of these tests on one TensorFlow thread per pool, whether the sweep runs it alone,
# two at a time (--parallel=2 would set the same on a 2-core machine) or through submitit: equal
# histories need equal reduction orders.
SWEEP_ENV = dict(os.environ, PYTHONPATH=ROOT, TF_NUM_INTRAOP_THREADS="1", TF_NUM_INTEROP_THREADS="1")


@pytest.fixture(scope="session")
def run_sweep(processes):
    def run(*args, timeout=900):
        return processes.run(sweep_cmd(*args), capture_output=True, text=True, cwd=ROOT,
                             env=SWEEP_ENV, timeout=timeout)
    return run


def read_csv(sweep_dir):
    with open(sweep_dir / "sweep.csv") as f:
        return list(csv.DictReader(f))


def history(run_dir):
    with open(run_dir / "history.csv") as f:
        return [{k: v for k, v in r.items() if k != "epoch_time_s"} for r in csv.DictReader(f)]


def summary(run_dir):
    return json.loads((run_dir / "summary.json").read_text())


def events(folder):
    """The events of the event files directly in `folder` (TFRecord framing read by hand)."""
    import struct

    from tensorboard.compat.proto import event_pb2

    found = []
    for path in sorted(folder.glob("events.out.tfevents.*")):
        data = path.read_bytes()
        while data:
            (length,) = struct.unpack("<Q", data[:8])
            found.append(event_pb2.Event.FromString(data[12:12 + length]))
            data = data[16 + length:]
    return found


def hparams_data(folder, tag):
    """The HParams plugin data under `tag` in the event files directly in `folder`."""
    from tensorboard.plugins.hparams import plugin_data_pb2

    (value,) = [v for e in events(folder) for v in e.summary.value if v.tag == tag]
    return plugin_data_pb2.HParamsPluginData.FromString(value.metadata.plugin_data.content)


def hparams_experiment(sweep_dir):
    """The sweep's HParams experiment: one, in the tb/ folder of a run."""
    from tensorboard.plugins.hparams import metadata

    (path,) = sweep_dir.rglob("events.out.tfevents.*.tfreg-sweep")
    assert path.parent.name == "tb" and path.parent.parent.parent.parent == sweep_dir
    return hparams_data(path.parent, metadata.EXPERIMENT_TAG).experiment


def tensorboard_runs_without_scalars(sweep_dir):
    """The folders TensorBoard would list as runs (an event file directly inside) that hold no
    scalar: the run list's empty entries."""
    folders = {p.parent for p in sweep_dir.rglob("events.out.tfevents.*")}
    return sorted(str(f.relative_to(sweep_dir)) for f in folders
                  if not any(v.metadata.plugin_data.plugin_name == "scalars"
                             for e in events(f) for v in e.summary.value))


def hparams_group(run_dir):
    """The HParams session group (trial) a run's tb/ reports itself in."""
    from tensorboard.plugins.hparams import metadata

    return hparams_data(run_dir / "tb", metadata.SESSION_START_INFO_TAG).session_start_info.group_name


def last_line(proc):
    return proc.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def grid_sweep(tmp_path_factory, run_sweep):
    """The uninterrupted reference: a 2x2 grid x 1 seed, two processes at a time (the seeds of
    one arm: test_submitit_local_executor_runs_the_array)."""
    sweep_dir = tmp_path_factory.mktemp("grid") / "sweep"
    args = [f"--grid=norm_stages={'|'.join(NORM)}", f"--grid=dropout_rates={'|'.join(DROPOUT)}",
            "--seeds=0", f"--sweep_dir={sweep_dir}", "--parallel=2", *GRID_RUN]
    proc = run_sweep(*args)
    return SimpleNamespace(dir=sweep_dir, args=args, proc=proc)


def test_grid_x_seeds_completes_with_one_correct_row_per_run(grid_sweep):
    proc, sweep_dir = grid_sweep.proc, grid_sweep.dir
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert last_line(proc).startswith("tfreg.sweep: 4 completed, 0 failed, 0 skipped, 0 interrupted")
    assert sum(" seed " in line and ": completed, test accuracy " in line
               for line in proc.stdout.splitlines()) == 4
    rows = read_csv(sweep_dir)
    assert sorted((r["arm"], r["seed"]) for r in rows) == sorted((a, "0") for a in ARMS)
    varied = list(rows[0])[3:list(rows[0]).index("status")]
    assert varied == ["norm_stages", "dropout_rates"]
    for row in rows:
        run_dir = sweep_dir / row["run_dir"]
        assert run_dir == sweep_dir / row["arm"] / f"seed_{row['seed']}"
        assert row["arm"] == f"norm_stages={row['norm_stages']}+dropout_rates={row['dropout_rates']}"
        flags = (run_dir / "flags.txt").read_text().splitlines()
        assert flags[0].startswith("# tfreg resolved flags")
        for name in ("seed", "norm_stages", "dropout_rates"):
            assert f"--{name}={row[name]}" in flags
        s = summary(run_dir)
        assert row["status"] == s["status"] == "completed"
        assert float(row["final_test_accuracy"]) == s["final_test_accuracy"]
        assert int(row["epochs_completed"]) == 2 and row["params"] == str(s["params"])
    # arms differ in parameters where the grid says so
    by = {(r["arm"], r["seed"]): r for r in rows}
    assert by[(ARMS[0], "0")]["params"] != by[(ARMS[2], "0")]["params"]  # BN in 3 vs 2 stages
    experiment = hparams_experiment(sweep_dir)
    assert [(h.name, [v.string_value for v in h.domain_discrete.values])
            for h in experiment.hparam_infos] == [("norm_stages", sorted(NORM)),
                                                  ("dropout_rates", sorted(DROPOUT))]
    assert ("test", "epoch_accuracy") in [(m.name.group, m.name.tag) for m in experiment.metric_infos]
    assert {m.name.group for m in experiment.metric_infos} == {"test", "train"}  # no --val_split
    groups = {hparams_group(sweep_dir / r["run_dir"]) for r in rows}
    assert len(groups) == len(ARMS)  # one HParams trial per arm
    assert tensorboard_runs_without_scalars(sweep_dir) == []  # neither `.` nor `<arm>/seed_0/tb`
    assert "100%|" in proc.stderr and "| 4/4 [" in proc.stderr  # tqdm's bar over the sweep
    command = json.loads((sweep_dir / "sweep.json").read_text())["command"]
    assert command.startswith("python -m tfreg.sweep ") and "--grid=norm_stages=" in command


def test_rerun_of_a_finished_sweep_skips_everything_without_tensorflow(grid_sweep, processes):
    sweep_dir = grid_sweep.dir
    before = {p: p.stat().st_mtime_ns for p in sweep_dir.glob("*/seed_*/summary.json")}
    code = ("import sys; from tfreg.sweep import cli; rc = cli.main(sys.argv[1:]); "
            "assert 'tensorflow' not in sys.modules, 'tensorflow imported'; sys.exit(rc)")
    proc = processes.run([sys.executable, "-c", code, *grid_sweep.args], capture_output=True,
                         text=True, cwd=ROOT, env=SWEEP_ENV, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert last_line(proc).startswith("tfreg.sweep: 0 completed, 0 failed, 4 skipped, 0 interrupted")
    assert {p: p.stat().st_mtime_ns for p in before} == before
    assert len(read_csv(sweep_dir)) == 4


def test_sigterm_then_rerun_repeats_nothing_and_matches_the_uninterrupted_sweep(
        grid_sweep, tmp_path, processes, run_sweep):
    """Two of the reference's runs (same flags, same run names): SIGTERM to the sweep once the
    first has finished and the second is under way; the rerun skips the first, resumes the
    second, and both histories equal the reference's."""
    sweep_dir = tmp_path / "sweep"
    args = [f"--grid=norm_stages={'|'.join(NORM)}", f"--grid=dropout_rates={DROPOUT[0]}",
            "--seeds=0", f"--sweep_dir={sweep_dir}", *GRID_RUN]
    first, second = (sweep_dir / f"norm_stages={n}+dropout_rates={DROPOUT[0]}" / "seed_0" for n in NORM)
    proc = processes.Popen(sweep_cmd(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           text=True, cwd=ROOT, env=SWEEP_ENV)
    deadline = time.time() + 600
    while time.time() < deadline and proc.poll() is None:
        done = (first / "summary.json").exists() and summary(first)["status"] == "completed"
        if done and (second / "config.json").exists():  # the second run is past its start-up
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 128 + signal.SIGTERM, err[-3000:]
    assert "the same command resumes the sweep: python -m tfreg.sweep " in out  # issue 24
    assert out.strip().splitlines()[-1].startswith(
        "tfreg.sweep: 1 completed, 0 failed, 0 skipped, 1 interrupted")
    assert (summary(second) if (second / "summary.json").exists() else {}).get("status") != "completed"
    assert [r["status"] for r in read_csv(sweep_dir)] == ["completed", "interrupted"]
    kept = (summary(first), (first / "summary.json").stat().st_mtime_ns, (first / "run.log").stat().st_size)

    again = run_sweep(*args)
    assert again.returncode == 0, again.stderr[-3000:]
    assert last_line(again).startswith("tfreg.sweep: 1 completed, 0 failed, 1 skipped, 0 interrupted")
    assert (summary(first), (first / "summary.json").stat().st_mtime_ns,
            (first / "run.log").stat().st_size) == kept  # not run again
    for run_dir in (first, second):
        reference = grid_sweep.dir / run_dir.parent.name / "seed_0"
        assert history(run_dir) == history(reference), run_dir.parent.name
        assert summary(run_dir)["final_test_accuracy"] == summary(reference)["final_test_accuracy"]


def test_submitit_local_executor_runs_the_array(grid_sweep, tmp_path, run_sweep):
    """One arm x 2 seeds through submitit: seed 0 is the local launcher's run to the last digit;
    the seeds differ and are one trial in the HParams dashboard."""
    sweep_dir = tmp_path / "sweep"
    proc = run_sweep(f"--grid=norm_stages={NORM[0]}", f"--grid=dropout_rates={DROPOUT[0]}",
                     "--seeds=0,1", f"--sweep_dir={sweep_dir}", "--launcher=submitit_local",
                     "--slurm_gpus_per_task=0", *GRID_RUN)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert last_line(proc).startswith("tfreg.sweep: 2 completed, 0 failed, 0 skipped")
    assert [r["status"] for r in read_csv(sweep_dir)] == ["completed", "completed"]
    assert list((sweep_dir / ".submitit").glob("*/*_submitted.pkl"))
    arm = sweep_dir / ARMS[0]
    assert history(arm / "seed_0") == history(grid_sweep.dir / ARMS[0] / "seed_0")
    assert history(arm / "seed_0") != history(arm / "seed_1")
    assert hparams_group(arm / "seed_0") == hparams_group(arm / "seed_1")
    assert hparams_group(arm / "seed_0") == hparams_group(grid_sweep.dir / ARMS[0] / "seed_0")


def test_failed_run_does_not_stop_the_sweep_and_is_retried_only_when_asked(tmp_path, run_sweep):
    bad, good = tmp_path / "diverges.flags", tmp_path / "fine.flags"
    bad.write_text("\n".join(TINY + ["--norm=none", "--learning_rate=1e30", "--epochs=1"]) + "\n")
    good.write_text("\n".join(TINY + ["--epochs=1"]) + "\n")
    sweep_dir = tmp_path / "sweep"
    args = [str(bad), str(good), "--seeds=0", f"--sweep_dir={sweep_dir}"]
    failed_run = sweep_dir / "diverges" / "seed_0"

    proc = run_sweep(*args)
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert last_line(proc).startswith("tfreg.sweep: 1 completed, 1 failed, 0 skipped, 0 interrupted")
    assert "diverges seed 0: failed: non-finite loss" in proc.stdout
    rows = {r["arm"]: r for r in read_csv(sweep_dir)}
    assert rows["diverges"]["status"].startswith("failed: non-finite loss")
    assert rows["fine"]["status"] == "completed"
    stamp = (failed_run / "summary.json").stat().st_mtime_ns

    proc = run_sweep(*args)  # no TensorFlow run: both skipped
    assert proc.returncode == 1
    assert last_line(proc).startswith("tfreg.sweep: 0 completed, 0 failed, 2 skipped, 0 interrupted "
                                      "(1 skipped failed earlier; --retry_failed reruns them)")
    assert (failed_run / "summary.json").stat().st_mtime_ns == stamp

    proc = run_sweep(*args, "--retry_failed")
    assert proc.returncode == 1
    assert last_line(proc).startswith("tfreg.sweep: 0 completed, 1 failed, 1 skipped, 0 interrupted")
    assert (failed_run / "summary.json").stat().st_mtime_ns != stamp


def _flagfile(path, *lines):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def _bad_inputs(tmp):
    base = _flagfile(tmp / "base.flags", *TINY)
    a, b = _flagfile(tmp / "a" / "x.flags", *TINY), _flagfile(tmp / "b" / "x.flags", *TINY)
    sweep = f"--sweep_dir={tmp / 'sweep'}"
    return [
        ([base, "--bogus_flag=1", sweep], "bogus_flag"),
        ([base, "--dropout_rates=1.5", sweep], "--dropout_rates"),
        (["--flagfile=" + base, "--grid=norm_stages=1|4", sweep], "norm_stages=4"),
        (["--flagfile=" + base, "--grid=norm_stages", sweep], "--grid=FLAG=VALUE1|VALUE2"),
        (["--flagfile=" + base, "--grid=", sweep], "--grid=FLAG=VALUE1|VALUE2"),
        (["--flagfile=" + base, "--grid=norm_stages=1|1", sweep], "lists a value twice"),
        ([str(tmp / "missing.flags"), sweep], "missing.flags does not exist"),
        ([sweep], "nothing to run"),
        ([a, b, sweep], "both resolve to"),
        ([base, "--seeds=0,1,0", sweep], "lists a seed twice"),
        ([base, "--seeds=", sweep], "--seeds"),
        ([base, "--seeds=x", sweep], "--seeds=x"),
        ([base, "--seed=3", sweep], "--seeds"),
        ([base, "--run_dir=/tmp/x", sweep], "run directories"),
        ([base, "--overwrite", sweep], "skips finished runs"),
        (["--flagfile=" + base, "--grid=seed=1|2", sweep], "--seeds"),
        (["--flagfile=" + base, "--grid=epochs=1|2", "--epochs=3", sweep], "also in --grid"),
        ([base], "--sweep_dir"),
        ([base, f"--sweep_dir={tmp / 'base.flags' / 'sweep'}"], "not a writable folder"),
        ([base, sweep, "--parallel=0"], "--parallel"),
        # the data checks tfreg.run makes before it writes anything
        ([base, sweep, "--dataset=cifar10", f"--data_dir={tmp / 'nowhere'}"], "nowhere"),
        ([base, sweep, "--dataset=fashion_mnist", "--cutout_pixels=28"], "--cutout_pixels=28"),
        ([base, sweep, "--train_examples=5"], "--train_examples=5"),
    ]


def test_bad_input_is_one_line_exit_2_and_nothing_written(tmp_path, capsys):
    for argv, needle in _bad_inputs(tmp_path):
        assert cli.main(argv) == 2, argv
        out, err = capsys.readouterr()
        assert not out, argv
        assert err.startswith("tfreg.sweep: error: ") and err.count("\n") == 1, (argv, err)
        assert needle in err, (argv, err)
        assert not (tmp_path / "sweep").exists(), argv


def test_on_slurm_the_dataset_is_left_to_the_nodes(tmp_path, capsys):
    """A --data_dir that exists only on the cluster is not loaded here; the settings are still
    checked against the image size."""
    base = _flagfile(tmp_path / "base.flags", *TINY)
    common = [base, f"--sweep_dir={tmp_path / 'sweep'}", "--dataset=cifar10",
              "--data_dir=/cluster/data", "--launcher=slurm", "--list"]
    assert cli.main(common) == 0
    assert cli.main([*common, "--cutout_pixels=32"]) == 2
    assert "--cutout_pixels=32" in capsys.readouterr().err
    assert cli.main(common[:-2] + ["--list"]) == 2  # on this machine it must load


def test_a_run_dir_holding_other_flags_is_refused(tmp_path, capsys):
    """A flagfile edited between two invocations: neither skipping nor resuming is right."""
    arm = _flagfile(tmp_path / "arm.flags", *TINY)
    run_dir = tmp_path / "sweep" / "arm" / "seed_0"
    run_dir.mkdir(parents=True)
    old = flags_lib.parse_args(["tfreg.run", f"--flagfile={arm}", "--epochs=3", f"--run_dir={run_dir}"])
    (run_dir / "flags.txt").write_text(runs.FLAGS_HEADER + config.to_flagfile(old))
    assert cli.main([arm, "--seeds=0", f"--sweep_dir={tmp_path / 'sweep'}"]) == 2
    err = capsys.readouterr().err
    assert "holds a run started with other flags (--epochs)" in err
    assert sorted(p.name for p in (tmp_path / "sweep").iterdir()) == ["arm"]

    # a display flag may differ; a finished run written before a flag existed is not stale
    same = flags_lib.parse_args(["tfreg.run", f"--flagfile={arm}", "--verbose=2", f"--run_dir={run_dir}"])
    lines = [l for l in config.to_flagfile(same).splitlines() if not l.startswith("--mixup_alpha=")]
    (run_dir / "flags.txt").write_text(runs.FLAGS_HEADER + "\n".join(lines) + "\n")
    (run_dir / "summary.json").write_text('{"status": "completed"}')
    assert cli.main([arm, "--seeds=0", f"--sweep_dir={tmp_path / 'sweep'}", "--list"]) == 0
    assert "\tcompleted\t" in capsys.readouterr().out
    # unfinished and older than a flag: the flag's default stands in (it keeps the old behaviour),
    # so it resumes; asked to run with another value of that flag, it is refused (as tfreg.run would)
    (run_dir / "summary.json").write_text('{"status": "interrupted"}')
    assert cli.main([arm, "--seeds=0", f"--sweep_dir={tmp_path / 'sweep'}", "--list"]) == 0
    capsys.readouterr()
    assert cli.main([arm, "--seeds=0", f"--sweep_dir={tmp_path / 'sweep'}", "--list",
                     "--mixup_alpha=0.2"]) == 2
    assert "(--mixup_alpha)" in capsys.readouterr().err


def test_arm_names_are_readable_and_filesystem_safe():
    assert plan.safe_name("norm_stages=1,2+dropout_rates=0.1,0.2,0.3") == \
        "norm_stages=1,2+dropout_rates=0.1,0.2,0.3"
    assert plan.safe_name("data_dir=/a b") == "data_dir=_a_b"
    assert plan.safe_name(".hidden") == "_.hidden"  # run stores skip hidden folders
    long = plan.safe_name("x=" + "1," * 200)
    assert len(long) <= 160 and long != plan.safe_name("x=" + "1," * 201)


@pytest.fixture(scope="session")
def fake_run(processes):
    """Stand-ins for a PlannedRun whose process (started by the launcher) is a short Python script
    (argv[1]: its run directory), not a training run."""
    def make(tmp_path, name, script):
        run_dir = tmp_path / name
        return SimpleNamespace(arm=name, seed=0, dir=run_dir, flags_text="# tfreg\n",
                               command=lambda python: [python, "-c", script, str(run_dir)])
    return make


def test_parallel_processes_are_pinned_to_their_own_gpu(tmp_path, fake_run):
    assert launch.local_gpus({"CUDA_VISIBLE_DEVICES": "0,2"}) == ["0", "2"]
    assert launch.local_gpus({"CUDA_VISIBLE_DEVICES": ""}) == []
    # each process waits (up to 20 s) until two have started, so two really run at once
    script = ("import os, pathlib, sys, time; d = pathlib.Path(sys.argv[1]); "
              "print(os.environ['CUDA_VISIBLE_DEVICES'], flush=True); (d / 'started').touch(); "
              "[time.sleep(0.05) for _ in range(400) if len(list(d.parent.glob('*/started'))) < 2]")
    fakes = [fake_run(tmp_path, f"r{i}", script) for i in range(3)]
    ended = []
    launcher = launch.LocalLauncher(parallel=2, gpus=["0", "2"])
    assert launcher.run(fakes, lambda run, rc, s: ended.append((run.arm, rc)), launch.Stop()) == []
    assert sorted(ended) == [("r0", 0), ("r1", 0), ("r2", 0)]
    assert sorted((f.dir / "run.log").read_text().strip() for f in fakes[:2]) == ["0", "2"]
    assert (fakes[0].dir / "flags.txt").read_text() == "# tfreg\n"  # written before the start


def test_parallel_cpu_processes_split_the_cores(tmp_path, fake_run):
    assert launch.cpu_threads(2, {}, cores=2) == {"TF_NUM_INTRAOP_THREADS": "1",
                                                  "TF_NUM_INTEROP_THREADS": "1"}
    assert launch.cpu_threads(3, {}, cores=16)["TF_NUM_INTRAOP_THREADS"] == "5"
    assert launch.cpu_threads(4, {}, cores=2)["TF_NUM_INTRAOP_THREADS"] == "1"
    assert launch.cpu_threads(2, {"TF_NUM_INTRAOP_THREADS": "2"}, cores=2) == {
        "TF_NUM_INTEROP_THREADS": "1"}  # the user's own setting wins
    script = ("import os, sys; print(os.environ.get('TF_NUM_INTRAOP_THREADS'), "
              "os.environ.get('TF_NUM_INTEROP_THREADS'), flush=True)")
    for parallel in (1, 2):
        fake = fake_run(tmp_path, f"p{parallel}", script)
        launch.LocalLauncher(parallel=parallel).run([fake], lambda *a: None, launch.Stop())
        split = launch.cpu_threads(2, {}) if parallel == 2 else {}
        expected = " ".join(str(os.environ.get(k, split.get(k)))
                            for k in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"))
        assert (fake.dir / "run.log").read_text().strip() == expected


def test_a_resumed_run_gets_the_thread_settings_it_started_with(tmp_path, fake_run):
    """issue 25 class 8: the thread count changes TensorFlow's reduction order, so a run resumed
    under another --parallel gets the settings its config.json recorded, not the new split."""
    script = ("import os, sys; print(os.environ.get('TF_NUM_INTRAOP_THREADS'), "
              "os.environ.get('TF_NUM_INTEROP_THREADS'), flush=True)")
    fake = fake_run(tmp_path, "resumed", script)
    fake.dir.mkdir()
    recorded = {"TF_NUM_INTRAOP_THREADS": "2", "TF_NUM_INTEROP_THREADS": None}
    runs.write_json(fake.dir / "config.json", {"environment": {"threads": recorded}})
    assert launch.recorded_threads(fake.dir) == recorded
    assert launch.recorded_threads(tmp_path / "not_started") is None
    env = launch.run_env(0, 2, [], environ={"TF_NUM_INTEROP_THREADS": "4"}, cores=2, threads=recorded)
    assert env["TF_NUM_INTRAOP_THREADS"] == "2" and "TF_NUM_INTEROP_THREADS" not in env
    launch.LocalLauncher(parallel=2).run([fake], lambda *a: None, launch.Stop())
    assert (fake.dir / "run.log").read_text().strip() == "2 None"


def test_stop_forwards_sigterm_and_launches_nothing_more(tmp_path, fake_run):
    script = ("import pathlib, signal, sys, time; "
              "signal.signal(signal.SIGTERM, lambda *a: sys.exit(143)); "
              "(pathlib.Path(sys.argv[1]) / 'started').touch(); time.sleep(120)")
    fakes = [fake_run(tmp_path, f"r{i}", script) for i in range(3)]
    stop, ended = launch.Stop(), []

    def stopper():
        while not all((f.dir / "started").exists() for f in fakes[:2]):
            time.sleep(0.05)
        stop(signal.SIGTERM)

    threading.Thread(target=stopper, daemon=True).start()
    started = time.monotonic()
    not_started = launch.LocalLauncher(parallel=2).run(
        fakes, lambda run, rc, s: ended.append((run.arm, rc)), stop)
    assert time.monotonic() - started < 60
    assert [r.arm for r in not_started] == ["r2"] and not fakes[2].dir.exists()
    assert sorted(ended) == [("r0", 143), ("r1", 143)]
    assert {launch.outcome(f, 143) for f in fakes[:2]} == {"interrupted"}


@pytest.mark.usefixtures("processes")  # submitit's local executor starts the task's processes
def test_submitit_requeues_a_timed_out_task_and_the_task_resumes(tmp_path):
    """submitit's local executor signals the task (USR2) 5 s into a 1-minute limit, as Slurm does
    before a time limit: RunTask stops its process with SIGTERM and is requeued, and the second
    start finds what the first left (a stand-in for a run and its checkpoint)."""
    import submitit

    from tfreg.sweep import slurm

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    script = ("import pathlib, signal, sys, time; d = pathlib.Path(sys.argv[1]); "
              "sys.exit(0) if (d / 'stopped').exists() else None; "
              "signal.signal(signal.SIGTERM, lambda *a: ((d / 'stopped').touch(), sys.exit(143))); "
              "time.sleep(120)")
    executor = submitit.LocalExecutor(folder=tmp_path / "submitit" / "%j")
    executor.update_parameters(timeout_min=1, signal_delay_s=55)
    job = executor.submit(slurm.RunTask(), {"command": [sys.executable, "-c", script, str(run_dir)],
                                            "cwd": str(tmp_path), "run_dir": str(run_dir)})
    returncode, seconds = job.result()
    assert returncode == 0 and (run_dir / "stopped").exists()
    assert "Requeued job" in job.stderr() + job.stdout()


def test_a_finished_run_counts_as_finished_whatever_its_last_process_said(tmp_path):
    run = SimpleNamespace(dir=tmp_path)
    (tmp_path / "summary.json").write_text('{"status": "completed"}')
    assert launch.outcome(run, 2) == "completed"  # a requeued task refused by the finished run
    (tmp_path / "summary.json").write_text('{"status": "running"}')
    (tmp_path / "run.log").write_text("tfreg: error: another process holds the run\n")
    assert launch.outcome(run, 2) == "failed: tfreg: error: another process holds the run"
    assert launch.outcome(run, 143) == launch.outcome(run, -9) == "interrupted"


def test_a_studys_base_flags_is_not_an_arm():
    arms = plan.arms(["experiments/bn_resnet18/mini/base.flags",
                      "experiments/bn_resnet18/mini/l2.flags",
                      "experiments/bn_resnet18/mini/stem_3x3.flags"], None, [])
    assert [a[0] for a in arms] == ["l2", "stem_3x3"]


def test_a_sweep_runs_trial_is_its_arm_name(grid_sweep):
    """Issue 24: TensorBoard's HParams table shows the arm, not a hash."""
    for arm in ARMS:
        assert hparams_group(grid_sweep.dir / arm / "seed_0") == arm


def test_hparams_table_has_validation_columns_only_with_a_val_split(tmp_path):
    """Issue 24: a sweep without --val_split has no validation curves, and its HParams table no
    empty validation accuracy / loss columns; one run with a split brings them."""
    def finished(sweep_dir, arm, val_split):
        run_dir = sweep_dir / arm / "seed_0"
        (run_dir / "tb").mkdir(parents=True)
        (run_dir / "summary.json").write_text('{"status": "completed"}')
        return SimpleNamespace(dir=run_dir, flags={"val_split": val_split})

    for val_split, groups in (("0.0", {"test", "train"}), ("0.1", {"test", "validation", "train"})):
        sweep_dir = tmp_path / val_split
        planned = [finished(sweep_dir, "a", "0.0"), finished(sweep_dir, "b", val_split)]
        record.write_hparams_config(sweep_dir, planned, [])
        metrics = hparams_experiment(sweep_dir).metric_infos
        assert {m.name.group for m in metrics} == groups
        assert len(metrics) == 2 * len(groups)  # accuracy and loss of each


def test_steps_per_execution_that_does_not_divide_an_epoch_is_refused_before_any_run(tmp_path, capsys):
    arm = _flagfile(tmp_path / "arm.flags", *TINY, "--steps_per_epoch=0", "--steps_per_execution=7")
    assert cli.main([arm, "--seeds=0,1", f"--sweep_dir={tmp_path / 'sweep'}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--steps_per_execution=7 does not divide the" in err[0], err
    assert not (tmp_path / "sweep").exists() or not any((tmp_path / "sweep").rglob("flags.txt"))
