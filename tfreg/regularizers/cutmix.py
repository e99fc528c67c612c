"""CutMix (Yun et al. 2019, ICCV).

Paste a box of the partner image x_j into x_i. The box has sides H sqrt(1 - lam), W sqrt(1 - lam),
a centre uniform over the image, and is clipped at the border (the authors' rand_bbox); the label
weight is recomputed from the clipped box: lam' = 1 - area / (H W). With --mix_lambda=batch one
lam and one box serve the whole batch, as in the authors' train.py and timm's Mixup; with
--mix_lambda=example every image draws its own lam and box. Site: tf.data, per batch.
Flags: --cutmix_alpha, --mix_lambda.
"""

import tensorflow as tf


def box_masks(height, width, lam, seed):
    """One box per entry of lam ([N]): ([N, H, W, 1] boolean masks, [N] label weights lam')."""
    boxes = tf.shape(lam)[0]
    ratio = tf.sqrt(1.0 - lam)
    cut_h = tf.cast(height * ratio, tf.int32)
    cut_w = tf.cast(width * ratio, tf.int32)
    cy = tf.random.stateless_uniform([boxes], seed, 0, height, dtype=tf.int32)
    cx = tf.random.stateless_uniform([boxes], tf.random.experimental.stateless_fold_in(seed, 1),
                                     0, width, dtype=tf.int32)
    y1, y2 = tf.clip_by_value(cy - cut_h // 2, 0, height), tf.clip_by_value(cy + cut_h // 2, 0, height)
    x1, x2 = tf.clip_by_value(cx - cut_w // 2, 0, width), tf.clip_by_value(cx + cut_w // 2, 0, width)
    rows = tf.range(height)[None, :, None, None]
    cols = tf.range(width)[None, None, :, None]
    b = lambda v: tf.reshape(v, [-1, 1, 1, 1])  # noqa: E731
    mask = (rows >= b(y1)) & (rows < b(y2)) & (cols >= b(x1)) & (cols < b(x2))
    area = tf.cast((y2 - y1) * (x2 - x1), tf.float32)
    return mask, 1.0 - area / float(height * width)


def cutmix(images, targets, lam, perm, seed, per_example=True):
    """lam: [B] coefficients; per_example=False uses lam[0] and one box for every image."""
    _, height, width, _ = images.shape
    mask, lam_adj = box_masks(height, width, lam if per_example else lam[:1], seed)
    mixed = tf.where(mask, tf.gather(images, perm), images)
    lam_y = tf.cast(tf.reshape(lam_adj, [-1, 1]), targets.dtype)
    return mixed, lam_y * targets + (1.0 - lam_y) * tf.gather(targets, perm)
