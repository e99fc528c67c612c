"""Export: model.keras and a SavedModel with a `serve` signature, plus a reload check.

A SavedModel loads anywhere with tf.saved_model.load; model.keras needs tfreg's layers
registered first, which importing this module or the public `tfreg.layers` does:
`from tfreg.export import load_keras_model`, or `import tfreg.layers` then
`keras.saving.load_model`.
Keras's error for an unregistered class cannot be changed, but it prints the failing layer's saved
config, so `export` writes a "load_with" entry naming `tfreg.export.load_keras_model` first into
the saved config of every tfreg layer (Keras ignores the entry when loading).

`serve` takes float32 images of the training size in raw [0, 255] (the model normalizes them
itself) and returns {"probabilities": [batch, classes]}; `serve_uint8` takes uint8 images.
Both accept an empty batch and return an empty [0, classes] result. `class_names` (no input)
returns {"class_names": [classes] strings}, the labels in probability order. Input of another
dtype or image shape is refused by the signature; float images that look scaled to [0, 1] (a
largest value in (0, 1]) are refused with an InvalidArgumentError that says to pass raw pixels.
"""

import json
import os
import shutil
import zipfile

import keras
import numpy as np
import tensorflow as tf

# Importing these registers tfreg's layers, which keras.saving.load_model needs for model.keras.
from tfreg.errors import UsageError
from tfreg.models import layers  # noqa: F401
from tfreg.regularizers import registry
from tfreg.timing import Timings

registry.register_classes()  # the regularizers' layers (Dropout, DropPath, ...)

LOAD_HINT = ("tfreg.export.load_keras_model(path) loads this tfreg model (keras.saving.load_model "
             "needs tfreg's layers registered: import tfreg.layers first)")


def load_keras_model(path):
    """keras.saving.load_model with tfreg's custom layers registered. A file that is not a whole
    .keras archive (cut short by a full disk or an interrupted copy, or some other file) is a
    UsageError that names it, where Keras would say 'File not found'."""
    path = str(path)
    try:
        with zipfile.ZipFile(path) as archive:
            damaged = archive.testzip()
    except FileNotFoundError:
        raise UsageError(f"{path} does not exist") from None
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise UsageError(f"{path} is not a readable .keras archive ({e}): it may be truncated; "
                         "copy it again or train the run again") from None
    if damaged is not None:
        raise UsageError(f"{path} is damaged (its member {damaged} fails its checksum); copy it "
                         "again or train the run again")
    return keras.saving.load_model(path)


def add_load_hint(keras_path):
    """Rewrites the .keras archive with {"load_with": LOAD_HINT} first in the saved config of each
    tfreg layer (registered name "tfreg>..."), where Keras's "Could not locate class" error shows
    it. The weights and every other entry are copied unchanged; the file is replaced atomically."""
    def mark(obj):
        if isinstance(obj, list):
            return [mark(v) for v in obj]
        if not isinstance(obj, dict):
            return obj
        out = {k: mark(v) for k, v in obj.items()}
        if str(out.get("registered_name")).startswith("tfreg>"):
            out = {"load_with": LOAD_HINT, **out}
        return out

    tmp = f"{keras_path}.tmp"
    with zipfile.ZipFile(keras_path) as src, zipfile.ZipFile(tmp, "w") as dst:
        for info in src.infolist():
            if info.filename == "config.json":
                dst.writestr(info, json.dumps(mark(json.loads(src.read(info)))))
                continue
            with src.open(info) as fin, dst.open(info, "w") as fout:
                shutil.copyfileobj(fin, fout, 1 << 20)
    os.replace(tmp, keras_path)


SCALED_HINT = ("images look scaled to [0, 1] (largest value <= 1); this model takes raw pixel "
               "values in [0, 255] and normalizes them itself")


def serving_fn(net, check_range=True):
    """images -> {"probabilities": ...} in inference mode; an empty batch gives an empty [0, C]
    result without running the network (TensorFlow's kernels reject some empty inputs)."""
    classes = net.output_shape[-1]

    def serve(images):
        images = tf.cast(images, tf.float32)
        if check_range:
            top = tf.reduce_max(images)  # -inf for an empty batch
            tf.debugging.Assert(tf.logical_not((top > 0.0) & (top <= 1.0)), [SCALED_HINT])
        probs = tf.cond(tf.shape(images)[0] > 0,
                        lambda: tf.cast(net(images, training=False), tf.float32),
                        lambda: tf.zeros([0, classes], tf.float32))
        return {"probabilities": probs}

    return serve


def export(net, run_dir, image_shape, saved_model=True, timings=None, class_names=()):
    """Writes run_dir/model.keras and, with saved_model, run_dir/saved_model/; `timings` (a
    tfreg.timing.Timings) gets the model_keras and saved_model phases; `class_names` (label order;
    class_<k> when empty) are served by the SavedModel's `class_names` signature."""
    timings = timings or Timings(from_process_start=False)
    keras_path = str(run_dir / "model.keras")
    with timings.phase("model_keras"):
        net.save(keras_path)
        add_load_hint(keras_path)
    if not saved_model:
        return
    with timings.phase("saved_model"):
        archive = keras.export.ExportArchive()
        archive.track(net)
        for name, dtype in (("serve", tf.float32), ("serve_uint8", tf.uint8)):
            archive.add_endpoint(name, serving_fn(net, check_range=dtype == tf.float32),
                                 input_signature=[tf.TensorSpec((None, *image_shape), dtype,
                                                                name="images")])
        names = tf.constant(list(class_names) or
                            [f"class_{k}" for k in range(net.output_shape[-1])])
        archive.add_endpoint("class_names", tf.function(lambda: {"class_names": names},
                                                        input_signature=[]))
        archive.write_out(str(run_dir / "saved_model"), verbose=False)


def reload_check(net, run_dir, images, saved_model=True):
    """Max absolute difference between the in-memory net and each reloaded export on `images`
    (null for the SavedModel when it was not exported)."""
    expected = np.asarray(net(images.astype(np.float32), training=False))
    reloaded = load_keras_model(str(run_dir / "model.keras"))
    from_keras = np.asarray(reloaded(images.astype(np.float32), training=False))
    check = {"model_keras_max_abs_diff": float(np.max(np.abs(from_keras - expected))),
             "saved_model_max_abs_diff": None, "saved_model_uint8_max_abs_diff": None}
    if saved_model:
        saved = tf.saved_model.load(str(run_dir / "saved_model"))
        from_saved = saved.serve(tf.constant(images, tf.float32))["probabilities"].numpy()
        from_uint8 = saved.serve_uint8(tf.constant(images.astype(np.uint8)))["probabilities"].numpy()
        check["saved_model_max_abs_diff"] = float(np.max(np.abs(from_saved - expected)))
        check["saved_model_uint8_max_abs_diff"] = float(np.max(np.abs(from_uint8 - expected)))
    return check
