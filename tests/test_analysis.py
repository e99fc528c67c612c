"""tfreg.analysis: the landscape measures where the answer is known (quadratic and linear losses),
probes that move nothing, train_step and the probes sharing one gradient, feature-map tiling,
the recipe's verdicts and rules, the learning-curve diagnosis, and the command line."""

import json
import math

import numpy as np
import pytest

from tfreg.analysis import cli, features, landscape, recipe
from tfreg.flags import make_config
from tfreg.report import diagnose


def quadratic(a):
    return lambda w: (0.5 * w[0] @ a @ w[0], [a @ w[0]])


def test_santurkar_quadratic_smoothness_is_the_curvature_along_g():
    rng = np.random.default_rng(0)
    m = rng.normal(size=(6, 6))
    a = m @ m.T + np.diag(np.arange(1.0, 7.0))  # symmetric positive definite, distinct eigenvalues
    w = [rng.normal(size=6)]
    etas = [0.01, 0.05, 0.1]
    got = landscape.santurkar_probe(quadratic(a), w, etas)
    g = a @ w[0]
    # grad(w) - grad(w - eta g) = eta A g, so every ratio is ||A g|| / ||g||
    assert got["smoothness"] == pytest.approx(math.sqrt(g @ a.T @ a @ g / (g @ g)), rel=1e-9)
    assert got["grad_changes"] == pytest.approx([eta * np.linalg.norm(a @ g) for eta in etas], rel=1e-9)
    assert got["losses"] == pytest.approx([0.5 * (w[0] - e * g) @ a @ (w[0] - e * g) for e in etas])
    # along an eigenvector the smoothness is its eigenvalue, below the largest one elsewhere
    vals, vecs = np.linalg.eigh(a)
    along = landscape.santurkar_probe(quadratic(a), [vecs[:, 2] / vals[2]], etas)
    assert along["smoothness"] == pytest.approx(vals[2], rel=1e-9)
    assert got["smoothness"] < vals[-1]


def test_santurkar_linear_loss_has_no_gradient_change():
    c = np.array([1.0, -2.0, 0.5])
    got = landscape.santurkar_probe(lambda w: (c @ w[0], [c]), [np.ones(3)], [0.1, 0.4])
    assert got["grad_changes"] == [0.0, 0.0] and got["smoothness"] == 0.0
    assert got["losses"] == pytest.approx([c @ (np.ones(3) - e * c) for e in (0.1, 0.4)])


def test_envelope_differences_and_bands():
    a, b, c = np.array([1.0, 2.0]), np.array([3.0, -4.0]), np.array([0.5, 0.0])
    linear = [a + t * b for t in range(5)]
    assert landscape.gradient_changes(linear) == pytest.approx([5.0] * 4)
    assert landscape.second_differences(linear) == pytest.approx([0.0] * 3)
    curved = [a + t * b + t * t * c for t in range(5)]  # second difference -2c at every inner step
    assert landscape.second_differences(curved) == pytest.approx([1.0] * 3)
    low, high = landscape.band([[1.0, 5.0, 2.0], [3.0, np.nan, 0.0], [2.0, 4.0, np.inf]])
    assert list(low) == [1.0, 4.0, 0.0] and list(high) == [3.0, 5.0, 2.0]


@pytest.fixture(scope="module")
def vgg_bn():
    """A built, compiled narrow VGG-A with BN and dropout after one SGD step (optimizer state exists)."""
    from tfreg.analysis import common
    from tfreg.data import prepare

    cfg = make_config(dataset="synthetic", model="vgg11", width_multiplier=0.125,
                      synthetic_train_examples=64, synthetic_test_examples=16, batch_size=16,
                      optimizer="sgd", momentum=0.0, learning_rate=0.1, lr_schedule="constant",
                      epochs=1, verbose=0)
    data = prepare.prepare(cfg)
    trainer, net, train_ds = common.build(cfg, data)
    batches = list(train_ds.take(3))
    common.step_function(trainer)(*batches[0])
    return trainer, net, batches


