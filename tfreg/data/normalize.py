"""Input normalization fitted on the training split, applied by a layer inside the model.

Because the model normalizes, the exported model takes raw [0, 255] images. Modes:
none = x/255; per_channel = (x - mean_c) / std_c (statistics over every training pixel);
mean_image = (x - mean image) / 255 (AlexNet-style mean-image subtraction);
zca = ZCA whitening (Krizhevsky 2009) of x/255: W (x/255 - mean), W = U diag(1/sqrt(S + eps)) U^T.
"""

import keras
import numpy as np
from keras import ops

from tfreg.data.norm_stats import MODES, fit_stats


@keras.saving.register_keras_serializable(package="tfreg")
class Normalize(keras.layers.Layer):
    """(x - shift) / scale, then an optional whitening matrix on the flattened image.

    The statistics are non-trainable weights, so they travel with model.keras and SavedModel.
    Fit them on the training images with `adapt(x_train)` (or `set_stats`) before training.

    Args:
        mode: "per_channel" (default; mean and std of each channel over every training pixel),
            "none" (x / 255), "mean_image" ((x - mean image) / 255) or "zca" (ZCA whitening of
            x / 255).
        **kwargs: `keras.layers.Layer` arguments.

    Call arguments:
        x: raw images [batch, H, W, C] in [0, 255], any dtype.
    """

    def __init__(self, mode="per_channel", **kwargs):
        super().__init__(**kwargs)
        if mode not in MODES:
            raise ValueError(f"Normalize mode must be one of {MODES}, received mode={mode!r}")
        self.mode = mode

    def build(self, input_shape):
        shape = tuple(input_shape[1:])
        shift_shape = shape if self.mode in ("mean_image", "zca") else shape[-1:]
        self.shift = self.add_weight(name="shift", shape=shift_shape, initializer="zeros",
                                     trainable=False)
        self.scale = self.add_weight(name="scale", shape=shape[-1:], initializer="ones",
                                     trainable=False)
        if self.mode == "zca":
            dim = int(np.prod(shape))
            self.whiten = self.add_weight(name="whiten", shape=(dim, dim), initializer="identity",
                                          trainable=False)

    def adapt(self, images, zca_epsilon=0.1):
        """Fits the statistics on `images` and sets them (building the layer if needed).

        Args:
            images: numpy array [N, H, W, C] of raw training images in [0, 255].
            zca_epsilon: the eigenvalue offset of ZCA whitening (tfreg's --zca_epsilon default).
        """
        images = np.asarray(images)
        if not self.built:
            self.build((None,) + images.shape[1:])
        self.set_stats(fit_stats(images, self.mode, zca_epsilon))

    def set_stats(self, stats):
        """Sets the statistics: a dict with 'shift', 'scale' and, for zca, 'whiten' arrays
        (tfreg.data.norm_stats.fit_stats)."""
        self.shift.assign(np.asarray(stats["shift"], np.float32))
        self.scale.assign(np.asarray(stats["scale"], np.float32))
        if self.mode == "zca":
            self.whiten.assign(np.asarray(stats["whiten"], np.float32))

    def call(self, x):
        x = ops.cast(x, self.compute_dtype)
        y = (x - ops.cast(self.shift, x.dtype)) / ops.cast(self.scale, x.dtype)
        if self.mode == "zca":
            shape = ops.shape(x)
            flat = ops.reshape(y, (shape[0], -1))
            y = ops.reshape(ops.matmul(flat, ops.cast(self.whiten, x.dtype)), shape)
        return y

    def get_config(self):
        return {**super().get_config(), "mode": self.mode}
