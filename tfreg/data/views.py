"""Test-time augmentation views (--tta): the evaluation averages the model's probabilities over them.

flip: the image and its left-right mirror. crops: zero-pad by --tta_crop_pixels, take the four
corner crops and the centre crop at the original size, each with its mirror (10 views), as the
multi-crop testing of the CS5489 lecture (there at 5 scales, here at one).
"""

import tensorflow as tf


def tta_views(images, mode, crop_pixels=4):
    """List of [B, H, W, C] views of a batch."""
    if mode == "none":
        return [images]
    mirror = lambda x: tf.reverse(x, [2])  # noqa: E731
    if mode == "flip":
        return [images, mirror(images)]
    p = crop_pixels
    h, w = images.shape[1], images.shape[2]
    padded = tf.pad(images, [[0, 0], [p, p], [p, p], [0, 0]])
    views = []
    for top, left in ((0, 0), (0, 2 * p), (2 * p, 0), (2 * p, 2 * p), (p, p)):
        crop = padded[:, top:top + h, left:left + w, :]
        views += [crop, mirror(crop)]
    return views
