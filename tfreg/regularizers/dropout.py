"""Inverted dropout (Srivastava et al. 2014, JMLR 15) with per-replica masks and MC sampling.

Training: each unit is kept with probability 1 - rate and scaled by 1 / (1 - rate), so the
expectation is unchanged; inference: identity. Setting `mc_sampling` (by
tfreg.train.evaluate.mc_dropout) keeps masks on at inference, for Monte-Carlo dropout (Gal &
Ghahramani 2016) without putting norm layers in training mode.
Site: model graph. Flags: --dropout_rates (stage outputs), --block_dropout_rates (norm positions
inside blocks), --head_dropout_rate (before the classifier), --mc_dropout_samples.
"""

import keras
import tensorflow as tf

from tfreg.regularizers._random import replica_seed


def dropout(x, rate, seed):
    """Inverted dropout of x with a stateless seed (the pure function form of `Dropout`).

    Args:
        x: any float tensor.
        rate: drop probability in [0, 1).
        seed: shape-[2] integer seed of the stateless draw.

    Returns:
        x with each element kept with probability 1 - rate and scaled by 1 / (1 - rate).
    """
    keep = 1.0 - rate
    mask = tf.random.stateless_uniform(tf.shape(x), seed) < keep
    return x * tf.cast(mask, x.dtype) / tf.cast(keep, x.dtype)


@keras.saving.register_keras_serializable(package="tfreg")
class Dropout(keras.layers.Layer):
    """Inverted dropout whose masks differ across the replicas of a distribution strategy.

    The same function as `keras.layers.Dropout` (identity at inference), but each replica folds
    its replica id into the layer's seed, so under a MirroredStrategy no two replicas draw the same
    mask (with one Keras SeedGenerator per layer they would). Setting `mc_sampling = True` keeps
    masks on at inference, for Monte-Carlo dropout.

    Args:
        rate: drop probability in [0, 1); 0 returns the input.
        seed: integer seed of the layer's `keras.random.SeedGenerator`, or None.
        **kwargs: `keras.layers.Layer` arguments (name, dtype, ...).

    Call arguments:
        x: any float tensor.
        training: True draws a mask; False (default) returns x unless `mc_sampling` is set.
    """

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0 <= rate < 1:
            raise ValueError(f"Dropout rate must be in [0, 1), received rate={rate}")
        self.rate = rate
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.mc_sampling = False
        self.supports_masking = True

    def call(self, x, training=False):
        if self.rate == 0 or not (training or self.mc_sampling):
            return x
        return dropout(x, self.rate, replica_seed(self.seed_generator))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}
