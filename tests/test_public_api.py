"""The public Keras API (issue 28): tfreg.layers, tfreg.optimizers, tfreg.losses, tfreg.augment.

docs/library.md's example runs here as written; the numeric checks compare with independent numpy
computations (unit-wise AGC after Brock et al. 2021, both label-smoothing conventions)."""

import importlib
import inspect
import os
import pathlib
import re
import subprocess
import sys
import types

import keras
import numpy as np
import pytest
import tensorflow as tf

import tfreg.augment
import tfreg.layers
import tfreg.losses
import tfreg.optimizers
from conftest import ROOT
from tfreg.flags import make_config
from tfreg.models.build import build_model
from tfreg.regularizers import label_smoothing, mixing

PUBLIC = ("tfreg.layers", "tfreg.optimizers", "tfreg.losses", "tfreg.augment")
TOOL_ENV = ("TF_ENABLE_ONEDNN_OPTS", "TF_CPP_MIN_LOG_LEVEL", "TFREG_TF_LOG_DEFAULT", "KERAS_BACKEND")


def python(code, *args, env=None, cwd=ROOT):
    result = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                            cwd=cwd, timeout=300,
                            env={**(env if env is not None else os.environ), "PYTHONPATH": ROOT})
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


# --- the surface --------------------------------------------------------------------------------

@pytest.mark.parametrize("module", PUBLIC)
def test_every_public_name_exists_and_documents_its_arguments(module):
    mod = importlib.import_module(module)
    assert mod.__doc__ and len(set(mod.__all__)) == len(mod.__all__)
    for name in mod.__all__:
        obj = getattr(mod, name)
        doc = inspect.getdoc(obj) or ""
        assert "Args:" in doc, f"{module}.{name} has no Args section"
        own = inspect.signature(obj).parameters if inspect.isfunction(obj) else \
            inspect.signature(obj.__init__).parameters if "__init__" in vars(obj) else {}
        for arg in own:
            if arg not in ("self",):
                assert re.search(rf"^\s+\**{arg}:", doc, re.M), f"{module}.{name}: no Args entry for {arg}"


def test_importing_tfreg_sets_no_environment_variable_and_the_tools_still_do():
    env = {k: v for k, v in os.environ.items() if k not in TOOL_ENV}
    out = python("import os, sys\nimport tfreg\nprint('tensorflow' in sys.modules)\n"
                 f"import {', '.join(PUBLIC)}\n"
                 f"print([k for k in {TOOL_ENV!r} if k in os.environ])", env=env)
    assert out.split("\n")[:2] == ["False", "[]"], out
    out = python("import os\nfrom tfreg import cli\n"
                 f"cli.call(lambda: print([os.environ.get(k) for k in {TOOL_ENV!r}]))", env=env)
    assert out.strip() == "['1', '3', '3', 'tensorflow']"
    # a level the user set is theirs: no marker, and the tools leave it
    out = python("import os\nfrom tfreg import cli\n"
                 f"cli.call(lambda: print([os.environ.get(k) for k in {TOOL_ENV!r}]))",
                 env=dict(env, TF_CPP_MIN_LOG_LEVEL="1"))
    assert out.strip() == "['1', '1', None, 'tensorflow']"


# --- the documented example ---------------------------------------------------------------------

def doc_blocks():
    text = (pathlib.Path(ROOT) / "docs" / "library.md").read_text()
    return re.findall(r"```python\n(.*?)```", text, re.S)


