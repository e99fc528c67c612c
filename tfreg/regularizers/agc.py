"""Adaptive gradient clipping (Brock et al. 2021, "High-Performance Large-Scale Image Recognition
Without Normalization", arXiv:2102.06171).

Unit-wise: for a kernel, one unit per output channel (norm over every axis but the last, Keras's
output axis); for a vector, the whole tensor. Each unit's gradient G is rescaled to
clip * max(||W||, eps) / ||G|| * G when ||G|| / max(||W||, eps) > clip. The classifier kernel is
never clipped, as in the paper. Site: the optimizer's per-variable update, which runs after the
cross-replica gradient sum, so it clips the gradient of the full global batch.
Flags: --agc_clip, --agc_eps, --agc_stages.

For any Keras optimizer (public: tfreg.optimizers): `clip_gradients` below, a transform for a
custom train step, and tfreg.train.optimizers.AdaptiveGradientClipping, an optimizer wrapper for
`fit`; there the caller names the variables to leave unclipped (the classifier's), rather than
tfreg's models' layer name `logits` (`clipped_variables`).
"""

import tensorflow as tf

from tfreg.stages import stage_of


def unitwise_norm(x):
    """The norm of each unit: over every axis but the last for a kernel (keepdims), the whole
    tensor for a vector or scalar."""
    if len(x.shape) <= 1:
        return tf.norm(x)
    return tf.sqrt(tf.reduce_sum(tf.square(x), axis=list(range(len(x.shape) - 1)), keepdims=True))


def clip_gradient(grad, param, clip, eps):
    """One variable's unit-wise clipped gradient (the formula in the module docstring)."""
    param_norm = tf.maximum(unitwise_norm(param), eps)
    grad_norm = unitwise_norm(grad)
    max_norm = clip * param_norm
    clipped = grad * (max_norm / tf.maximum(grad_norm, 1e-6))
    return tf.where(grad_norm > max_norm, clipped, grad)


def variable_paths(variables):
    """The set of `.path`s of `variables` (Keras variables, or path strings as they are)."""
    return {v if isinstance(v, str) else v.path for v in variables}


def clip_gradients(grads, variables, clip=0.01, eps=1e-3, exclude=()):
    """Adaptive gradient clipping of a list of gradients, for a custom train step.

    Args:
        grads: gradients, one per variable (None passes through).
        variables: the Keras variables they belong to, in the same order.
        clip: the largest allowed ratio ||G|| / max(||W||, eps) per unit (the paper's lambda;
            0.01 for its batch sizes up to 4096).
        eps: floor of the weight norm, so that zero-initialized units can move.
        exclude: variables (or their `.path` strings) whose gradients stay unclipped; the paper
            leaves the classifier unclipped, e.g. `model.get_layer("head").trainable_variables`.

    Returns:
        The list of clipped gradients.
    """
    excluded = variable_paths(exclude)
    return [g if g is None or v.path in excluded else clip_gradient(g, tf.convert_to_tensor(v), clip, eps)
            for g, v in zip(grads, variables)]


def clipped_variables(variables, stages):
    """Trainable variables AGC applies to: every one but the classifier kernel, limited to the
    listed 1-based stages unless `stages` is None (all, with the stem and the head). A layer's
    stage by tfreg.stages (the stem is in stage 1, as for --norm_stages and --trainable_stages)."""
    chosen = []
    for v in variables:
        layers = v.path.split("/")[:-1]  # e.g. "stage2_block1_conv1/kernel"
        if "logits" in layers and v.path.endswith("kernel"):
            continue
        if stages is not None and not any(stage_of(layer) in stages for layer in layers):
            continue
        chosen.append(v)
    return chosen
