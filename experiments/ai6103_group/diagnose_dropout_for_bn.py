"""Why a BN-free ResNet trained with dropout in the norm positions scores 10% at test time.

    python experiments/ai6103_group/diagnose_dropout_for_bn.py RUN_DIR [--examples=2000]

RUN_DIR is a finished `python -m tfreg.run` directory (its flags.txt and model.keras). Prints, on
the first --examples test images and the first 1,000 training images: accuracy and the predicted
classes of the inference network (dropout off), accuracy of the training-mode forward pass (dropout
masks on), how many distinct probability rows the inference network gives, and the standard
deviation of each stage's last block output with and without the masks. A diagnostic for the study's README,
not part of tfreg.
"""

import argparse
import os
import re

os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from tfreg.analysis.common import load_config  # noqa: E402
from tfreg.data.prepare import prepare  # noqa: E402
from tfreg.export import load_keras_model  # noqa: E402


def forward(net, x, training):
    return np.concatenate([keras.ops.convert_to_numpy(net(x[i:i + 250], training=training))
                           for i in range(0, len(x), 250)])


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("run_dir")
    p.add_argument("--examples", type=int, default=2000)
    args = p.parse_args()
    cfg = load_config([], from_run=args.run_dir)
    data = prepare(cfg)
    net = load_keras_model(os.path.join(args.run_dir, "model.keras"))
    sets = {"test": (data.x_test[:args.examples], data.y_test[:args.examples]),
            "train": (data.x_train[:1000], data.y_train[:1000])}
    for name, (x, y) in sets.items():
        x = x.astype("float32")
        plain, masked = forward(net, x, False), forward(net, x, True)
        print(f"{name} ({len(y)} images): inference accuracy {np.mean(plain.argmax(1) == y):.4f}, "
              f"predicted classes {np.bincount(plain.argmax(1), minlength=data.num_classes).tolist()}, "
              f"distinct probability rows {len(np.unique(plain.round(4), axis=0))}; "
              f"with dropout masks (training=True) accuracy {np.mean(masked.argmax(1) == y):.4f}")
    x = sets["test"][0][:250].astype("float32")
    last = {}  # each stage's last block output
    for layer in net.layers:
        if re.fullmatch(r"stage\d+_block\d+_out", layer.name):
            last[layer.name.split("_")[0]] = layer.name
    stages = list(last.values())
    probe = keras.Model(net.input, [net.get_layer(s).output for s in stages])
    for s, off, on in zip(stages, probe(x, training=False), probe(x, training=True)):
        print(f"{s}: std without masks {float(np.std(off)):.4f}, with masks {float(np.std(on)):.4f}")


if __name__ == "__main__":
    main()