def test_the_library_page_example_trains_saves_and_reloads_with_only_tfreg_layers(tmp_path):
    """The page's first block (fit with every public piece, save) runs here; its second block
    loads the file in a fresh process that imports only tfreg.layers, with a tfreg model saved
    beside it (both stochastic-depth modes, WS convolutions, Mish, the fused batch norm)."""
    train, reload = doc_blocks()
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        scope = {}
        exec(compile(train, "docs/library.md", "exec"), scope)  # noqa: S102
    finally:
        os.chdir(cwd)
    model = scope["model"]
    assert isinstance(model.optimizer, tfreg.optimizers.AdaptiveGradientClipping)
    assert int(model.optimizer.iterations.numpy()) == 8  # 2 epochs of 4 batches
    images = scope["x_train"][:4]
    np.save(tmp_path / "images.npy", images)
    np.save(tmp_path / "expected.npy", model.predict(images, verbose=0))

    nets = {}
    for mode in ("batch", "sample"):
        cfg = make_config(model="resnet8", width_multiplier=0.25, drop_path_rate=0.2,
                          drop_path_mode=mode, weight_standardization=True, activation="mish",
                          batch_norm_kernel="fused", dropout_rates=[0.1])
        nets[mode] = build_model(cfg, (16, 16, 3), 10)
        nets[mode].save(tmp_path / f"tfreg_{mode}.keras")
        np.save(tmp_path / f"tfreg_{mode}.npy", nets[mode].predict(images, verbose=0))
    modes = {l.name: l.mode for l in nets["sample"].layers if isinstance(l, tfreg.layers.DropPath)}
    assert modes and set(modes.values()) == {"sample"}  # tfreg's models name their mode
    assert any(isinstance(l, tfreg.layers.DropPathBranch) for l in nets["batch"].layers)

    check = reload + r'''
import sys
import numpy as np
assert "tfreg.train.loop" not in sys.modules
images = np.load("images.npy")
np.testing.assert_allclose(model.predict(images, verbose=0), np.load("expected.npy"), atol=1e-5)
assert model.optimizer.inner_optimizer.__class__.__name__ == "SGD"
assert model.optimizer.exclude == ["head/bias", "head/kernel"]
assert model.loss.label_smoothing == 0.1
for mode in ("batch", "sample"):
    net = keras.saving.load_model(f"tfreg_{mode}.keras")
    np.testing.assert_allclose(net.predict(images, verbose=0), np.load(f"tfreg_{mode}.npy"), atol=1e-5)
print("reloaded")
'''
    out = python(check, cwd=tmp_path)
    assert out.splitlines() == ["AdaptiveGradientClipping sample", "reloaded"]


# --- tfreg.layers -------------------------------------------------------------------------------

def test_drop_path_defaults_to_timm_and_keeps_the_papers_mode_by_argument():
    x = tf.ones((4000, 2))
    layer = tfreg.layers.DropPath(0.3, seed=1)
    assert layer.mode == "sample"
    np.testing.assert_array_equal(layer(x).numpy(), x.numpy())  # identity at inference
    y = layer(x, training=True).numpy()
    np.testing.assert_allclose(np.unique(y), [0.0, 1 / 0.7], rtol=1e-6)
    assert abs((y[:, 0] > 0).mean() - 0.7) < 0.03 and np.all(y[:, 0] == y[:, 1])
    paper = tfreg.layers.DropPath(0.3, mode="batch", seed=1)
    np.testing.assert_allclose(paper(x).numpy(), 0.7)
    assert len(np.unique(paper(x, training=True).numpy())) == 1
    for made in (layer, paper):
        again = tfreg.layers.DropPath.from_config(made.get_config())
        assert (again.rate, again.mode, again.seed) == (made.rate, made.mode, made.seed)
    # a config saved when the default was batch names its mode, so it loads unchanged
    saved = {**paper.get_config(), "name": "old"}
    assert keras.layers.deserialize({"class_name": "tfreg>DropPath", "config": saved}).mode == "batch"
    with pytest.raises(ValueError, match="received mode='row'"):
        tfreg.layers.DropPath(0.1, mode="row")


def test_block_rates_follow_the_named_rule():
    assert tfreg.layers.block_rates(0.1, 5, "timm") == pytest.approx([0, 0.025, 0.05, 0.075, 0.1])
    assert tfreg.layers.block_rates(0.1, 4, "paper") == pytest.approx([0.025, 0.05, 0.075, 0.1])


