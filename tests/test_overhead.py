"""The run-overhead cuts (issue 27) change where the time goes, never a result: a run that tests
only every other epoch and exports no SavedModel trains to the same history; every run records
its per-phase timings; the default batch-norm kernel (fused) trains like Keras's layer to float32
rounding; the sweep's runs skip the SavedModel unless asked; batch-mode stochastic depth with the
fused kernel compiles under XLA."""

import json

import numpy as np
import pytest

from tfreg import config, runs, timing
from tfreg import flags as flags_lib
from tfreg.train import loop

from conftest import tiny_argv, tiny_flags

TINY = tiny_flags(synthetic_train_examples=256, synthetic_test_examples=64, batch_size=32, epochs=3,
                  steps_per_epoch=3, pad_crop_pixels=2, flip="horizontal", val_split=0.25,
                  deterministic=True)
TRAINING = ("lr", "loss", "accuracy", "val_loss", "val_accuracy", "weight_norm", "grad_norm")


def _run(tmp_path, name, **flags):
    run_dir = tmp_path / name
    summary = loop.train_and_evaluate(flags_lib.make_config(run_dir=str(run_dir), **{**TINY, **flags}),
                                      run_dir)
    return summary, runs.read_history(run_dir / "history.csv"), run_dir


@pytest.fixture(scope="module")
def before_and_after(tmp_path_factory):
    """The same deterministic run as before the cuts (test every epoch, SavedModel and its check)
    and with them (test after epochs 2 and 3 only, model.keras only)."""
    tmp = tmp_path_factory.mktemp("overhead")
    return (_run(tmp, "before", test_every_epochs=1, saved_model=True),
            _run(tmp, "after", test_every_epochs=2, saved_model=False))


def test_the_cuts_leave_every_training_number_unchanged(before_and_after):
    (_, old, _), (_, new, _) = before_and_after
    assert [r["epoch"] for r in new] == [1, 2, 3]
    for a, b in zip(old, new):
        assert {k: a[k] for k in TRAINING} == {k: b[k] for k in TRAINING}  # bitwise
    for r, o in zip(new, old):  # tested epochs: the same numbers as when every epoch was tested
        if r["epoch"] in _due(new, every=2):
            assert (r["test_accuracy"], r["test_loss"]) == (o["test_accuracy"], o["test_loss"])
        else:
            assert r["test_accuracy"] is None and r["test_loss"] is None


def test_several_steps_per_call_train_the_same_run(before_and_after, tmp_path):
    """--steps_per_execution=3 (one host round trip per epoch here) trains bitwise the same
    history, the same learning rates and the same final weights as one step per call."""
    (old, rows, old_dir) = before_and_after[0]
    new, new_rows, new_dir = _run(tmp_path, "k3", test_every_epochs=1, saved_model=False,
                                  steps_per_execution=3)
    keys = (*TRAINING, "test_accuracy", "test_loss")
    assert [{k: r[k] for k in keys} for r in new_rows] == [{k: r[k] for k in keys} for r in rows]
    assert new["final_test_accuracy"] == old["final_test_accuracy"]
    import keras

    a, b = (keras.saving.load_model(d / "model.keras", compile=False) for d in (old_dir, new_dir))
    for x, y in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_array_equal(x, y)


def test_steps_per_execution_must_divide_the_epoch(tmp_path):
    with pytest.raises(config.UsageError, match="must divide --steps_per_epoch"):
        flags_lib.make_config(**{**TINY, "steps_per_execution": 2})
    with pytest.raises(config.UsageError, match=r"does not divide the 6 steps of an epoch; use one "
                                                r"of 1, 2, 3, 6"):
        _run(tmp_path, "bad", steps_per_epoch=0, steps_per_execution=4)
    assert not (tmp_path / "bad").exists()


def _due(rows, every):
    """Epochs that hold test numbers: every k-th, the last, and the best validation epoch (the
    first reaching the best), the last one evaluated at the end on its saved weights."""
    best = max(rows, key=lambda r: (r["val_accuracy"], -r["epoch"]))["epoch"]
    return {r["epoch"] for r in rows if r["epoch"] % every == 0 or r is rows[-1]} | {best}


def test_summaries_agree_and_best_test_comes_from_the_tested_epochs(before_and_after):
    (old, _, _), (new, rows, run_dir) = before_and_after
    for key in ("final_train_loss", "final_test_accuracy", "final_test_loss", "best_val_accuracy",
                "best_val_epoch"):
        assert new[key] == old[key], key
    tested = [r for r in rows if r["test_accuracy"] is not None]
    assert new["best_test_accuracy"] == max(r["test_accuracy"] for r in tested)
    assert new["best_test_epoch"] in _due(rows, every=2)
    assert not (run_dir / "saved_model").exists()
    assert new["export_check"]["saved_model_max_abs_diff"] is None
    assert new["export_check"]["model_keras_max_abs_diff"] == 0.0


def test_every_run_records_where_its_time_went(before_and_after):
    (old, _, old_dir), (new, _, new_dir) = before_and_after
    for summary, run_dir in ((old, old_dir), (new, new_dir)):
        t = json.loads((run_dir / "summary.json").read_text())["timings"]
        assert t == summary["timings"]
        assert set(t) <= {"process_s", "other_s", *(f"{p}_s" for p in timing.PHASES)}
        for phase in ("build", "first_step", "train_steps", "validation", "test_eval",
                      "checkpoints", "model_keras", "export_check", "plots"):
            assert t[f"{phase}_s"] > 0, phase
        phases = sum(v for k, v in t.items() if k not in ("process_s", "other_s"))
        assert t["other_s"] == pytest.approx(t["process_s"] - phases, abs=0.01)
        assert t["process_s"] >= summary["train_time_s"]
        # an epoch's window (epoch_time_s) is the first step, the other steps and validation
        window = t["first_step_s"] + t["train_steps_s"] + t["validation_s"]
        assert window == pytest.approx(summary["train_time_s"], rel=0.05, abs=0.05)
    assert old["timings"]["saved_model_s"] > 0 and "saved_model_s" not in new["timings"]


