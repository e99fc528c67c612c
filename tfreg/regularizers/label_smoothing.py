"""Label smoothing (Szegedy et al. 2016, "Rethinking the Inception Architecture").

Two conventions (--label_smoothing, --label_smoothing_style):
- uniform (Keras, PyTorch): y_s = (1 - eps) y + eps / C, so the true class gets 1 - eps + eps/C.
- off_target (the ai6103 group study's equation): the true class gets 1 - eps and each of the
  C - 1 other classes eps / (C - 1).
Both are linear in y, so they apply unchanged to mixed (soft) targets. Site: the loss (tfreg's
runs: tfreg.train.trainer; any Keras model: `LabelSmoothingCrossEntropy`, public in tfreg.losses).
"""

import keras
import tensorflow as tf

from tfreg.choices import LABEL_SMOOTHING_STYLES as STYLES


def smooth_labels(targets, eps, style="uniform"):
    """Smoothed targets in either convention.

    Args:
        targets: [..., C] one-hot or soft labels whose rows sum to 1.
        eps: the smoothing strength in [0, 1); 0 returns `targets`.
        style: "uniform" (y (1 - eps) + eps / C; Keras, PyTorch, tfreg's default) or
            "off_target" (the true class 1 - eps, every other class eps / (C - 1)).

    Returns:
        A tensor of targets' shape whose rows still sum to 1.
    """
    if eps == 0:
        return targets
    num_classes = targets.shape[-1]
    if style == "uniform":
        return targets * (1.0 - eps) + eps / num_classes
    if style == "off_target":
        return targets * (1.0 - eps) + (1.0 - targets) * (eps / (num_classes - 1))
    raise ValueError(f"label smoothing style must be one of {STYLES}, received {style!r}")


def cross_entropy(targets, logits):
    """Per-example cross-entropy of soft targets [B, C] against logits [B, C], in float32."""
    return tf.nn.softmax_cross_entropy_with_logits(labels=targets, logits=tf.cast(logits, tf.float32))


@keras.saving.register_keras_serializable(package="tfreg")
class LabelSmoothingCrossEntropy(keras.losses.Loss):
    """Categorical cross-entropy against smoothed targets, in either convention (`smooth_labels`).

    Takes integer labels ([B] or [B, 1]) or one-hot / soft targets ([B, C], e.g. mixed by
    tfreg.augment.mixup); integer labels are one-hot encoded with C = y_pred.shape[-1].
    style="uniform" with from_logits gives what tfreg's runs compute for --label_smoothing.

    Args:
        label_smoothing: eps in [0, 1); 0 is plain cross-entropy.
        style: "uniform" (true class 1 - eps + eps / C, others eps / C; Keras's and PyTorch's)
            or "off_target" (true class 1 - eps, others eps / (C - 1)).
        from_logits: whether y_pred holds logits (True) or probabilities (False, Keras's default).
        reduction: Keras's loss reduction ("sum_over_batch_size", "sum", "mean", "none", ...).
        name: the loss's name.
        dtype: the loss's computation dtype (None: Keras's float type).
    """

    def __init__(self, label_smoothing=0.1, style="uniform", from_logits=False,
                 reduction="sum_over_batch_size", name="label_smoothing_cross_entropy",
                 dtype=None):
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        if not 0 <= label_smoothing < 1:
            raise ValueError("LabelSmoothingCrossEntropy label_smoothing must be in [0, 1), "
                             f"received label_smoothing={label_smoothing}")
        if style not in STYLES:
            raise ValueError(f"LabelSmoothingCrossEntropy style must be one of {STYLES}, "
                             f"received style={style!r}")
        self.label_smoothing = label_smoothing
        self.style = style
        self.from_logits = from_logits

    def call(self, y_true, y_pred):
        num_classes = y_pred.shape[-1]
        if len(y_true.shape) < len(y_pred.shape) or (y_true.shape[-1] == 1 and num_classes != 1):
            labels = tf.cast(tf.reshape(y_true, tf.shape(y_pred)[:-1]), tf.int32)
            y_true = tf.one_hot(labels, num_classes, dtype=y_pred.dtype)
        targets = smooth_labels(tf.cast(y_true, y_pred.dtype), self.label_smoothing, self.style)
        return keras.losses.categorical_crossentropy(targets, y_pred, from_logits=self.from_logits)

    def get_config(self):
        return {**super().get_config(), "label_smoothing": self.label_smoothing,
                "style": self.style, "from_logits": self.from_logits}