def test_normalize_adapt_fits_per_channel_statistics():
    x = np.random.default_rng(0).integers(0, 256, (16, 4, 4, 3)).astype("float32")
    layer = tfreg.layers.Normalize()
    layer.adapt(x)
    y = layer(x).numpy()
    np.testing.assert_allclose(y.reshape(-1, 3).mean(0), 0, atol=1e-4)
    np.testing.assert_allclose(y.reshape(-1, 3).std(0), 1, atol=1e-3)


# --- tfreg.optimizers ---------------------------------------------------------------------------

def numpy_agc(grad, weight, clip, eps):
    """Unit-wise AGC (Brock et al. 2021, Algorithm 2): one unit per output column of a kernel,
    the whole tensor for a vector."""
    grad, weight = np.asarray(grad, np.float64), np.asarray(weight, np.float64)
    if weight.ndim <= 1:
        w_norm, g_norm = np.linalg.norm(weight), np.linalg.norm(grad)
    else:
        axes = tuple(range(weight.ndim - 1))
        w_norm = np.sqrt((weight ** 2).sum(axes, keepdims=True))
        g_norm = np.sqrt((grad ** 2).sum(axes, keepdims=True))
    max_norm = clip * np.maximum(w_norm, eps)
    return np.where(g_norm > max_norm, grad * max_norm / np.maximum(g_norm, 1e-6), grad)


def agc_model():
    keras.utils.set_random_seed(3)
    inputs = keras.Input((5,))
    x = keras.layers.Dense(4, name="body")(inputs)
    return keras.Model(inputs, keras.layers.Dense(3, name="head")(x))


def test_agc_clips_unit_wise_as_the_paper_leaving_the_named_variables_alone():
    model = agc_model()
    rng = np.random.default_rng(0)
    # body kernel: some columns far above the clip ratio, one far below; body bias all zero (eps)
    grads = [rng.normal(size=v.shape).astype("float32") for v in model.trainable_variables]
    grads[0][:, 0] *= 1e-4
    before = [v.numpy() for v in model.trainable_variables]
    head = model.get_layer("head").trainable_variables
    clip, eps = 0.05, 1e-3

    expected = [numpy_agc(g, w, clip, eps) for g, w in zip(grads[:2], before[:2])] + grads[2:]
    assert not np.allclose(expected[0][:, 1:], grads[0][:, 1:])  # clipping is active ...
    np.testing.assert_array_equal(expected[0][:, 0], grads[0][:, 0])  # ... and selective
    got = tfreg.optimizers.clip_gradients([tf.constant(g) for g in grads],
                                          model.trainable_variables, clip, eps, exclude=head)
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g.numpy(), e, rtol=1e-5, atol=1e-7)

    optimizer = tfreg.optimizers.AdaptiveGradientClipping(
        keras.optimizers.SGD(learning_rate=1.0), clip=clip, eps=eps, exclude=head)
    optimizer.apply([tf.constant(g) for g in grads], model.trainable_variables)
    for v, w, e in zip(model.trainable_variables, before, expected):
        np.testing.assert_allclose(v.numpy(), w - e, rtol=1e-5, atol=1e-6)
    assert int(optimizer.iterations.numpy()) == 1
    with pytest.raises(ValueError, match="received clip=0"):
        tfreg.optimizers.AdaptiveGradientClipping(keras.optimizers.SGD(), clip=0)


def test_agc_clips_the_global_gradient_under_two_replicas():
    script = r'''
import numpy as np, tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras
import tfreg.optimizers
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
with strategy.scope():
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="head")])
    opt = tfreg.optimizers.AdaptiveGradientClipping(keras.optimizers.SGD(1.0), clip=0.01)
    opt.build(model.trainable_variables)
w0 = [v.numpy() for v in model.trainable_variables]
shares = [np.full((3, 2), 1.0, "float32"), np.full((2,), 2.0, "float32")]
def step():
    r = tf.cast(tf.distribute.get_replica_context().replica_id_in_sync_group + 1, tf.float32)
    opt.apply([tf.constant(s) * r for s in shares], model.trainable_variables)
tf.function(lambda: strategy.run(step))()
np.save("w0.npy", np.array(w0, dtype=object), allow_pickle=True)
np.save("w1.npy", np.array([v.numpy() for v in model.trainable_variables], dtype=object), allow_pickle=True)
'''
    import tempfile

    with tempfile.TemporaryDirectory() as d:
        python(script, cwd=d)
        w0 = np.load(os.path.join(d, "w0.npy"), allow_pickle=True)
        w1 = np.load(os.path.join(d, "w1.npy"), allow_pickle=True)
    for w, new, share in zip(w0, w1, (np.full((3, 2), 1.0), np.full((2,), 2.0))):
        global_grad = share * 1 + share * 2  # replica 1 sends 1x, replica 2 2x
        np.testing.assert_allclose(new, w - numpy_agc(global_grad, w, 0.01, 1e-3), rtol=1e-5,
                                   atol=1e-6)


