"""Adaptive gradient clipping (Brock et al. 2021, "High-Performance Large-Scale Image Recognition
Without Normalization", arXiv:2102.06171).

Unit-wise: for a kernel, one unit per output channel (norm over every axis but the last, Keras's
output axis); for a vector, the whole tensor. Each unit's gradient G is rescaled to
clip * max(||W||, eps) / ||G|| * G when ||G|| / max(||W||, eps) > clip. The classifier kernel is
never clipped, as in the paper. Site: the optimizer's per-variable update, which runs after the
cross-replica gradient sum, so it clips the gradient of the full global batch.
Flags: --agc_clip, --agc_eps, --agc_stages.
"""

import tensorflow as tf


def unitwise_norm(x):
    if len(x.shape) <= 1:
        return tf.norm(x)
    return tf.sqrt(tf.reduce_sum(tf.square(x), axis=list(range(len(x.shape) - 1)), keepdims=True))


def clip_gradient(grad, param, clip, eps):
    param_norm = tf.maximum(unitwise_norm(param), eps)
    grad_norm = unitwise_norm(grad)
    max_norm = clip * param_norm
    clipped = grad * (max_norm / tf.maximum(grad_norm, 1e-6))
    return tf.where(grad_norm > max_norm, clipped, grad)


def clipped_variables(variables, stages):
    """Trainable variables AGC applies to: every one but the classifier kernel, limited to the
    listed 1-based stages unless `stages` is None (all, with the stem and the head)."""
    chosen = []
    for v in variables:
        layers = v.path.split("/")[:-1]  # e.g. "stage2_block1_conv1/kernel"
        if "logits" in layers and v.path.endswith("kernel"):
            continue
        if stages is not None and not any(
                layer.startswith(f"stage{s}_") for layer in layers for s in stages):
            continue
        chosen.append(v)
    return chosen
