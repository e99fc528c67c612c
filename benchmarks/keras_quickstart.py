"""The quickstart recipe (experiments/quickstart.flags) in plain Keras, for the time-to-accuracy
suite: the same half-width ResNet-20 (benchmarks/keras_resnet.py), per-channel normalization in the
model, per-example pad-and-crop and horizontal flip in tf.data, SGD with Nesterov momentum, cosine
decay per step, L2 on every weight (Keras's L2(wd/2) has the gradient wd*w of tfreg's
--weight_decay_mode=l2), test accuracy after every epoch. Nothing from tfreg.

    python -m benchmarks.keras_quickstart [--epochs N] [--flagfile experiments/quickstart.flags]

Prints one `@@bench {"epoch": e, "test_accuracy": a}` line per epoch. Refuses a flagfile that sets
a flag this script does not reproduce.
"""

import argparse
import gzip
import json
import math
import os
import sys

import numpy as np

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

DEBIAN = "/usr/share/datasets/fashion-mnist"
# flag: the only value this script reproduces (None: any value, read below)
RECIPE = {"dataset": "fashion_mnist", "model": "resnet20", "normalize": "per_channel",
          "flip": "horizontal", "optimizer": "sgd", "lr_schedule": "cosine",
          "weight_decay_mode": "l2", "nesterov": None, "width_multiplier": None,
          "pad_crop_pixels": None, "batch_size": None, "epochs": None, "learning_rate": None,
          "momentum": None, "weight_decay": None, "verbose": None}


def read_flagfile(path):
    flags = {}
    for line in open(path):
        line = line.strip()
        if line.startswith("--"):
            name, _, value = line[2:].partition("=")
            flags[name] = value or "true"
    for name, value in flags.items():
        if name not in RECIPE or (RECIPE[name] is not None and RECIPE[name] != value):
            raise SystemExit(f"keras_quickstart: error: --{name}={value} is not reproduced here")
    return flags


def load_fashion_mnist():
    def idx(name):
        with gzip.open(os.path.join(DEBIAN, name + ".gz")) as f:
            data = f.read()
        dims = data[3]
        shape = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(dims)]
        return np.frombuffer(data, np.uint8, offset=4 + 4 * dims).reshape(shape)

    import keras

    if os.path.isdir(DEBIAN):
        splits = [idx(n) for n in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                   "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")]
    else:
        (x, y), (xt, yt) = keras.datasets.fashion_mnist.load_data()
        splits = [x, y, xt, yt]
    x, y, xt, yt = splits
    return x[..., None], y.astype(np.int64), xt[..., None], yt.astype(np.int64)


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("--flagfile", default="experiments/quickstart.flags")
    p.add_argument("--epochs", type=int, default=0, help="0: the flagfile's")
    p.add_argument("--mixed_bfloat16", action="store_true", help="Keras's mixed_bfloat16 policy")
    args = p.parse_args(argv)
    f = read_flagfile(args.flagfile)
    epochs = args.epochs or int(f["epochs"])
    batch, pixels = int(f["batch_size"]), int(f.get("pad_crop_pixels", 0))

    import keras
    import tensorflow as tf

    from benchmarks.keras_resnet import resnet

    if args.mixed_bfloat16:
        keras.mixed_precision.set_global_policy("mixed_bfloat16")
    x, y, xt, yt = load_fashion_mnist()
    h, w, c = x.shape[1:]

    def augment(image, label):
        image = tf.cast(image, tf.float32)
        image = tf.image.random_flip_left_right(image)
        image = tf.pad(image, [[pixels, pixels], [pixels, pixels], [0, 0]])
        return tf.image.random_crop(image, [h, w, c]), label

    train = (tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(y))
             .map(augment, num_parallel_calls=tf.data.AUTOTUNE).batch(batch)
             .prefetch(tf.data.AUTOTUNE))
    test = tf.data.Dataset.from_tensor_slices((xt.astype(np.float32), yt)).batch(batch)
    pixels_f = x.reshape(-1, c).astype(np.float64)
    model = resnet("resnet20", input_shape=(h, w, c), width_multiplier=float(f["width_multiplier"]),
                   mean=pixels_f.mean(0), variance=pixels_f.var(0),
                   l2=float(f.get("weight_decay", 0)) / 2)
    schedule = keras.optimizers.schedules.CosineDecay(
        float(f["learning_rate"]), decay_steps=epochs * math.ceil(len(y) / batch))
    model.compile(optimizer=keras.optimizers.SGD(schedule, momentum=float(f["momentum"]),
                                                 nesterov=f.get("nesterov") == "true"),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])

    class Report(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            print("@@bench " + json.dumps({"epoch": epoch + 1,
                                           "test_accuracy": float(logs["val_accuracy"])}),
                  flush=True)

    model.fit(train, epochs=epochs, validation_data=test, callbacks=[Report()], verbose=0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