@pytest.mark.parametrize("name, kwargs", [
    ("SGD", {"learning_rate": 0.1, "momentum": 0.9, "nesterov": True}),
    ("Adam", {"learning_rate": 1e-3}),
    ("AdamW", {"learning_rate": 1e-3, "weight_decay": 0.01}),
    ("RMSprop", {"learning_rate": 1e-3, "momentum": 0.5}),
])
def test_a_model_compiled_with_tfregs_optimizers_reloads(tmp_path, name, kwargs):
    model = agc_model()
    model.compile(optimizer=getattr(tfreg.optimizers, name)(**kwargs), loss="mse")
    x, y = np.ones((4, 5), "float32"), np.zeros((4, 3), "float32")
    model.fit(x, y, epochs=2, verbose=0)
    model.save(tmp_path / "m.keras")
    reloaded = keras.saving.load_model(tmp_path / "m.keras")
    assert type(reloaded.optimizer) is getattr(tfreg.optimizers, name)
    assert reloaded.optimizer.get_config() == model.optimizer.get_config()
    for a, b in zip(model.optimizer.variables, reloaded.optimizer.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


# --- tfreg.losses -------------------------------------------------------------------------------

def numpy_smoothed_ce(onehot, logits, eps, style):
    c = onehot.shape[-1]
    if style == "uniform":
        t = onehot * (1 - eps) + eps / c
    else:
        t = np.where(onehot == 1, 1 - eps, eps / (c - 1))
    z = logits - logits.max(-1, keepdims=True)
    log_p = z - np.log(np.exp(z).sum(-1, keepdims=True))
    return -(t * log_p).sum(-1)


@pytest.mark.parametrize("style", ["uniform", "off_target"])
def test_label_smoothing_loss_matches_an_independent_computation(style):
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(6, 5)).astype("float32") * 3
    labels = rng.integers(0, 5, 6)
    onehot = np.eye(5)[labels]
    expected = numpy_smoothed_ce(onehot, logits.astype(np.float64), 0.2, style)
    loss = tfreg.losses.LabelSmoothingCrossEntropy(0.2, style=style, from_logits=True,
                                                   reduction="none")
    for y in (labels, labels[:, None], onehot.astype("float32")):
        np.testing.assert_allclose(loss(y, logits).numpy(), expected, rtol=1e-5)
    probs = tf.nn.softmax(logits).numpy()
    on_probs = tfreg.losses.LabelSmoothingCrossEntropy(0.2, style=style, reduction="none")
    np.testing.assert_allclose(on_probs(labels, probs).numpy(), expected, rtol=1e-4)
    mean = tfreg.losses.LabelSmoothingCrossEntropy(0.2, style=style, from_logits=True)
    assert float(mean(labels, logits)) == pytest.approx(expected.mean(), rel=1e-5)
    # what tfreg's runs compute for --label_smoothing / --label_smoothing_style
    runs = label_smoothing.cross_entropy(
        label_smoothing.smooth_labels(tf.constant(onehot, tf.float32), 0.2, style), logits)
    np.testing.assert_allclose(runs.numpy(), expected, rtol=1e-5)
    again = keras.losses.deserialize(keras.losses.serialize(mean))
    assert (type(again), again.get_config()) == (type(mean), mean.get_config())
    with pytest.raises(ValueError, match="received style='both'"):
        tfreg.losses.LabelSmoothingCrossEntropy(0.1, style="both")


