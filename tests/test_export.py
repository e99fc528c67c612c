"""Export contract: the SavedModel signatures serve an empty batch, and model.keras loaded
without tfreg's layers registered fails with an error that names tfreg.export.load_keras_model."""

import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from tfreg import export
from tfreg.flags import make_config
from tfreg.models.build import build_model


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("export")
    cfg = make_config(model="resnet8", width_multiplier=0.25, drop_path_rate=0.2,
                      activation="mish", norm="none")
    net = build_model(cfg, (8, 8, 3), 10)
    export.export(net, run_dir, (8, 8, 3))
    return net, run_dir


def test_serve_signatures_accept_an_empty_batch(exported):
    net, run_dir = exported
    saved = tf.saved_model.load(str(run_dir / "saved_model"))
    for fn, dtype in ((saved.serve, tf.float32), (saved.serve_uint8, tf.uint8)):
        empty = fn(tf.zeros((0, 8, 8, 3), dtype))["probabilities"]
        assert empty.shape == (0, 10) and empty.dtype == tf.float32
    images = np.random.default_rng(0).integers(0, 256, (3, 8, 8, 3)).astype(np.float32)
    np.testing.assert_allclose(saved.serve(tf.constant(images))["probabilities"].numpy(),
                               net(images, training=False).numpy(), atol=1e-6)
    checks = export.reload_check(net, run_dir, images)
    assert max(checks.values()) < 1e-6


def test_loading_without_tfreg_names_the_loader(exported):
    net, run_dir = exported
    path = str(run_dir / "model.keras")
    script = ("import sys, keras\nkeras.saving.load_model(sys.argv[1])\n"
              "assert 'tfreg' not in sys.modules")
    result = subprocess.run([sys.executable, "-c", script, path], capture_output=True, text=True,
                            cwd=run_dir, timeout=300)
    assert result.returncode != 0
    assert "Could not locate class" in result.stderr
    assert "tfreg.export.load_keras_model" in result.stderr
    # the hint changes nothing for tfreg's loader
    x = np.random.default_rng(1).integers(0, 256, (2, 8, 8, 3)).astype(np.float32)
    np.testing.assert_array_equal(export.load_keras_model(path)(x, training=False).numpy(),
                                  net(x, training=False).numpy())


def test_the_saved_model_names_its_output_carries_class_names_and_refuses_bad_input(tmp_path):
    """Issue 24: TensorFlow Serving sees an output named `probabilities` and the class names;
    another dtype or image size is refused by the signature; float images scaled to [0, 1]
    are refused with a message that says to pass raw pixels."""
    cfg = make_config(dataset="synthetic", model="resnet8", width_multiplier=0.25)
    net = build_model(cfg, (8, 8, 3), 3)
    export.export(net, tmp_path, (8, 8, 3), class_names=("cat", "dog", "bird"))
    saved = tf.saved_model.load(str(tmp_path / "saved_model"))
    signature = saved.signatures["serve"]
    assert list(signature.structured_outputs) == ["probabilities"]
    assert [n.decode() for n in saved.class_names()["class_names"].numpy()] == ["cat", "dog", "bird"]
    with pytest.raises((TypeError, ValueError)):
        saved.serve(tf.zeros((1, 8, 8, 3), tf.float64))
    with pytest.raises((TypeError, ValueError)):
        saved.serve(tf.zeros((1, 9, 8, 3), tf.float32))
    with pytest.raises(tf.errors.InvalidArgumentError, match="raw pixel values"):
        saved.serve(tf.fill((1, 8, 8, 3), 0.5))
    black = saved.serve(tf.zeros((1, 8, 8, 3)))["probabilities"].numpy()  # all zeros is fine
    np.testing.assert_allclose(black.sum(), 1.0, rtol=1e-5)
