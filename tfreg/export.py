"""Export: model.keras and a SavedModel with a `serve` signature, plus a reload check.

A SavedModel loads anywhere with tf.saved_model.load; model.keras needs tfreg's layers
registered first: `from tfreg.export import load_keras_model`.

`serve` takes float32 images of the training size in raw [0, 255] (the model normalizes them
itself) and returns class probabilities; `serve_uint8` takes uint8 images.
"""

import keras
import numpy as np
import tensorflow as tf

# Importing these registers tfreg's layers, which keras.saving.load_model needs for model.keras.
from tfreg.data import normalize  # noqa: F401
from tfreg.models import layers  # noqa: F401
from tfreg.regularizers import drop_path, dropout  # noqa: F401


def load_keras_model(path):
    """keras.saving.load_model with tfreg's custom layers registered."""
    return keras.saving.load_model(path)


def export(net, run_dir, image_shape):
    keras_path = str(run_dir / "model.keras")
    net.save(keras_path)
    archive = keras.export.ExportArchive()
    archive.track(net)
    archive.add_endpoint(
        "serve", lambda images: net(images, training=False),
        input_signature=[tf.TensorSpec((None, *image_shape), tf.float32, name="images")])
    archive.add_endpoint(
        "serve_uint8", lambda images: net(tf.cast(images, tf.float32), training=False),
        input_signature=[tf.TensorSpec((None, *image_shape), tf.uint8, name="images")])
    archive.write_out(str(run_dir / "saved_model"), verbose=False)


def reload_check(net, run_dir, images):
    """Max absolute difference between the in-memory net and both reloaded exports on `images`."""
    expected = np.asarray(net(images.astype(np.float32), training=False))
    reloaded = load_keras_model(str(run_dir / "model.keras"))
    saved = tf.saved_model.load(str(run_dir / "saved_model"))
    from_keras = np.asarray(reloaded(images.astype(np.float32), training=False))
    from_saved = saved.serve(tf.constant(images, tf.float32)).numpy()
    from_uint8 = saved.serve_uint8(tf.constant(images.astype(np.uint8))).numpy()
    return {"model_keras_max_abs_diff": float(np.max(np.abs(from_keras - expected))),
            "saved_model_max_abs_diff": float(np.max(np.abs(from_saved - expected))),
            "saved_model_uint8_max_abs_diff": float(np.max(np.abs(from_uint8 - expected)))}