def snapshot(trainer):
    return [v.numpy().copy() for v in trainer.net.variables + trainer.optimizer.variables]


def test_probes_move_no_weight_optimizer_slot_or_bn_statistic(vgg_bn):
    from tfreg.analysis import common

    trainer, net, batches = vgg_bn
    before = snapshot(trainer)
    assert any("moving_mean" in v.path for v in net.variables)
    probe = common.gradient_probe(trainer)
    images, labels = batches[1]
    weights = [v.numpy() for v in trainer.trainable_variables]
    result = landscape.santurkar_probe(lambda w: probe(images, labels, w), weights, [0.1, 0.4])
    assert result["smoothness"] > 0 and len(result["losses"]) == 2
    for a, b in zip(before, snapshot(trainer)):
        np.testing.assert_array_equal(a, b)


def test_train_step_applies_the_gradient_the_probe_reports(vgg_bn):
    """SGD without momentum at rate 0.1: one train_step moves w to w - 0.1 g, g the probe's."""
    from tfreg.analysis import common

    trainer, net, batches = vgg_bn
    images, labels = batches[2]
    loss, grads = common.gradient_probe(trainer)(images, labels)
    w = [v.numpy().copy() for v in trainer.trainable_variables]
    logs = common.step_function(trainer)(images, labels)
    assert logs["loss"] == pytest.approx(loss, rel=1e-5)
    for before, g, v in zip(w, grads, trainer.trainable_variables):
        np.testing.assert_allclose(v.numpy(), before - 0.1 * g, rtol=1e-4, atol=1e-6)


def test_tile_places_each_channel_in_its_cell():
    acts = np.stack([np.full((2, 3), float(i)) for i in range(5)], -1)
    grid = features.tile(acts)  # 3 per row, 2 rows, 1-pixel gaps
    assert grid.shape == (2 * 2 + 1, 3 * 3 + 2)
    assert (grid[0:2, 4:7] == 1).all() and (grid[3:5, 4:7] == 4).all()
    assert np.isnan(grid[2]).all() and np.isnan(grid[3:5, 8:]).all()


def test_stage_activations_cover_stem_and_every_stage():
    from tfreg.models.build import build_model

    cfg = make_config(model="resnet20", width_multiplier=0.25)
    net = build_model(cfg, (8, 8, 3), 10)
    stages = features.stage_activations(net, np.zeros((8, 8, 3)))
    assert [s[0] for s in stages] == ["stem", "stage1", "stage2", "stage3"]
    assert [s[1] for s in stages] == ["stem_act", "stage1_block3_out", "stage2_block3_out",
                                      "stage3_block3_out"]
    assert [s[2].shape for s in stages] == [(8, 8, 4), (8, 8, 4), (4, 4, 8), (2, 2, 16)]


def test_initial_loss_verdicts():
    assert recipe.initial_loss_verdict(math.log(10) * 1.05, 10)[0]
    high = recipe.initial_loss_verdict(5.0, 10)
    assert not high[0] and "initialization scale" in high[1]
    assert not recipe.initial_loss_verdict(0.5, 10)[0]
    assert not recipe.initial_loss_verdict(float("nan"), 10)[0]


def test_overfit_verdicts():
    assert recipe.overfit_verdict([2.3, 0.1], [0.3, 1.0], 1.0)[0]
    nan = recipe.overfit_verdict([2.3, float("nan")], [0.1, 0.1], 1.0)
    assert not nan[0] and "too high" in nan[1]
    flat = recipe.overfit_verdict([2.30, 2.29, 2.29], [0.1, 0.1, 0.1], 1.0)
    assert not flat[0] and "too low" in flat[1]
    slow = recipe.overfit_verdict([2.3, 1.0], [0.1, 0.6], 1.0)
    assert not slow[0] and "train longer" in slow[1]


