"""Weight decay, in the two semantics that PyTorch and Keras users mean by it.

- l2 (PyTorch SGD / Adam `weight_decay`): the gradient gets + wd * w before momentum or adaptive
  scaling. Keras `regularizers.L2(l)` instead adds l * ||w||^2 to the loss (gradient 2 l w), so
  L2(wd / 2) would be equivalent; we add the term in the optimizer update.
- decoupled (Loshchilov & Hutter 2019, AdamW; Keras optimizer `weight_decay`):
  w <- w - lr * wd * w, separately from the gradient step.
Site: optimizer. Flags: --weight_decay, --weight_decay_mode, --weight_decay_exclude.
"""


def l2_gradient(grad, param, weight_decay):
    return grad + weight_decay * param


def decayed_variables(variables, exclude):
    """exclude=norm_and_bias spares every vector (biases, norm scales and offsets, WS gains)."""
    if exclude == "none":
        return list(variables)
    return [v for v in variables if len(v.shape) > 1]
