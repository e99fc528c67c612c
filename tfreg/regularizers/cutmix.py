"""CutMix (Yun et al. 2019, ICCV).

Paste a box of the partner image x_j into x_i. The box has sides H sqrt(1 - lam), W sqrt(1 - lam),
a centre uniform over the image, and is clipped at the border (the authors' rand_bbox); the label
weight is recomputed from the clipped box: lam' = 1 - area / (H W). Site: train step.
Flag: --cutmix_alpha.
"""

import tensorflow as tf


def box_masks(height, width, lam, seed):
    """([B, H, W, 1] boolean masks of the pasted boxes, [B] label weights lam')."""
    batch = tf.shape(lam)[0]
    ratio = tf.sqrt(1.0 - lam)
    cut_h = tf.cast(height * ratio, tf.int32)
    cut_w = tf.cast(width * ratio, tf.int32)
    cy = tf.random.stateless_uniform([batch], seed, 0, height, dtype=tf.int32)
    cx = tf.random.stateless_uniform([batch], tf.random.experimental.stateless_fold_in(seed, 1),
                                     0, width, dtype=tf.int32)
    y1, y2 = tf.clip_by_value(cy - cut_h // 2, 0, height), tf.clip_by_value(cy + cut_h // 2, 0, height)
    x1, x2 = tf.clip_by_value(cx - cut_w // 2, 0, width), tf.clip_by_value(cx + cut_w // 2, 0, width)
    rows = tf.range(height)[None, :, None, None]
    cols = tf.range(width)[None, None, :, None]
    b = lambda v: tf.reshape(v, [-1, 1, 1, 1])  # noqa: E731
    mask = (rows >= b(y1)) & (rows < b(y2)) & (cols >= b(x1)) & (cols < b(x2))
    area = tf.cast((y2 - y1) * (x2 - x1), tf.float32)
    return mask, 1.0 - area / float(height * width)


def cutmix(images, targets, lam, perm, seed):
    _, height, width, _ = images.shape
    mask, lam_adj = box_masks(height, width, lam, seed)
    mixed = tf.where(mask, tf.gather(images, perm), images)
    lam_y = tf.cast(tf.reshape(lam_adj, [-1, 1]), targets.dtype)
    return mixed, lam_y * targets + (1.0 - lam_y) * tf.gather(targets, perm)
