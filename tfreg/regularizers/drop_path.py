"""Stochastic depth (Huang et al. 2016, "Deep Networks with Stochastic Depth", ECCV).

A residual branch is dropped with probability p_b, rising linearly over the blocks from 0 at the
first block to --drop_path_rate at the last (`linear_rates`, as timm's make_blocks).
Two conventions, never both scalings:
- batch (the paper): one Bernoulli draw per mini-batch; no rescaling in training; at test time the
  branch is multiplied by its survival probability 1 - p_b.
- sample (timm `drop_path`): one draw per example; kept branches scaled by 1 / (1 - p_b) in
  training; identity at test time.
Site: model graph, on each block's residual branch before the addition.
Flags: --drop_path_rate, --drop_path_mode.
"""

import keras
import tensorflow as tf

from tfreg.choices import DROP_PATH_MODES as MODES
from tfreg.regularizers._random import replica_seed


def linear_rates(final_rate, num_blocks):
    """Per-block drop probabilities: 0 at the first block, final_rate at the last."""
    if num_blocks == 1:
        return [final_rate]
    return [final_rate * b / (num_blocks - 1) for b in range(num_blocks)]


def drop_path(x, rate, mode, seed, training):
    """Pure function form of the layer below."""
    keep = 1.0 - rate
    if not training:
        return x * tf.cast(keep, x.dtype) if mode == "batch" else x
    shape = [1] * len(x.shape) if mode == "batch" else [tf.shape(x)[0]] + [1] * (len(x.shape) - 1)
    mask = tf.cast(tf.random.stateless_uniform(shape, seed) < keep, x.dtype)
    return x * mask if mode == "batch" else x * mask / tf.cast(keep, x.dtype)


@keras.saving.register_keras_serializable(package="tfreg")
class DropPath(keras.layers.Layer):
    def __init__(self, rate, mode="batch", seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0 <= rate < 1:
            raise ValueError(f"DropPath rate must be in [0, 1), received rate={rate}")
        if mode not in MODES:
            raise ValueError(f"DropPath mode must be one of {MODES}, received mode={mode!r}")
        self.rate = rate
        self.mode = mode
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, x, training=False):
        if self.rate == 0:
            return x
        seed = replica_seed(self.seed_generator) if training else None
        return drop_path(x, self.rate, self.mode, seed, training)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "mode": self.mode, "seed": self.seed}
