"""tfreg's Keras losses for your own models (public API; docs/library.md).

    model.compile(loss=tfreg.losses.LabelSmoothingCrossEntropy(0.1, style="off_target"), ...)

The implementation lives in tfreg.regularizers.label_smoothing, with the two conventions.
"""

from tfreg.regularizers.label_smoothing import LabelSmoothingCrossEntropy, smooth_labels

__all__ = ["LabelSmoothingCrossEntropy", "smooth_labels"]
