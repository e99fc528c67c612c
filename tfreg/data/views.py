"""Test-time augmentation views (--tta): the evaluation averages the model's probabilities over them.

flip: the image and its left-right mirror. crops: zero-pad by --tta_crop_pixels, take the four
corner crops and the centre crop at the original size, each with its mirror (10 views), as the
multi-crop testing of the CS5489 lecture (there at 5 scales, here at one).
multiscale: the lecture's resize-then-crop scheme (5 scales from 224 to 640 for 224 crops) scaled to
small images: resize (bilinear) to round(s H) x round(s W) for s in MULTISCALE_SCALES = (1, 1.125,
1.25); at s = 1 the image itself, at each larger scale the four corner crops and the centre crop
(offset floor((sH - H) / 2)) of size H x W; every crop with its left-right mirror: 2 + 10 + 10 = 22
views.
"""

import tensorflow as tf

from tfreg.choices import TTA_MODES, check

MULTISCALE_SCALES = (1.0, 1.125, 1.25)


def _mirror(x):
    return tf.reverse(x, [2])


def _corner_and_centre_crops(images, h, w):
    """The four corner crops and the centre crop of size h x w of a larger batch."""
    big_h, big_w = images.shape[1], images.shape[2]
    dy, dx = big_h - h, big_w - w
    offsets = ((0, 0), (0, dx), (dy, 0), (dy, dx), (dy // 2, dx // 2))
    return [images[:, top:top + h, left:left + w, :] for top, left in offsets]


def tta_views(images, mode, crop_pixels=4):
    """List of [B, H, W, C] views of a batch."""
    check("tta mode", mode, TTA_MODES)
    if mode == "none":
        return [images]
    if mode == "flip":
        return [images, _mirror(images)]
    h, w = images.shape[1], images.shape[2]
    if mode == "crops":
        p = crop_pixels
        padded = tf.pad(images, [[0, 0], [p, p], [p, p], [0, 0]])
        crops = _corner_and_centre_crops(padded, h, w)
    else:  # multiscale
        crops = [images]
        for s in MULTISCALE_SCALES[1:]:
            resized = tf.image.resize(images, (round(s * h), round(s * w)), "bilinear")
            crops += _corner_and_centre_crops(tf.cast(resized, images.dtype), h, w)
    return [v for crop in crops for v in (crop, _mirror(crop))]
