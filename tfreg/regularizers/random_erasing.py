"""Random erasing (Zhong et al. 2020, AAAI, arXiv:1708.04896).

With probability p, draw a target area S_e ~ U(s_l, s_h) * S and an aspect ratio
r_e ~ U(r_1, r_2); H_e = round(sqrt(S_e r_e)), W_e = round(sqrt(S_e / r_e)); if the rectangle fits
(H_e < H and W_e < W) place its corner uniformly over the valid positions and fill it, else try
again (up to 100 attempts, as the authors' code; no erasing if none fits). Fill: uniform random
values (the paper), zero, or the training mean colour. Site: tf.data, per example.
Flags: --random_erasing_prob, --random_erasing_area_{min,max}, --random_erasing_aspect_{min,max},
--random_erasing_fill.
"""

import tensorflow as tf

ATTEMPTS = 100


def erasing_box(height, width, seed, area_range, aspect_range):
    """(top, left, h, w, found) of the first fitting candidate among ATTEMPTS."""
    seeds = tf.random.experimental.stateless_split(seed, num=4)
    area = tf.random.stateless_uniform([ATTEMPTS], seeds[0], *area_range) * (height * width)
    aspect = tf.random.stateless_uniform([ATTEMPTS], seeds[1], *aspect_range)
    h = tf.cast(tf.round(tf.sqrt(area * aspect)), tf.int32)
    w = tf.cast(tf.round(tf.sqrt(area / aspect)), tf.int32)
    fits = (h < height) & (w < width) & (h > 0) & (w > 0)
    first = tf.argmax(tf.cast(fits, tf.int32), output_type=tf.int32)
    h, w, found = h[first], w[first], tf.reduce_any(fits)
    u = tf.random.stateless_uniform([2], seeds[2])
    top = tf.cast(u[0] * tf.cast(height - h + 1, tf.float32), tf.int32)
    left = tf.cast(u[1] * tf.cast(width - w + 1, tf.float32), tf.int32)
    return tf.minimum(top, height - h), tf.minimum(left, width - w), h, w, found


def random_erasing(image, seed, prob, area_range=(0.02, 0.4), aspect_range=(0.3, 1 / 0.3),
                   fill="random", mean=None, value_range=(0.0, 255.0)):
    """Erases one rectangle of `image` with probability `prob`.

    Args:
        image: [H, W, C] float image.
        seed: shape-[2] integer seed.
        prob: probability of erasing.
        area_range: (s_l, s_h), the erased area's range as a fraction of the image.
        aspect_range: (r_1, r_2), the rectangle's aspect-ratio range.
        fill: "random" (uniform values in value_range, the paper's), "zero", or "mean".
        mean: the per-channel fill of fill="mean".
        value_range: (low, high) of the random fill; tfreg's raw images are in [0, 255].
    """
    height, width, channels = image.shape
    seeds = tf.random.experimental.stateless_split(seed, num=3)
    top, left, h, w, found = erasing_box(height, width, seeds[0], area_range, aspect_range)
    apply = found & (tf.random.stateless_uniform([], seeds[1]) < prob)
    rows = tf.range(height)[:, None, None]
    cols = tf.range(width)[None, :, None]
    mask = (rows >= top) & (rows < top + h) & (cols >= left) & (cols < left + w) & apply
    if fill == "random":
        values = tf.cast(tf.random.stateless_uniform(tf.shape(image), seeds[2], *value_range),
                         image.dtype)
    elif fill == "zero":
        values = tf.zeros_like(image)
    else:
        values = tf.ones_like(image) * tf.constant(mean, image.dtype)
    return tf.where(mask, values, image)