# --- tfreg.augment ------------------------------------------------------------------------------

def test_mixing_functions_are_seeded_and_draw_tfregs_pipeline_stream():
    rng = np.random.default_rng(2)
    images = rng.uniform(0, 255, (8, 6, 6, 3)).astype("float32")
    labels = rng.integers(0, 4, 8)
    targets = tf.one_hot(labels, 4)
    for fn, alpha_field in ((tfreg.augment.mixup, "mixup_alpha"), (tfreg.augment.cutmix, "cutmix_alpha")):
        x1, y1 = fn(images, labels, 0.4, 7, num_classes=4)
        x2, y2 = fn(images, targets, 0.4, [7, 0])
        np.testing.assert_array_equal(x1.numpy(), x2.numpy())
        np.testing.assert_allclose(y1.numpy().sum(1), 1, rtol=1e-6)
        config = types.SimpleNamespace(**{"mixup_alpha": 0.0, "cutmix_alpha": 0.0, "mix_prob": 1.0,
                                          "mix_lambda": "batch", alpha_field: 0.4})
        xp, yp = mixing.mix_batch(images, targets, config, tf.constant([7, 0], tf.int64))
        np.testing.assert_array_equal(xp.numpy(), x1.numpy())
        np.testing.assert_array_equal(yp.numpy(), y1.numpy())
        assert not np.array_equal(fn(images, labels, 0.4, 8, num_classes=4)[0].numpy(), x1.numpy())
    with pytest.raises(ValueError, match="num_classes"):
        tfreg.augment.mixup(images, labels, 0.4, 1)
    with pytest.raises(ValueError, match="mixup_alpha > 0 or cutmix_alpha > 0"):
        tfreg.augment.mix(images, targets, 1)


def test_cutout_and_random_erasing_act_per_image_of_a_batch():
    ones = np.ones((6, 12, 12, 1), "float32")
    cut = tfreg.augment.cutout(ones, 4, 3).numpy()
    zeros = (cut == 0).sum((1, 2, 3))
    assert np.all((zeros > 0) & (zeros <= 16)) and len({tuple(np.argwhere(c == 0)[0]) for c in cut}) > 1
    np.testing.assert_array_equal(tfreg.augment.cutout(ones[0], 4, 3).numpy().shape, (12, 12, 1))
    erased = tfreg.augment.random_erasing(ones * 0.5, 5, prob=1.0, value_range=(0.0, 1.0)).numpy()
    changed = erased != 0.5
    assert changed.any(axis=(1, 2, 3)).all() and erased.min() >= 0 and erased.max() <= 1
    np.testing.assert_array_equal(erased, tfreg.augment.random_erasing(
        ones * 0.5, 5, prob=1.0, value_range=(0.0, 1.0)).numpy())


@pytest.mark.parametrize("layer", [
    tfreg.augment.MixUp(0.4, num_classes=4, seed=1), tfreg.augment.CutMix(1.0, num_classes=4, seed=1),
    tfreg.augment.Cutout(3, seed=1), tfreg.augment.RandomErasing(prob=1.0, seed=1)])
def test_augmentation_layers_act_only_in_training_and_serialize(layer):
    images = np.random.default_rng(3).uniform(0, 255, (4, 8, 8, 3)).astype("float32")
    labels = np.array([0, 1, 2, 3])
    mixing_layer = isinstance(layer, (tfreg.augment.MixUp, tfreg.augment.CutMix))
    inputs = (images, labels) if mixing_layer else images
    for got, given in zip(keras.tree.flatten(layer(inputs)), keras.tree.flatten(inputs)):
        np.testing.assert_array_equal(np.asarray(got), given)  # inference: untouched
    trained = layer(inputs, training=True)
    changed = trained[0] if mixing_layer else trained
    assert changed.shape == images.shape and not np.array_equal(changed.numpy(), images)
    if mixing_layer:
        assert trained[1].shape == (4, 4)
    again = type(layer).from_config(layer.get_config())
    assert again.get_config() == layer.get_config()
