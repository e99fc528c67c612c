"""A profiling lever, not library code: Keras 3's BatchNormalization on TensorFlow computes batch
statistics and the normalization as a chain of element-wise ops in float32 (casts in and out under a
bfloat16 policy, and many more ops in the backward pass). `patch()` replaces its training-mode call
on 4-D NHWC inputs with TensorFlow's fused kernel (FusedBatchNormV3, oneDNN's batch norm with a
bfloat16 input and float32 scale, offset and statistics, one kernel forward and one backward), as
tf.keras 2 did. Used by benchmarks/profile_bf16.py (spec "patches": ["fused_bn"]) to measure what
tfreg would gain.

Differences from Keras 3's layer: the moving variance is updated with the Bessel-corrected batch
variance (as PyTorch does) and epsilon is at least 1.001e-5 (the fused kernel's floor).
"""

import keras
import tensorflow as tf

_ORIGINAL_CALL = keras.layers.BatchNormalization.call


def fused_call(self, inputs, training=None, mask=None):
    if (not (training and self.trainable) or mask is not None or self.renorm or self.synchronized
            or len(inputs.shape) != 4 or self.axis not in (-1, 3)):
        return _ORIGINAL_CALL(self, inputs, training=training, mask=mask)
    channels = inputs.shape[-1]
    gamma = tf.cast(self.gamma, tf.float32) if self.scale else tf.ones([channels], tf.float32)
    beta = tf.cast(self.beta, tf.float32) if self.center else tf.zeros([channels], tf.float32)
    y, mean, variance = tf.compat.v1.nn.fused_batch_norm(
        tf.cast(inputs, self.compute_dtype), gamma, beta, epsilon=self.epsilon, is_training=True)
    self.moving_mean.assign(self.moving_mean * self.momentum + mean * (1.0 - self.momentum))
    self.moving_variance.assign(
        self.moving_variance * self.momentum + variance * (1.0 - self.momentum))
    return y


def patch():
    keras.layers.BatchNormalization.call = fused_call
