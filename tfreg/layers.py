"""tfreg's Keras layers for your own models (public API; docs/library.md).

    import tfreg.layers
    x = x + tfreg.layers.DropPath(0.1)(branch(x))   # timm's convention: per sample, identity at
                                                    # inference; mode="batch" for the paper's

Importing this module registers every layer tfreg's models use (package "tfreg"), so
`keras.saving.load_model` reloads a tfreg model or your own model built from these layers. The
implementations live one technique per module (tfreg.regularizers.*, tfreg.models.layers,
tfreg.data.normalize); the names below are the promised ones.
"""

from tfreg.data.normalize import Normalize
from tfreg.models.layers import FusedBatchNormalization, Mish, PadShortcut, WSConv2D
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
