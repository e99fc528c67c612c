"""Model zoo: parameter counts, slots add or remove exactly the named layers, regularizer layers'
statistics, and save / reload / export equality."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfreg.flags import make_config
from tfreg.norm_stats import fit_stats
from tfreg.models.build import build_model
from tfreg.models.slots import leaf_layers
from tfreg.regularizers.drop_path import DropPath, DropPathBranch, block_rates
from tfreg.regularizers.dropout import Dropout


def params(net):
    return int(sum(np.prod(v.shape) for v in net.trainable_variables))


def names(net):
    """Top-level layer names and the names of layers nested in batch-mode drop-path branches."""
    return {layer.name for layer in net.layers} | set(leaf_layers(net))


def build(shape=(32, 32, 3), **flags):
    return build_model(make_config(**flags), shape, 10)


# resnet8 (one block per stage, not in the paper), counted by hand: stem 3*16*9 + 2*16 = 464, one
# block per stage 4,672 + 13,952 + 55,552 (3x3 convs + BN scale/shift; option-A shortcuts have no
# weights), head 64*10 + 10 = 650: 75,290.
@pytest.mark.parametrize("model,count", [("resnet18", 11_173_962), ("resnet50", 23_520_842),
                                         ("resnet8", 75_290), ("resnet20", 269_722),
                                         ("resnet56", 853_018)])
def test_parameter_counts_match_the_standard_architectures(model, count):
    assert params(build(model=model)) == count


def test_imagenet_stem_and_vgg_build():
    net = build(model="resnet18", stem="imagenet", shape=(64, 64, 3))
    assert {"stem_pool", "stem_conv"} <= names(net)
    assert net.get_layer("stem_conv").kernel.shape == (7, 7, 3, 64)
    vgg = build(model="vgg11", shape=(28, 28, 1))
    assert {f"stage{s}_pool" for s in range(1, 6)} | {"head_pool"} <= names(vgg)
    assert vgg.output_shape == (None, 10)
    assert not any("_norm" in n for n in names(build(model="vgg11", norm="none")))


def test_stable_layer_names():
    net = build(model="resnet20", dropout_rates=[0.1], drop_path_rate=0.2, block_dropout_rates=[0.1, 0.2])
    assert {"stage2_block1_conv2", "stage2_block1_norm2", "stage2_block1_drop1", "stage2_block1_drop2",
            "stage2_block2_droppath", "stage1_drop", "logits", "probs", "normalize"} <= names(net)


def test_each_slot_flag_adds_exactly_its_layers():
    base = names(build(model="resnet20"))
    assert names(build(model="resnet20", dropout_rates=[0.1, 0.0, 0.3])) - base == {"stage1_drop", "stage3_drop"}
    assert names(build(model="resnet20", head_dropout_rate=0.2)) - base == {"head_drop"}
    added = names(build(model="resnet20", block_dropout_rates=[0.2, 0.5])) - base
    assert added == {f"stage{s}_block{b}_drop{p}" for s in (1, 2, 3) for b in (1, 2, 3) for p in (1, 2)}
    blocks = {f"stage{s}_block{b}_droppath" for s in (1, 2, 3) for b in (1, 2, 3)}
    # batch mode (paper rule): every block's branch is wrapped, its own layers' names unchanged
    assert names(build(model="resnet20", drop_path_rate=0.3)) - base == blocks
    # sample mode (timm rule): the first block's rate is 0, so it gets no layer
    added = names(build(model="resnet20", drop_path_rate=0.3, drop_path_mode="sample")) - base
    assert added == blocks - {"stage1_block1_droppath"}
    no_norm = names(build(model="resnet20", norm_stages="2,3"))
    assert base - no_norm == {"stem_norm"} | {f"stage1_block{b}_norm{p}" for b in (1, 2, 3) for p in (1, 2)}
    assert not any("_norm" in n for n in names(build(model="resnet20", norm="none")))
    multi = names(build(model="resnet20", head="multiscale"))
    assert {"head_pool1", "head_pool2", "head_pool3", "head_concat"} <= multi


def test_norm_kinds_and_zero_init():
    for norm, groups in (("group", 8), ("layer", 1), ("instance", 16)):
        layer = build(model="resnet20", norm=norm, norm_groups=8).get_layer("stage1_block1_norm1")
        assert isinstance(layer, keras.layers.GroupNormalization) and layer.groups == groups
    bn = build(model="resnet20").get_layer("stage1_block1_norm1")
    assert bn.momentum == 0.9 and bn.epsilon == 1e-5  # PyTorch's 0.1 / 1e-5
    net = build(model="resnet20", zero_init_residual=True)
    assert np.all(net.get_layer("stage1_block1_norm2").gamma.numpy() == 0)
    assert np.all(net.get_layer("stage1_block1_norm1").gamma.numpy() == 1)


def test_drop_path_rules_give_the_exact_per_block_rates():
    # paper (Huang et al. 2016): p_l = l / L * p_L, l = 1..L; timm: 0 at the first block
    np.testing.assert_allclose(block_rates(0.5, 4, "paper"), [0.125, 0.25, 0.375, 0.5])
    np.testing.assert_allclose(block_rates(0.3, 4, "timm"), [0.0, 0.1, 0.2, 0.3])
    assert block_rates(0.2, 1, "paper") == block_rates(0.2, 1, "timm") == [0.2]
    expected = {("batch", "auto"): "paper", ("sample", "auto"): "timm",
                ("batch", "timm"): "timm", ("sample", "paper"): "paper"}
    for (mode, rule), resolved in expected.items():
        flags = {} if rule == "auto" else {"drop_path_rule": rule}
        net = build(model="resnet20", width_multiplier=0.25, shape=(8, 8, 3), drop_path_rate=0.3,
                    drop_path_mode=mode, **flags)
        rates = [layer.rate for name, layer in sorted(
            (layer.name, layer) for layer in net.layers if layer.name.endswith("_droppath"))]
        want = [r for r in block_rates(0.3, 9, resolved) if r > 0]
        np.testing.assert_allclose(rates, want, rtol=1e-12)
        kind = DropPathBranch if mode == "batch" else DropPath
        assert all(isinstance(layer, kind) for layer in net.layers if layer.name.endswith("_droppath"))
    paper = build(model="resnet20", drop_path_rate=0.3)
    assert params(paper) == 269_722  # the wrapped branches hold the same layers
    assert paper.get_layer("stage1_block1_droppath").rate == pytest.approx(0.3 / 9)
    assert paper.get_layer("stage2_block2_droppath").rate == pytest.approx(0.3 * 5 / 9)
    assert paper.get_layer("stage3_block3_droppath").rate == pytest.approx(0.3)


def test_a_drop_path_rule_without_a_rate_is_refused():
    from tfreg.config import UsageError

    with pytest.raises(UsageError, match="--drop_path_rule needs --drop_path_rate > 0"):
        make_config(drop_path_rule="paper")


def test_layout_prints_the_rates_of_the_rule_the_model_uses():
    from tfreg.models.build import layout

    cfg = make_config(model="resnet20", drop_path_rate=0.3)
    assert "drop_path=0.033..0.100 (batch, paper rule)" in layout(cfg)[0]
    assert "drop_path=0.233..0.300 (batch, paper rule)" in layout(cfg)[2]
    cfg = make_config(model="resnet20", drop_path_rate=0.3, drop_path_mode="sample")
    assert "drop_path=0.000..0.075 (sample, timm rule)" in layout(cfg)[0]


def test_batch_drop_path_skips_a_dropped_branch_and_its_batch_norm_updates():
    net = build(model="resnet20", width_multiplier=0.25, shape=(8, 8, 3), drop_path_rate=0.5)
    layer = net.get_layer("stage2_block2_droppath")  # identity shortcut: block = x + branch
    assert isinstance(layer, DropPathBranch)
    bn = layer.branch.get_layer("stage2_block2_norm1")
    x = tf.random.stateless_normal((4, 4, 4, 8), [1, 2])
    step = tf.function(lambda x: layer(x, training=True))
    outcomes = []
    for _ in range(48):  # rate 0.28 here: all 48 kept has probability 2e-7 (16 draws: 0.5%)
        before = bn.moving_mean.numpy().copy()
        y = step(x).numpy()
        dropped = not y.any()
        outcomes.append(dropped)
        # a dropped branch contributes exact zeros (the block outputs its shortcut) and its
        # BatchNorm statistics stay; a kept one moves them
        assert np.array_equal(bn.moving_mean.numpy(), before) == dropped
    assert 0 < sum(outcomes) < 48
    keep = 1 - layer.rate  # at test time: the branch times its survival probability
    np.testing.assert_allclose(layer(x, training=False).numpy(),
                               layer.branch(x, training=False).numpy() * keep, rtol=1e-6)


@keras.saving.register_keras_serializable(package="tfreg_test")
class CountCalls(keras.layers.Layer):
    """Identity that counts its executions in a variable (a side effect inside the graph)."""

    def build(self, input_shape):
        self.count = self.add_weight(shape=(), initializer="zeros", trainable=False, name="count")

    def call(self, x):
        self.count.assign_add(1.0)
        return x + 1.0


def test_batch_drop_path_runs_the_branch_only_when_kept():
    inputs = keras.Input((3,))
    counter = CountCalls()
    branch = keras.Model(inputs, counter(inputs))
    layer = DropPathBranch(branch, 0.4, seed=5)
    step = tf.function(lambda x: layer(x, training=True))
    kept = sum(bool(step(tf.zeros((2, 3))).numpy().any()) for _ in range(50))
    assert 15 < kept < 45
    assert float(counter.count.numpy()) == kept  # dropped steps never ran the branch


def test_batch_drop_path_under_stateless_call_matches_the_stateful_draw():
    # stateless_call takes the compute-and-roll-back path (as several replicas do): outputs and
    # every state change (BatchNorm statistics, dropout seeds inside dropped branches) match the
    # tf.cond path's
    net = build(model="resnet20", width_multiplier=0.25, shape=(8, 8, 3), drop_path_rate=0.6,
                block_dropout_rates=[0.3])
    x = tf.random.stateless_uniform((2, 8, 8, 3), [3, 3]) * 255
    trainable = [v.value for v in net.trainable_variables]
    state = [v.value for v in net.non_trainable_variables]
    stateless, new_state = tf.function(
        lambda x: net.stateless_call(trainable, state, x, training=True))(x)
    stateful = tf.function(lambda x: net(x, training=True))(x)  # same seeds: no state moved yet
    np.testing.assert_allclose(stateless.numpy(), stateful.numpy(), rtol=1e-5, atol=1e-6)
    unchanged = 0
    for v, old, new in zip(net.non_trainable_variables, state, new_state):
        np.testing.assert_allclose(np.asarray(new), v.numpy(), rtol=1e-5, atol=1e-6, err_msg=v.path)
        if "_block" in v.path and v.path.endswith("moving_mean"):
            unchanged += np.array_equal(np.asarray(old), v.numpy())
    assert unchanged > 0  # some branch was dropped and kept its statistics


def test_dropout_keeps_the_mean_and_is_identity_at_inference():
    x = tf.ones((200, 1000))
    layer = Dropout(0.3, seed=1)
    y = layer(x, training=True).numpy()
    assert abs(y.mean() - 1.0) < 0.01
    values = np.unique(y)
    assert len(values) == 2 and values[0] == 0 and values[1] == pytest.approx(1 / 0.7, rel=1e-6)
    assert abs((y == 0).mean() - 0.3) < 0.01
    assert np.array_equal(layer(x, training=False).numpy(), x.numpy())
    assert np.array_equal(Dropout(0.0)(x, training=True).numpy(), x.numpy())


def test_sample_drop_path_keeps_the_mean_per_example():
    x = tf.ones((20000, 4, 4, 2))
    y = DropPath(0.3, mode="sample", seed=2)(x, training=True).numpy()
    per_example = y.reshape(len(y), -1)
    assert np.all(per_example.min(1) == per_example.max(1))  # whole example kept or dropped
    assert abs((per_example[:, 0] == 0).mean() - 0.3) < 0.015
    assert abs(y.mean() - 1.0) < 0.02
    assert np.array_equal(DropPath(0.3, mode="sample")(x[:5], training=False).numpy(), x[:5].numpy())


def test_batch_drop_path_drops_whole_batches_and_scales_at_test():
    layer = DropPath(0.3, mode="batch", seed=3)
    x = tf.ones((8, 4, 4, 2))
    kept = []
    for _ in range(2000):
        y = layer(x, training=True).numpy()
        assert y.min() == y.max() and y.max() in (0.0, 1.0)  # one draw, no rescale
        kept.append(y.max())
    assert abs(np.mean(kept) - 0.7) < 0.03
    np.testing.assert_allclose(layer(x, training=False).numpy(), 0.7)
    assert np.array_equal(DropPath(0.0, mode="batch")(x, training=False).numpy(), x.numpy())


def test_every_custom_layer_survives_keras_and_savedmodel_round_trip(tmp_path):
    cfg = make_config(model="resnet20", width_multiplier=0.25, normalize="zca", norm="group",
                      dropout_rates=[0.1], drop_path_rate=0.2, weight_standardization=True,
                      block_dropout_rates=[0.1], head_dropout_rate=0.1, activation="mish")
    x_train = np.random.default_rng(0).integers(0, 256, size=(64, 8, 8, 3)).astype(np.uint8)
    net = build_model(cfg, (8, 8, 3), 10)
    net.get_layer("normalize").set_stats(fit_stats(x_train, "zca", 0.1))
    x = x_train[:4].astype(np.float32)
    expected = net(x, training=False).numpy()
    net.save(tmp_path / "m.keras")
    reloaded = keras.saving.load_model(tmp_path / "m.keras")
    np.testing.assert_array_equal(reloaded(x, training=False).numpy(), expected)
    assert isinstance(reloaded.get_layer("stage3_block3_droppath"), DropPathBranch)
    assert [v.path for v in reloaded.weights] == [v.path for v in net.weights]
    for a, b in zip(reloaded.weights, net.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    net.export(str(tmp_path / "sm"), format="tf_saved_model", verbose=False)
    loaded = tf.saved_model.load(str(tmp_path / "sm"))  # keep a reference: it owns the variables
    served = loaded.serve(tf.constant(x)).numpy()
    np.testing.assert_allclose(served, expected, atol=1e-6)


def test_weight_standardized_conv_kernel_is_standardized():
    net = build(model="resnet20", width_multiplier=0.25, weight_standardization=True, norm="none")
    conv = net.get_layer("stage2_block1_conv1")
    kernel = conv.kernel.numpy()
    fan_in = np.prod(kernel.shape[:3])
    mean, var = kernel.mean((0, 1, 2)), kernel.var((0, 1, 2))
    w_hat = (kernel - mean) / np.sqrt(np.maximum(var * fan_in, 1e-4))
    x = tf.random.stateless_normal((2, 8, 8, kernel.shape[2]), seed=[1, 2])
    ours = conv(x).numpy()
    direct = tf.nn.conv2d(x, w_hat, 2, "SAME").numpy() + conv.bias.numpy()
    np.testing.assert_allclose(ours, direct, atol=1e-4)
    assert np.allclose(w_hat.reshape(-1, w_hat.shape[-1]).var(0) * fan_in, 1.0, atol=1e-3)


def test_initialization_follows_the_seed_and_differs_per_layer():
    import keras

    def init(seed):
        keras.utils.set_random_seed(seed)
        return build(model="resnet20", width_multiplier=0.25)

    a, b, c = init(1), init(1), init(2)
    k = lambda net, name: net.get_layer(name).kernel.numpy()  # noqa: E731
    np.testing.assert_array_equal(k(a, "stage1_block1_conv1"), k(b, "stage1_block1_conv1"))
    assert not np.array_equal(k(a, "stage1_block1_conv1"), k(c, "stage1_block1_conv1"))
    assert not np.array_equal(k(a, "stage1_block1_conv1"), k(a, "stage1_block2_conv1"))
    std = k(a, "stage3_block2_conv2").std()  # kaiming normal, fan_out = 3 * 3 * 16
    assert abs(std - np.sqrt(2 / (9 * 16))) < 0.15 * np.sqrt(2 / (9 * 16))


@pytest.mark.parametrize("policy", ["float32", "mixed_bfloat16"])
def test_fused_batch_norm_is_keras_batch_norm_on_the_fused_kernel(policy):
    """--batch_norm_kernel=fused changes the kernel, not the function: outputs, gradients (input,
    scale, offset) and the moving statistics after a training step equal Keras's layer to float32
    rounding; inference is Keras's own path; the layer serializes."""
    from tfreg.models.layers import FusedBatchNormalization

    x = tf.random.stateless_normal((8, 5, 5, 6), [1, 2]) * 3 + 1
    w = tf.random.stateless_normal((8, 5, 5, 6), [3, 4])
    keras.mixed_precision.set_global_policy(policy)
    try:
        layers = [cls(momentum=0.8, epsilon=1e-5, gamma_initializer="random_normal",
                      beta_initializer="random_normal")
                  for cls in (keras.layers.BatchNormalization, FusedBatchNormalization)]
        for layer in layers:
            layer.build(x.shape)
        layers[1].set_weights(layers[0].get_weights())
        outs, grads = [], []
        for layer in layers:
            with tf.GradientTape() as tape:
                tape.watch(x)
                y = layer(x, training=True)
                loss = tf.reduce_sum(tf.cast(y, tf.float32) * w)
            outs.append(np.float32(y))
            grads.append([np.float32(g) for g in tape.gradient(loss, [x, layer.gamma, layer.beta])])
        assert layers[1].compute_dtype == ("bfloat16" if policy != "float32" else "float32")
    finally:
        keras.mixed_precision.set_global_policy("float32")
    # bfloat16 outputs: the two float32 computations may round to neighbouring bfloat16 values
    np.testing.assert_allclose(outs[1], outs[0], atol=1e-5, rtol=2 ** -7 if policy != "float32" else 1e-7)
    for ours, theirs in zip(grads[1], grads[0]):
        np.testing.assert_allclose(ours, theirs, rtol=1e-5, atol=2e-5 * np.abs(theirs).max())
    for ours, theirs in zip(layers[1].get_weights(), layers[0].get_weights()):
        np.testing.assert_allclose(ours, theirs, rtol=1e-6, atol=1e-6)  # moving mean and variance
    assert not np.allclose(layers[0].moving_variance.numpy(), 1.0)  # the step moved them
    np.testing.assert_allclose(layers[1](x, training=False), layers[0](x, training=False), atol=1e-5)
    clone = FusedBatchNormalization.from_config(layers[1].get_config())
    assert isinstance(clone, FusedBatchNormalization) and clone.momentum == 0.8


def test_batch_norm_kernel_flag_picks_the_layer():
    from tfreg.models.layers import FusedBatchNormalization

    fused = build(model="resnet20", width_multiplier=0.25)  # the default since issue 27
    plain = build(model="resnet20", width_multiplier=0.25, batch_norm_kernel="keras")
    assert type(fused.get_layer("stage2_block1_norm1")) is FusedBatchNormalization
    assert type(plain.get_layer("stage2_block1_norm1")) is keras.layers.BatchNormalization
    assert fused.count_params() == plain.count_params()
