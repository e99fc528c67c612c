"""Label smoothing (Szegedy et al. 2016, "Rethinking the Inception Architecture").

Two conventions (--label_smoothing, --label_smoothing_style):
- uniform (Keras, PyTorch): y_s = (1 - eps) y + eps / C, so the true class gets 1 - eps + eps/C.
- off_target (the ai6103 group study's equation): the true class gets 1 - eps and each of the
  C - 1 other classes eps / (C - 1).
Both are linear in y, so they apply unchanged to mixed (soft) targets. Site: the loss.
"""

import tensorflow as tf

from tfreg.choices import LABEL_SMOOTHING_STYLES as STYLES



def smooth_labels(targets, eps, style):
    """targets: [..., C] one-hot or soft labels whose rows sum to 1."""
    if eps == 0:
        return targets
    num_classes = targets.shape[-1]
    if style == "uniform":
        return targets * (1.0 - eps) + eps / num_classes
    if style == "off_target":
        return targets * (1.0 - eps) + (1.0 - targets) * (eps / (num_classes - 1))
    raise ValueError(f"label smoothing style must be one of {STYLES}, received {style!r}")


def cross_entropy(targets, logits):
    """Per-example cross-entropy of soft targets against logits."""
    return tf.nn.softmax_cross_entropy_with_logits(labels=targets, logits=tf.cast(logits, tf.float32))
