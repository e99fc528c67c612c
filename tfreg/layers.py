"""tfreg's Keras layers for your own models (public API; docs/library.md).

    import tfreg.layers
    x = x + tfreg.layers.DropPath(0.1)(branch(x))   # timm's convention: per sample, identity at
                                                    # inference; mode="batch" for the paper's

Importing this module registers every Keras object tfreg defines (package "tfreg"): the layers
tfreg's models use, and tfreg.optimizers', tfreg.losses' and tfreg.augment's classes with the
learning-rate schedule; so after `import tfreg.layers`, `keras.saving.load_model` reloads a tfreg
model, or your own model built and compiled with tfreg's pieces. The implementations live one
technique per module (tfreg.regularizers.*, tfreg.models.layers); the names
below are the promised ones.
"""

import tfreg.augment  # noqa: F401  (registers MixUp, CutMix, Cutout, RandomErasing)
import tfreg.losses  # noqa: F401  (registers LabelSmoothingCrossEntropy)
import tfreg.optimizers  # noqa: F401  (registers SGD, Adam, AdamW, RMSprop, AGC)
import tfreg.train.schedules  # noqa: F401  (registers Schedule)
from tfreg.models.layers import FusedBatchNormalization, Mish, Normalize, PadShortcut, WSConv2D
from tfreg.regularizers.drop_path import DropPath, DropPathBranch, block_rates, drop_path
from tfreg.regularizers.dropout import Dropout, dropout

__all__ = [
    "DropPath",
    "DropPathBranch",
    "Dropout",
    "FusedBatchNormalization",
    "Mish",
    "Normalize",
    "PadShortcut",
    "WSConv2D",
    "block_rates",
    "drop_path",
    "dropout",
]
