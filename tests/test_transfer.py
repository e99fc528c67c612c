"""Transfer learning (--init_from, --trainable_stages, --probe_stage, --classes): frozen weights
and frozen batch-norm statistics stay put, the classifier is re-initialized only when its shape
changes, a probe is a linear classifier on stage k's pooled output, bad input is one line."""

import keras
import numpy as np
import pytest

from tfreg.analysis import common
from tfreg import validation
from tfreg.flags import UsageError, make_config
from tfreg.data import prepare
from tfreg.models.build import build_model
from tfreg.train import transfer

from conftest import tf_noise_free, tiny_flags

TINY = tiny_flags(synthetic_train_examples=64, synthetic_test_examples=16, batch_size=16,
                  optimizer="sgd", learning_rate=0.1, lr_schedule="constant", epochs=1)


def built(**overrides):
    cfg = make_config(**{**TINY, **overrides})
    return common.build(cfg, prepare.prepare(cfg))


def trained_step(**overrides):
    """(trainer, net, variables by path before, after one training step)."""
    trainer, net, train_ds = built(**overrides)
    before = {v.path: v.numpy().copy() for v in net.variables}
    common.step_function(trainer)(*next(iter(train_ds)))
    return trainer, net, before


def test_frozen_stages_keep_weights_and_batch_norm_statistics():
    trainer, net, before = trained_step(trainable_stages="3")
    moved = {v.path for v in net.variables if not np.array_equal(before[v.path], v.numpy())}
    weights = {v.path for v in net.trainable_variables}
    assert weights == {p for p in before if p.startswith(("stage3_", "logits/")) and
                       not p.endswith(("moving_mean", "moving_variance"))}
    assert {p for p in moved if "seed" not in p} == weights | {
        p for p in before if p.startswith("stage3_") and p.endswith(("moving_mean", "moving_variance"))}
    assert not any(p.startswith(("stem_", "stage1_", "stage2_")) for p in moved)


def test_trainable_stages_none_trains_only_the_classifier():
    _, net, _ = trained_step(trainable_stages="none")
    assert [v.path for v in net.trainable_variables] == ["logits/kernel", "logits/bias"]


def save_source(tmp_path, num_classes=10, **overrides):
    cfg = make_config(**{**TINY, **overrides})
    net = build_model(cfg, (32, 32, 3), num_classes)
    for v in net.trainable_variables:  # distinguishable from any fresh initialization
        v.assign(np.full(v.shape, 0.01, np.float32) + np.random.default_rng(1).normal(0, 1, v.shape))
    net.save(str(tmp_path / "model.keras"))
    (tmp_path / "flags.txt").write_text("".join(f"--{k}={v}\n" for k, v in {**TINY, **overrides}.items()))
    return net


def test_init_from_copies_matching_layers_and_reinitializes_a_resized_classifier(tmp_path):
    source = save_source(tmp_path)
    _, net, _ = built(init_from=str(tmp_path), classes="0,1,2,3,4")
    kernel = net.get_layer("logits").kernel
    assert kernel.shape == (16, 5)
    assert not np.allclose(kernel.numpy(), source.get_layer("logits").kernel.numpy()[:, :5])
    for layer in source.layers:
        if layer.weights and layer.name not in ("logits",):
            for a, b in zip(layer.get_weights(), net.get_layer(layer.name).get_weights()):
                np.testing.assert_array_equal(a, b)
    _, same, _ = built(init_from=str(tmp_path))  # the same labels: the classifier is copied too
    np.testing.assert_array_equal(same.get_layer("logits").kernel.numpy(),
                                  source.get_layer("logits").kernel.numpy())


def test_init_from_reinitializes_the_classifier_for_other_classes_of_the_same_count(tmp_path):
    source = save_source(tmp_path, num_classes=2, classes="0,1")
    _, other, _ = built(init_from=str(tmp_path), classes="2,3")
    assert other.get_layer("logits").kernel.shape == (16, 2)
    assert not np.allclose(other.get_layer("logits").kernel.numpy(),
                           source.get_layer("logits").kernel.numpy())
    np.testing.assert_array_equal(other.get_layer("stem_conv").kernel.numpy(),
                                  source.get_layer("stem_conv").kernel.numpy())


def test_init_from_refuses_another_architecture(tmp_path):
    save_source(tmp_path, width_multiplier=0.5)
    with pytest.raises(UsageError, match="width_multiplier=0.5.*same architecture"):
        validation.check_files(make_config(**TINY, init_from=str(tmp_path)))
    with pytest.raises(UsageError, match="completed tfreg run"):
        validation.check_files(make_config(**TINY, init_from=str(tmp_path / "missing")))
    build_model(make_config(**TINY, init_from=str(tmp_path)), (32, 32, 3), 10)  # reads no file


def test_probe_stage_is_a_linear_classifier_on_the_pooled_stage_output():
    trainer, net, _ = trained_step(probe_stage=2, trainable_stages="none", classes="0,1,2")
    assert not any(layer.name.startswith("stage3_") for layer in net.layers)
    assert [v.path for v in net.trainable_variables] == ["logits/kernel", "logits/bias"]
    x = np.random.default_rng(0).uniform(0, 255, (4, 32, 32, 3)).astype(np.float32)
    features = keras.Model(net.inputs, net.get_layer("stage2_block1_out").output)([x]).numpy()
    kernel, bias = net.get_layer("logits").get_weights()
    assert kernel.shape == (8, 3)
    logits = features.mean((1, 2)) @ kernel + bias
    expected = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    np.testing.assert_allclose(net([x], training=False).numpy(), expected, rtol=1e-4, atol=1e-6)


def test_select_classes_relabels_in_the_order_given():
    arrays = prepare.datasets.Arrays(np.arange(6)[:, None], np.array([0, 1, 2, 3, 2, 1]),
                                     np.arange(3)[:, None], np.array([3, 0, 2]), 4, "test")
    out = prepare.select_classes(arrays, (2, 0))
    assert out.num_classes == 2
    assert out.x_train[:, 0].tolist() == [0, 2, 4] and out.y_train.tolist() == [1, 0, 0]
    assert out.x_test[:, 0].tolist() == [1, 2] and out.y_test.tolist() == [1, 0]
    with pytest.raises(UsageError, match="beyond the dataset's 4"):
        prepare.select_classes(arrays, (1, 4))


@pytest.mark.parametrize("flags, message", [
    (["--trainable_stages=4"], "beyond resnet20's 3 stages"),
    (["--probe_stage=4"], "beyond resnet20's 3 stages"),
    (["--probe_stage=2", "--trainable_stages=3"], "after --probe_stage"),
    (["--probe_stage=2", "--head=multiscale"], "drop --head=multiscale"),
    (["--classes=3"], "at least two"),
    (["--init_from=/nonexistent"], "completed tfreg run"),
])
def test_cli_refuses_bad_transfer_flags_in_one_line(tmp_path, flags, message, run_process):
    run_dir = tmp_path / "run"
    result = run_process("--dataset=synthetic", "--model=resnet20", f"--run_dir={run_dir}", *flags)
    lines = tf_noise_free(result.stderr)
    assert result.returncode == 2 and len(lines) == 1 and message in lines[0], lines
    assert not run_dir.exists()