def test_timings_reject_unknown_phases_and_sum_repeats():
    t = timing.Timings(from_process_start=False)
    t.add("checkpoints", 1.0)
    t.add("checkpoints", 0.5)
    assert t.as_dict()["checkpoints_s"] == 1.5
    with pytest.raises(KeyError, match="not a timing phase"):
        t.add("checkpoint", 1.0)
    # from the process start: interpreter start-up and imports count as 'startup'
    assert timing.Timings().as_dict()["startup_s"] > 0


def test_an_early_stop_tests_its_last_epoch_when_the_schedule_skipped_it(tmp_path):
    summary, rows, _ = _run(tmp_path, "early", epochs=6, test_every_epochs=0,
                            early_stopping_patience=1, early_stopping_monitor="val_loss",
                            learning_rate=2.0)
    assert summary["status"] == "stopped_early", summary["status"]
    assert rows[-1]["test_accuracy"] is not None and summary["final_test_accuracy"] is not None
    due = _due(rows, every=10 ** 6)
    assert {r["epoch"] for r in rows if r["test_accuracy"] is not None} == due
    # the endpoint of the studies: the test accuracy at the best validation epoch is recorded
    best = max(rows, key=lambda r: (r["val_accuracy"], -r["epoch"]))
    assert best["test_accuracy"] is not None


def test_the_test_schedule_skips_epochs(tmp_path):
    from tfreg.train.callbacks import RunRecorder

    def due(every, epochs=10):
        recorder = RunRecorder(tmp_path, None, None, epochs=epochs, test_every=every)
        return [epoch for epoch in range(1, epochs + 1) if recorder._test_due(epoch)]

    assert due(1) == list(range(1, 11))
    assert due(3) == [3, 6, 9, 10]
    assert due(0) == [10]


def test_the_default_fused_kernel_trains_like_keras_batch_norm(tmp_path):
    """The default changed from Keras's layer to the fused kernel: the same function, so a short
    run's history agrees to float32 rounding (amplified a little by the steps)."""
    fused, a, _ = _run(tmp_path, "fused", epochs=2, test_every_epochs=1)
    keras_bn, b, _ = _run(tmp_path, "keras", epochs=2, test_every_epochs=1,
                          batch_norm_kernel="keras")
    assert flags_lib.make_config().model.batch_norm_kernel == "fused"
    # epoch 1 (3 steps from the same weights): rounding; epoch 2: three more steps at lr 0.1
    # amplify it (seen: grad_norm 2.6e-3 apart, losses 6e-5)
    for x, y, rtol in zip(a, b, (2e-4, 1e-2)):
        for key in ("loss", "val_loss", "test_loss", "weight_norm", "grad_norm"):
            np.testing.assert_allclose(x[key], y[key], rtol=rtol, err_msg=f"epoch {x['epoch']} {key}")


def test_sweep_runs_skip_the_saved_model_unless_asked(tmp_path):
    from tfreg.sweep import plan

    flagfile = tmp_path / "a.flags"
    flagfile.write_text("--dataset=synthetic\n--epochs=1\n")
    on = tmp_path / "b.flags"
    on.write_text("--dataset=synthetic\n--epochs=1\n--saved_model\n")
    arms = plan.arms([str(flagfile), str(on)], None, [])
    default, from_flagfile = plan.plan(arms, [0], [], tmp_path / "sweep")
    assert default.flags["saved_model"] == "false"
    assert from_flagfile.flags["saved_model"] == "true"
    (asked,) = plan.plan(plan.arms([str(flagfile)], None, []), [0], ["--saved_model"],
                         tmp_path / "sweep2")
    assert asked.flags["saved_model"] == "true"


def test_xla_compiles_batch_drop_path_with_the_fused_kernel_and_batch_mixing(tmp_path, run_process):
    """Issue 26, items 1 and 2: the tf.cond of batch-mode stochastic depth failed in XLA's dynamic
    padder with the fused kernel in the branch (under --jit_compile the branch is now computed and
    masked), and mixup / CutMix failed at the first step (StatelessRandomGammaV3 has no XLA
    kernel; mixing now happens in tf.data). In a process of its own: Keras silently drops jit_compile once op determinism is on, and other
    tests of this process turned it on."""
    run_dir = tmp_path / "xla"
    result = run_process(*tiny_argv(synthetic_train_examples=64, synthetic_test_examples=32,
                                    batch_size=16, epochs=1, steps_per_epoch=2, jit_compile=True,
                                    drop_path_rate=0.5, drop_path_mode="batch", mixup_alpha=0.2,
                                    cutmix_alpha=1.0, saved_model=False), f"--run_dir={run_dir}")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Proceeding with `jit_compile=False`" not in result.stderr  # XLA really compiled
    summary = runs.read_summary(run_dir)
    assert summary["status"] == "completed" and np.isfinite(summary["final_train_loss"])
    flags = json.loads((run_dir / "config.json").read_text())["flags"]
    assert flags["jit_compile"] and flags["batch_norm_kernel"] == "fused"
