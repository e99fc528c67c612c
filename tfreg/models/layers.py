"""Small layers the model zoo needs beyond Keras core (public: tfreg.layers).

Normalize is the input normalization fitted on the training split (tfreg.norm_stats), applied
inside the model, so the exported model takes raw [0, 255] images. Modes: none = x/255;
per_channel = (x - mean_c) / std_c (statistics over every training pixel); mean_image = (x - mean
image) / 255 (AlexNet-style mean-image subtraction); zca = ZCA whitening (Krizhevsky 2009) of
x/255: W (x/255 - mean), W = U diag(1/sqrt(S + eps)) U^T.
"""

import functools

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from tfreg.norm_stats import MODES, fit_stats


@keras.saving.register_keras_serializable(package="tfreg")
class PadShortcut(keras.layers.Layer):
    """Parameter-free shortcut of the CIFAR ResNets (He et al. 2016, option A).

    Subsamples by `stride` and zero-pads the channel axis up to `filters`.

    Args:
        filters: output channels (at least the input's).
        stride: spatial subsampling factor.
        **kwargs: `keras.layers.Layer` arguments.
    """

    def __init__(self, filters, stride, **kwargs):
        super().__init__(**kwargs)
        self.filters = filters
        self.stride = stride

    def call(self, x):
        x = x[:, :: self.stride, :: self.stride, :]
        extra = self.filters - x.shape[-1]
        return tf.pad(x, [[0, 0], [0, 0], [0, 0], [extra // 2, extra - extra // 2]])

    def compute_output_shape(self, input_shape):
        n, h, w, _ = input_shape
        out = lambda d: None if d is None else -(-d // self.stride)  # noqa: E731
        return (n, out(h), out(w), self.filters)

    def get_config(self):
        return {**super().get_config(), "filters": self.filters, "stride": self.stride}


@keras.saving.register_keras_serializable(package="tfreg")
class WSConv2D(keras.layers.Conv2D):
    """Scaled weight-standardized convolution (Brock et al. 2021, NF-ResNets, arXiv:2101.08692).

    W_hat = gain * (W - mean(W)) / sqrt(max(var(W) * fan_in, eps)), statistics over every axis but
    the output channels, a learnable gain per output channel (initialized to 1).

    Args:
        *args: `keras.layers.Conv2D` arguments (filters, kernel_size, strides, ...).
        ws_eps: floor of var(W) * fan_in, for kernels with (nearly) constant units.
        **kwargs: `keras.layers.Conv2D` keyword arguments.
    """

    def __init__(self, *args, ws_eps=1e-4, **kwargs):
        super().__init__(*args, **kwargs)
        self.ws_eps = ws_eps

    def build(self, input_shape):
        super().build(input_shape)
        self.gain = self.add_weight(name="gain", shape=(self.filters,), initializer="ones")

    def convolution_op(self, inputs, kernel):
        fan_in = kernel.shape[0] * kernel.shape[1] * kernel.shape[2]
        mean, var = tf.nn.moments(kernel, axes=[0, 1, 2], keepdims=True)
        scale = tf.math.rsqrt(tf.maximum(var * fan_in, self.ws_eps)) * self.gain
        return super().convolution_op(inputs, (kernel - mean) * scale)

    # keras's BaseConv saves only kernel and bias, by position; the gain goes after them.
    def save_own_variables(self, store):
        super().save_own_variables(store)
        if self.built:
            store[str(1 + int(self.use_bias))] = self.gain

    def load_own_variables(self, store):
        super().load_own_variables(store)
        self.gain.assign(store[str(1 + int(self.use_bias))])

    def get_config(self):
        return {**super().get_config(), "ws_eps": self.ws_eps}


def _mish(x):
    return tf.math.multiply_no_nan(x, tf.tanh(tf.nn.softplus(x)))


@functools.cache
def _tensorflow_sees_a_gpu():
    return bool(tf.config.list_logical_devices("GPU"))


@keras.saving.register_keras_serializable(package="tfreg")
class Mish(keras.layers.Layer):
    """mish(x) = x tanh(softplus(x)) (Misra 2019), the values and gradients of
    keras.activations.mish, in a form TensorFlow's oneDNN graph rewrite leaves alone.

    With TF_ENABLE_ONEDNN_OPTS=1 (tfreg's default) the remapper turns Conv2D + BiasAdd + Add +
    Mul(x, Tanh(Softplus(x))) into one fused convolution that it then cannot run ("Fusion is not
    implemented: [BiasAdd,Add,Mish]"): a residual block without normalization crashed at its first
    inference step. multiply_no_nan is another op than Mul, so the pattern does not match; it
    equals x * y except that it gives 0 where y = 0 (x -> -inf, where Mul gives NaN).

    TensorFlow has no bfloat16 GPU kernels for MulNoNan and Softplus (they would run on the CPU,
    copying every activation across): where TensorFlow sees a GPU, a bfloat16 input is computed
    in float32 and cast back (`make gpu-check` runs it with soft placement off). On CPU the
    bfloat16 kernels exist and are used.

    Args:
        **kwargs: `keras.layers.Layer` arguments.
    """

    def call(self, x):
        if x.dtype == tf.bfloat16 and _tensorflow_sees_a_gpu():
            return tf.cast(_mish(tf.cast(x, tf.float32)), x.dtype)
        return _mish(x)

    def compute_output_shape(self, input_shape):
        return input_shape


@keras.saving.register_keras_serializable(package="tfreg")
class FusedBatchNormalization(keras.layers.BatchNormalization):
    """Keras's BatchNormalization with its training-mode step on TensorFlow's fused kernel
    (FusedBatchNormV3: oneDNN's batch norm on CPU, cuDNN's on GPUs; one kernel forward and one
    backward, a bfloat16 input with float32 statistics) instead of Keras 3's chain of element-wise
    ops in float32 with casts around it (`--batch_norm_kernel=fused`; the profile in
    benchmarks/README.md).

    The same function as Keras's layer: normalization by the biased batch variance, and the moving
    variance updated with the biased batch variance too (the kernel returns the Bessel-corrected
    one, which is scaled back by (n - 1) / n), momentum and epsilon as given (the raw op, so no
    1.001e-5 floor on epsilon). Inference, masks, renorm, synchronized (multi-replica) batch norm
    and inputs that are not 4-D channels-last take Keras's own path.

    Args:
        **kwargs: `keras.layers.BatchNormalization` arguments (momentum, epsilon, ...).
    """

    def call(self, inputs, training=None, mask=None):
        if (not (training and self.trainable) or mask is not None or self.renorm
                or self.synchronized or len(inputs.shape) != 4 or self.axis not in (-1, 3)):
            return super().call(inputs, training=training, mask=mask)
        channels = inputs.shape[-1]
        x = tf.cast(inputs, self.compute_dtype)
        gamma = tf.cast(self.gamma, tf.float32) if self.scale else tf.ones([channels], tf.float32)
        beta = tf.cast(self.beta, tf.float32) if self.center else tf.zeros([channels], tf.float32)
        empty = tf.constant([], tf.float32)
        y, mean, variance, *_ = tf.raw_ops.FusedBatchNormV3(
            x=x, scale=gamma, offset=beta, mean=empty, variance=empty, epsilon=self.epsilon,
            exponential_avg_factor=1.0, data_format="NHWC", is_training=True)
        n = tf.cast(tf.size(x) // channels, tf.float32)
        biased = variance * (n - 1.0) / tf.maximum(n, 1.0)
        m = self.momentum
        self.moving_mean.assign(tf.cast(self.moving_mean, tf.float32) * m + mean * (1.0 - m))
        self.moving_variance.assign(tf.cast(self.moving_variance, tf.float32) * m + biased * (1.0 - m))
        return y


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
        (tfreg.norm_stats.fit_stats)."""
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
