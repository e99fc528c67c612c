"""Code paths that only a GPU takes, forced on CPU (issue 26): what can be checked without one."""

import numpy as np
import tensorflow as tf

from tfreg.models import layers


def test_bfloat16_mish_is_computed_in_float32_where_there_is_a_gpu(monkeypatch):
    # TensorFlow has no bfloat16 GPU kernels for MulNoNan and Softplus; with a GPU the layer
    # computes in float32 and casts back (make gpu-check runs it on a GPU with soft placement off)
    x = tf.constant(np.linspace(-6, 6, 4001), tf.bfloat16)
    on_cpu = layers.Mish(dtype="mixed_bfloat16")(x)
    monkeypatch.setattr(layers, "_tensorflow_sees_a_gpu", lambda: True)
    with tf.GradientTape() as tape:
        tape.watch(x)
        on_gpu = layers.Mish(dtype="mixed_bfloat16")(x)
    float32 = tf.cast(layers._mish(tf.cast(x, tf.float32)), tf.bfloat16)
    assert on_gpu.dtype == tf.bfloat16
    np.testing.assert_array_equal(on_gpu.numpy(), float32.numpy())
    assert not np.array_equal(on_cpu.numpy(), on_gpu.numpy())  # the other path was taken
    np.testing.assert_allclose(on_cpu.numpy().astype(np.float32), on_gpu.numpy().astype(np.float32),
                               atol=0.05, rtol=0.02)  # within bfloat16's rounding
    assert np.all(np.isfinite(tape.gradient(on_gpu, x).numpy().astype(np.float32)))