def test_lr_range_rule_is_a_tenth_of_the_rate_at_the_smoothed_minimum():
    rates = list(np.geomspace(1e-4, 1.0, 200))
    # loss falls until rate 1e-2, then climbs steeply: the smoothed minimum is a little later
    losses = [2.0 - 0.3 * math.log10(r / 1e-4) if r <= 1e-2 else 1.4 + 40 * (r - 1e-2) for r in rates]
    rate, rule, details = recipe.suggest(rates, losses)
    assert "one tenth" in rule and rate == pytest.approx(details["rate_at_min_smoothed_loss"] / 10)
    assert 1e-2 <= details["rate_at_min_smoothed_loss"] <= 3e-2
    assert details["rate_at_steepest_descent"] < details["rate_at_min_smoothed_loss"]


def test_diagnosis_over_fitting_when_the_smoothed_validation_loss_turns_up():
    rows = [{"epoch": i + 1, "accuracy": 0.80 + 0.02 * i, "val_accuracy": 0.80,
             "val_loss": 0.5 if i < 4 else 0.5 + 0.1 * (i - 3)} for i in range(8)]
    label, why = diagnose.diagnose(rows)
    assert label == "over-fitting" and "above its minimum" in why


def test_cli_bad_input_is_one_line_exit_2_and_writes_nothing(tmp_path, capsys):
    out = tmp_path / "out"
    cases = [["landscape", "--method=other"], ["landscape", "--learning_rates=0.1,x"],
             ["features", "--from_run", str(tmp_path)], ["sanity", "--norm=bogus"],
             ["lr_range", "--lr_start=1", "--lr_end=0.1"], ["landscape", "stray"]]
    for argv in cases:
        assert cli.main(argv + [f"--out={out}"]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("tfreg.analyze: error: "), (argv, err)
    assert not out.exists()
    out.mkdir()
    (out / "x").write_text("")
    assert cli.main(["sanity", f"--out={out}"]) == 2
    assert "already holds files" in capsys.readouterr().err


def test_cli_landscape_lr_envelope_writes_a_run_style_directory(tmp_path):
    out = tmp_path / "ls"
    argv = ["landscape", "--method=lr_envelope", "--learning_rates=0.01", "--steps=5",
            "--record_every_steps=1", f"--out={out}", "--dataset=synthetic", "--model=vgg11",
            "--width_multiplier=0.125", "--synthetic_train_examples=64", "--batch_size=16",
            "--optimizer=adam", "--lr_schedule=constant", "--verbose=0"]
    assert cli.main(argv) == 0
    assert sorted(p.name for p in out.iterdir()) == ["flags.txt", "lr_envelope.csv",
                                                      "lr_envelope.json", "lr_envelope.png"]
    result = json.loads((out / "lr_envelope.json").read_text())
    curves = result["curves"]["batch"]["0.01"]
    assert curves["steps"] == [0, 1, 2, 3, 4] and len(curves["grad_change"]) == 4
    assert len(curves["beta"]) == 3 and set(result["summary"]) == {"batch", "none"}
    assert "--model=vgg11" in (out / "flags.txt").read_text()
    make_config(flagfile=str(out / "flags.txt"))  # a valid flagfile


def test_a_truncated_model_keras_is_named_in_one_line(tmp_path, capsys):
    """issue 25 class 6: a model.keras cut short (a full disk, an interrupted copy) is reported as
    what it is, where Keras said 'File not found', before any computation."""
    run = tmp_path / "run"
    run.mkdir()
    (run / "flags.txt").write_text("--dataset=synthetic\n--model=vgg11\n--width_multiplier=0.125\n"
                                   "--synthetic_train_examples=64\n--batch_size=16\n")
    whole = tmp_path / "whole.keras"
    import keras
    keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]).save(whole)
    (run / "model.keras").write_bytes(whole.read_bytes()[:200])
    out = tmp_path / "out"
    assert cli.main(["features", "--from_run", str(run), f"--out={out}"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "model.keras is not a readable .keras archive" in err[0], err
    assert not out.exists()
