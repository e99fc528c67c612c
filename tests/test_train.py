"""Exactness of the training engine against independent computations: label smoothing, losses,
PyTorch-style l2 and decoupled weight decay, torch.optim's SGD, Adam, AdamW and RMSprop updates,
AGC, learning-rate schedules, MC dropout."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfreg.flags import make_config
from tfreg.models.build import build_model
from tfreg.regularizers import agc, label_smoothing
from tfreg.train import evaluate, optimizers, schedules
from tfreg.train.trainer import Trainer, per_example_loss


def test_label_smoothing_both_styles_by_hand():
    y = tf.one_hot([1], 4)
    np.testing.assert_allclose(label_smoothing.smooth_labels(y, 0.2, "uniform").numpy(),
                               [[0.05, 0.85, 0.05, 0.05]], rtol=1e-6)
    np.testing.assert_allclose(label_smoothing.smooth_labels(y, 0.2, "off_target").numpy(),
                               [[0.2 / 3, 0.8, 0.2 / 3, 0.2 / 3]], rtol=1e-6)
    soft = tf.constant([[0.3, 0.7, 0.0, 0.0]])
    for style in ("uniform", "off_target"):
        np.testing.assert_allclose(label_smoothing.smooth_labels(soft, 0.1, style).numpy().sum(), 1.0, rtol=1e-6)


def test_losses_match_direct_formulas():
    logits = tf.constant([[2.0, -1.0, 0.5], [0.1, 0.2, 0.3]])
    targets = tf.constant([[0.9, 0.05, 0.05], [0.0, 0.0, 1.0]])
    log_softmax = logits.numpy() - np.log(np.exp(logits.numpy()).sum(-1, keepdims=True))
    np.testing.assert_allclose(per_example_loss("crossentropy", targets, logits).numpy(),
                               -(targets.numpy() * log_softmax).sum(-1), rtol=1e-6)
    probs = np.exp(log_softmax)
    np.testing.assert_allclose(per_example_loss("mse", targets, logits).numpy(),
                               ((probs - targets.numpy()) ** 2).mean(-1), rtol=1e-6)


def test_trainer_loss_applies_the_configured_smoothing():
    cfg = make_config(model="resnet8", width_multiplier=0.25, label_smoothing=0.1,
                      label_smoothing_style="off_target")
    trainer = Trainer(build_model(cfg, (8, 8, 3), 10), cfg, 10)
    logits = tf.random.stateless_normal((3, 10), [1, 1])
    targets = tf.one_hot([0, 4, 9], 10)
    smoothed = targets.numpy() * 0.9 + (1 - targets.numpy()) * 0.1 / 9
    log_softmax = tf.nn.log_softmax(logits).numpy()
    np.testing.assert_allclose(trainer.loss_terms(targets, logits).numpy(),
                               -(smoothed * log_softmax).sum(-1), rtol=1e-5)


def make_vars():
    kernel = keras.Variable(np.linspace(-1, 1, 12).reshape(4, 3).astype(np.float32), name="kernel")
    bias = keras.Variable(np.array([0.5, -0.5, 1.0], np.float32), name="bias")
    return [kernel, bias]


GRADS = [[np.full((4, 3), 0.3, np.float32), np.array([0.1, 0.2, -0.3], np.float32)],
         [np.linspace(0, 1, 12).reshape(4, 3).astype(np.float32), np.array([1.0, 0.0, -1.0], np.float32)],
         [np.full((4, 3), -0.2, np.float32), np.array([0.3, 0.3, 0.3], np.float32)]]


def run_steps(**flags):
    cfg = make_config(**flags)
    variables = make_vars()
    schedule = schedules.Schedule("step", 0.1, 3, boundaries=[1, 2], factor=0.5)  # 0.1, 0.05, 0.025
    opt = optimizers.make_optimizer(cfg.train, schedule, variables)
    for g in GRADS:
        opt.apply([tf.constant(x) for x in g], variables)
    return [v.numpy() for v in variables]


@pytest.mark.parametrize("nesterov", [False, True])
@pytest.mark.parametrize("exclude", ["none", "norm_and_bias"])
def test_l2_weight_decay_equals_pytorch_sgd(nesterov, exclude):
    wd, mu, lrs = 5e-2, 0.9, [0.1, 0.05, 0.025]
    w = [v.numpy().astype(np.float64) for v in make_vars()]
    bufs = [np.zeros_like(x) for x in w]
    for lr, grads in zip(lrs, GRADS):  # torch.optim.SGD(weight_decay=wd, momentum=mu)
        for i, g in enumerate(grads):
            decay = wd if (exclude == "none" or w[i].ndim > 1) else 0.0
            d = g + decay * w[i]
            bufs[i] = mu * bufs[i] + d
            w[i] = w[i] - lr * ((d + mu * bufs[i]) if nesterov else bufs[i])
    ours = run_steps(optimizer="sgd", momentum=mu, nesterov=nesterov, weight_decay=wd,
                     weight_decay_mode="l2", weight_decay_exclude=exclude)
    for a, b in zip(ours, w):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)


def test_decoupled_weight_decay_is_lr_times_wd_times_w():
    wd, mu, lrs = 5e-2, 0.9, [0.1, 0.05, 0.025]
    w = [v.numpy().astype(np.float64) for v in make_vars()]
    bufs = [np.zeros_like(x) for x in w]
    for lr, grads in zip(lrs, GRADS):
        for i, g in enumerate(grads):
            w[i] = w[i] - lr * wd * w[i]
            bufs[i] = mu * bufs[i] + g
            w[i] = w[i] - lr * bufs[i]
    ours = run_steps(optimizer="sgd", momentum=mu, weight_decay=wd, weight_decay_mode="decoupled")
    for a, b in zip(ours, w):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
    # and the two modes really differ
    l2 = run_steps(optimizer="sgd", momentum=mu, weight_decay=wd, weight_decay_mode="l2")
    assert not np.allclose(l2[0], ours[0], rtol=1e-4)


def numpy_agc(g, w, clip, eps):
    axes = tuple(range(g.ndim - 1)) if g.ndim > 1 else None
    w_norm = np.maximum(np.sqrt((w ** 2).sum(axis=axes, keepdims=g.ndim > 1)), eps)
    g_norm = np.sqrt((g ** 2).sum(axis=axes, keepdims=g.ndim > 1))
    return np.where(g_norm / w_norm > clip, g * clip * w_norm / np.maximum(g_norm, 1e-6), g)


@pytest.mark.parametrize("stages", ["all", "2"])
def test_agc_matches_the_formula_per_unit_and_skips_the_classifier(stages):
    cfg = make_config(model="resnet8", width_multiplier=0.25, optimizer="sgd", momentum=0.0,
                      agc_clip=0.02, agc_stages=stages)
    net = build_model(cfg, (8, 8, 3), 10)
    variables = net.trainable_variables
    before = [v.numpy().astype(np.float64) for v in variables]
    rng = np.random.default_rng(0)
    grads = [rng.normal(0, 1, v.shape).astype(np.float32) for v in variables]
    grads[0][..., 0] *= 1e-4  # one unit below the threshold stays unclipped
    opt = optimizers.make_optimizer(cfg.train, schedules.Schedule("constant", 1.0, 10), variables)
    opt.apply([tf.constant(g) for g in grads], variables)
    clipped = 0
    for v, w, g in zip(variables, before, grads):
        applied = w - v.numpy()
        in_stage = stages == "all" or v.path.startswith("stage2_")
        if v.path == "logits/kernel" or not in_stage:
            np.testing.assert_allclose(applied, g, rtol=1e-4, atol=1e-6)
        else:
            np.testing.assert_allclose(applied, numpy_agc(g.astype(np.float64), w, 0.02, 1e-3),
                                       rtol=1e-4, atol=1e-6)
            clipped += 1
    assert clipped > 3
    if stages == "all":
        np.testing.assert_allclose((before[0] - variables[0].numpy())[..., 0], grads[0][..., 0], atol=1e-7)
    assert "logits/kernel" not in [v.path for v in agc.clipped_variables(variables, None)]
    assert "logits/bias" in [v.path for v in agc.clipped_variables(variables, None)]


def test_agc_clips_the_summed_global_gradient_not_replica_parts():
    # AGC runs in update_step, which Keras calls after the cross-replica sum: the same result as
    # clipping the whole gradient. Two half gradients clipped separately would differ.
    w = np.ones((3, 2)) * 0.1
    g = np.ones((3, 2)) * 10.0
    whole = numpy_agc(g, w, 0.01, 1e-3)
    halves = numpy_agc(g / 2, w, 0.01, 1e-3) * 2
    assert not np.allclose(whole, halves)
    var = keras.Variable(w.astype(np.float32), name="kernel")
    opt = optimizers.make_optimizer(make_config(momentum=0.0, agc_clip=0.01).train,
                                    schedules.Schedule("constant", 1.0, 10), [var])
    opt.apply([tf.constant(g, tf.float32)], [var])
    np.testing.assert_allclose(w - var.numpy(), whole, rtol=1e-5)


def test_schedules_at_named_steps():
    s = schedules.Schedule("cosine", 0.1, 100, warmup_steps=10, lr_min=0.001)
    assert float(s(0)) == pytest.approx(0.01)  # first: base / warmup
    assert float(s(9)) == pytest.approx(0.1)  # warmup end
    assert float(s(10)) == pytest.approx(0.1)
    assert float(s(55)) == pytest.approx(0.001 + 0.099 * 0.5, rel=1e-5)  # middle of the cosine
    assert float(s(99)) == pytest.approx(0.001 + 0.099 * 0.5 * (1 + math.cos(math.pi * 89 / 90)), rel=1e-4)
    lin = schedules.Schedule("linear", 0.2, 50, lr_min=0.0)
    assert float(lin(0)) == pytest.approx(0.2) and float(lin(25)) == pytest.approx(0.1)
    step = schedules.from_config(make_config(lr_schedule="step", lr_step_epochs=[2, 4],
                                             learning_rate=0.1, epochs=6).train, steps_per_epoch=10)
    assert [round(float(step(i)), 6) for i in (0, 19, 20, 39, 40, 59)] == [0.1, 0.1, 0.01, 0.01, 0.001, 0.001]
    const = schedules.from_config(make_config(lr_schedule="constant", learning_rate=0.05,
                                              warmup_epochs=1, epochs=3).train, steps_per_epoch=4)
    assert [round(float(const(i)), 6) for i in range(6)] == [0.0125, 0.025, 0.0375, 0.05, 0.05, 0.05]


def test_mc_dropout_samples_masks_but_keeps_batch_norm_in_inference():
    cfg = make_config(model="resnet8", width_multiplier=0.25, dropout_rates=[0.5, 0.5, 0.5])
    net = build_model(cfg, (8, 8, 3), 10)
    x = tf.random.stateless_uniform((4, 8, 8, 3), [3, 3]) * 255
    bn = net.get_layer("stage1_block1_norm1")
    before = bn.moving_mean.numpy().copy()
    plain = net(x, training=False).numpy()
    with evaluate.mc_dropout(net) as count:
        assert count == 3
        a, b = net(x, training=False).numpy(), net(x, training=False).numpy()
    assert not np.allclose(a, b)
    np.testing.assert_array_equal(bn.moving_mean.numpy(), before)
    np.testing.assert_array_equal(net(x, training=False).numpy(), plain)


def _labelled_by(predictions, x, batch):
    """A dataset whose labels are the argmax of `predictions`: an evaluation that computes
    exactly those predictions scores 1.0, any other scores less (checked by the caller)."""
    labels = np.argmax(predictions, -1).astype(np.int32)
    return tf.data.Dataset.from_tensor_slices((x, labels)).batch(batch), labels


def test_tta_and_mc_dropout_accuracy_equal_a_direct_computation():
    import keras

    keras.utils.set_random_seed(3)  # the initialization, whatever ran before in this process
    cfg = make_config(model="resnet8", width_multiplier=0.25, dropout_rates=[0.5, 0.5, 0.5],
                      norm="none")
    net = build_model(cfg, (8, 8, 3), 10)
    x = tf.random.stateless_uniform((48, 8, 8, 3), [5, 5]).numpy() * 255
    plain = np.argmax(net(x, training=False).numpy(), -1)

    # crops, computed here in NumPy: zero-pad by 2, four corners + centre, each with its mirror
    padded = np.pad(x, [(0, 0), (2, 2), (2, 2), (0, 0)])
    views = [padded[:, t:t + 8, l:l + 8] for t, l in ((0, 0), (0, 4), (4, 0), (4, 4), (2, 2))]
    views += [v[:, :, ::-1] for v in views]
    expected = np.mean([net(v, training=False).numpy() for v in views], 0)
    ds, labels = _labelled_by(expected, x, 16)
    assert evaluate.tta_accuracy(net, ds, "crops", 2) == 1.0
    assert (labels != plain).any()  # the views change some predictions: the check can fail

    # MC dropout: the same masks drawn eagerly (seed states reset), 4 per batch in batch order
    generators = [l.seed_generator for l in net._flatten_layers() if hasattr(l, "seed_generator")]
    states = [g.state.numpy() for g in generators]
    with evaluate.mc_dropout(net):
        expected = np.concatenate([np.mean([net(x[i:i + 16], training=False).numpy()
                                            for _ in range(4)], 0) for i in range(0, 48, 16)])
    for g, state in zip(generators, states):
        g.state.assign(state)
    ds, labels = _labelled_by(expected, x, 16)
    assert evaluate.mc_dropout_accuracy(net, ds, 4) == 1.0
    assert (labels != plain).any()


# NumPy transcriptions of torch.optim's single-tensor updates (torch/optim/adam.py, adamw.py,
# rmsprop.py), float64. `decay[i]` says whether weight decay reaches variable i.
def torch_adam(w, grads_per_step, lrs, b1, b2, eps, wd, decoupled, decay):
    w = [x.copy() for x in w]
    m = [np.zeros_like(x) for x in w]
    v = [np.zeros_like(x) for x in w]
    for t, (lr, grads) in enumerate(zip(lrs, grads_per_step), 1):
        for i, g in enumerate(grads):
            g = g.astype(np.float64)
            if decay[i] and decoupled:
                w[i] = w[i] * (1 - lr * wd)  # AdamW: param.mul_(1 - lr * weight_decay)
            elif decay[i]:
                g = g + wd * w[i]  # Adam: grad.add(param, alpha=weight_decay)
            m[i] = b1 * m[i] + (1 - b1) * g
            v[i] = b2 * v[i] + (1 - b2) * g * g
            denom = np.sqrt(v[i]) / math.sqrt(1 - b2 ** t) + eps
            w[i] = w[i] - lr / (1 - b1 ** t) * m[i] / denom
    return w


def torch_rmsprop(w, grads_per_step, lrs, alpha, eps, mu, wd, decay):
    w = [x.copy() for x in w]
    sq = [np.zeros_like(x) for x in w]
    buf = [np.zeros_like(x) for x in w]
    for lr, grads in zip(lrs, grads_per_step):
        for i, g in enumerate(grads):
            g = g.astype(np.float64) + (wd * w[i] if decay[i] else 0.0)
            sq[i] = alpha * sq[i] + (1 - alpha) * g * g
            avg = np.sqrt(sq[i]) + eps
            if mu > 0:
                buf[i] = mu * buf[i] + g / avg
                w[i] = w[i] - lr * buf[i]
            else:
                w[i] = w[i] - lr * g / avg
    return w


# Two gradient scales: ordinary ones, and small ones where epsilon's place matters (Keras's
# formulas give visibly different results there, so these tests fail on them).
SCALES = [1.0, 1e-6]


def scaled(scale):
    return [[g * np.float32(scale) for g in grads] for grads in GRADS]


def run_adaptive_steps(scale, **flags):
    cfg = make_config(**flags)
    variables = make_vars()
    schedule = schedules.Schedule("step", 0.1, 3, boundaries=[1, 2], factor=0.5)  # 0.1, 0.05, 0.025
    opt = optimizers.make_optimizer(cfg.train, schedule, variables)
    for g in scaled(scale):
        opt.apply([tf.constant(x) for x in g], variables)
    return [v.numpy() for v in variables], opt


def decayed(exclude):
    return [True, exclude == "none"]  # kernel, bias (norm_and_bias spares 1-D variables)


def assert_close(ours, expected):
    for a, b in zip(ours, expected):
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=1e-6)  # float32 rounding of steps ~ lr


LRS = [0.1, 0.05, 0.025]


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("wd,exclude", [(0.0, "none"), (5e-2, "none"), (5e-2, "norm_and_bias")])
def test_adam_equals_torch_adam(scale, wd, exclude):
    flags = dict(optimizer="adam", beta_1=0.9, beta_2=0.99, optimizer_epsilon=1e-8,
                 weight_decay=wd, weight_decay_mode="l2")
    if wd:
        flags["weight_decay_exclude"] = exclude
    ours, _ = run_adaptive_steps(scale, **flags)
    w0 = [v.numpy().astype(np.float64) for v in make_vars()]
    assert_close(ours, torch_adam(w0, scaled(scale), LRS, 0.9, 0.99, 1e-8, wd, False, decayed(exclude)))


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("exclude", ["none", "norm_and_bias"])
def test_adamw_equals_torch_adamw_with_exclusions(scale, exclude):
    wd = 0.2
    ours, _ = run_adaptive_steps(scale, optimizer="adamw", beta_1=0.9, beta_2=0.999,
                                 optimizer_epsilon=1e-8, weight_decay=wd,
                                 weight_decay_mode="decoupled", weight_decay_exclude=exclude)
    w0 = [v.numpy().astype(np.float64) for v in make_vars()]
    assert_close(ours, torch_adam(w0, scaled(scale), LRS, 0.9, 0.999, 1e-8, wd, True, decayed(exclude)))
    if exclude == "norm_and_bias":  # the spared bias moved by the Adam step alone
        alone = torch_adam(w0, scaled(scale), LRS, 0.9, 0.999, 1e-8, 0.0, True, [False, False])
        np.testing.assert_allclose(ours[1], alone[1], rtol=2e-5, atol=1e-6)
        assert not np.allclose(ours[0], alone[0], rtol=1e-3)


@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_rmsprop_equals_torch_rmsprop(scale, momentum):
    wd = 5e-2
    ours, _ = run_adaptive_steps(scale, optimizer="rmsprop", rmsprop_rho=0.99,
                                 optimizer_epsilon=1e-8, momentum=momentum, weight_decay=wd,
                                 weight_decay_mode="l2", weight_decay_exclude="norm_and_bias")
    w0 = [v.numpy().astype(np.float64) for v in make_vars()]
    assert_close(ours, torch_rmsprop(w0, scaled(scale), LRS, 0.99, 1e-8, momentum, wd,
                                     decayed("norm_and_bias")))


def test_keras_formulas_fail_the_torch_transcriptions():
    # The checks above can fail: Keras's own Adam and RMSprop (eps placement, lr folded into
    # RMSprop's momentum) miss the torch results at small gradients or a changing rate.
    w0 = [v.numpy().astype(np.float64) for v in make_vars()]
    for opt, expected in (
            (keras.optimizers.Adam(epsilon=1e-8, beta_1=0.9, beta_2=0.99),
             torch_adam(w0, scaled(1e-6), LRS, 0.9, 0.99, 1e-8, 0.0, False, [False, False])),
            (keras.optimizers.RMSprop(rho=0.99, momentum=0.9, epsilon=1e-8),
             torch_rmsprop(w0, scaled(1e-6), LRS, 0.99, 1e-8, 0.9, 0.0, [False, False]))):
        opt.learning_rate = schedules.Schedule("step", 0.1, 3, boundaries=[1, 2], factor=0.5)
        variables = make_vars()
        for g in scaled(1e-6):
            opt.apply([tf.constant(x) for x in g], variables)
        assert not np.allclose(variables[0].numpy(), expected[0], rtol=1e-3)


@pytest.mark.parametrize("name", ["adam", "adamw", "rmsprop"])
def test_optimizer_slots_round_trip_through_saved_weights(tmp_path, name):
    # Checkpoints are the trainer's save_weights file: the torch-rule optimizers' slots and step
    # count go into it and come back, so a resumed run continues exactly.
    cfg = make_config(optimizer=name, momentum=0.9, weight_decay=0.1,
                      weight_decay_mode="decoupled" if name == "adamw" else "l2")
    x = np.linspace(-1, 1, 24).reshape(8, 3).astype(np.float32)
    y = np.stack([x.sum(1), x[:, 0] * 2], 1)

    def compiled():
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="dense")])
        model.compile(optimizers.make_optimizer(cfg.train, schedules.Schedule("cosine", 0.1, 6),
                                                model.trainable_variables), loss="mse")
        return model

    trained, restored = compiled(), compiled()
    trained.fit(x, y, batch_size=4, epochs=1, verbose=0, shuffle=False)
    trained.save_weights(tmp_path / "c.weights.h5")
    restored.optimizer.build(restored.trainable_variables)
    restored.load_weights(tmp_path / "c.weights.h5")
    assert int(restored.optimizer.iterations) == 2
    assert len(restored.optimizer.variables) == len(trained.optimizer.variables) > 2
    for a, b in zip(restored.optimizer.variables, trained.optimizer.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=b.path)
    for model in (trained, restored):
        model.fit(x, y, batch_size=4, epochs=1, verbose=0, shuffle=False)
    for a, b in zip(restored.trainable_variables, trained.trainable_variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_eval_batch_size_sets_the_inference_batches_and_leaves_predictions_unchanged():
    from tfreg.data.prepare import prepare
    from tfreg.train import assemble
    base = dict(dataset="synthetic", model="resnet8", width_multiplier=0.25, batch_size=16,
                synthetic_train_examples=64, synthetic_test_examples=40, val_split=0.25, verbose=0)
    sizes = {}
    for eval_batch, expected in ((0, 16), (32, 32)):
        cfg = make_config(eval_batch_size=eval_batch, **base)
        data = prepare(cfg)
        train, val, test = assemble.datasets(cfg, data, 0)
        assert next(iter(train))[0].shape[0] == 16
        assert next(iter(val))[0].shape[0] == min(expected, len(data.y_val))
        sizes[eval_batch] = [int(x.shape[0]) for x, _ in test]
        assert sizes[eval_batch][0] == expected and sum(sizes[eval_batch]) == 40
    net = build_model(cfg, data.image_shape, data.num_classes)
    by_batch = [np.concatenate([net(x, training=False).numpy() for x, _ in assemble.datasets(
        make_config(eval_batch_size=b, **base), data, 0)[2]]) for b in (0, 40)]
    np.testing.assert_allclose(by_batch[0], by_batch[1], rtol=1e-5, atol=1e-6)
