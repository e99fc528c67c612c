"""Cutout (DeVries & Taylor 2017, arXiv:1708.04552): mask a fixed square of each training image.

The square's centre is uniform over the whole image and the square is clipped at the border, so a
square that lies inside the image is exactly size x size. Site: tf.data, per example, before
batching (--cutout_pixels, --cutout_prob, --cutout_fill); or, with --cutout_extra_per_batch=k (the
ResNet-50 study's "cutout images per batch"), after batching: k copies of the batch's first images,
each with exactly one square, are appended with their labels to a batch that per-example cutout
has left uncut, so a step trains on batch_size + k images (a last, smaller batch of n < k images
gets n copies). --cutout_prob must then stay 1 (tfreg/flags.py refuses the combination).
"""

import tensorflow as tf


def cutout_mask(height, width, size, seed):
    """Boolean [H, W, 1] mask of the (clipped) square: True where pixels are cut out."""
    u = tf.random.stateless_uniform([2], seed)
    centre = tf.cast(tf.floor(u * [height, width]), tf.int32)  # uniform over every pixel
    top, left = centre[0] - size // 2, centre[1] - size // 2
    rows = tf.range(height)[:, None, None]
    cols = tf.range(width)[None, :, None]
    return (rows >= top) & (rows < top + size) & (cols >= left) & (cols < left + size)


def cutout(image, size, seed, prob=1.0, fill=0.0):
    """Returns `image` with the square set to `fill`, with probability `prob`.

    Args:
        image: [H, W, C] image.
        size: the square's side in pixels.
        seed: shape-[2] integer seed.
        prob: probability of cutting.
        fill: the value of the cut pixels, a scalar or one per channel.
    """
    h, w, _ = image.shape
    seeds = tf.random.experimental.stateless_split(seed, num=2)
    mask = cutout_mask(h, w, size, seeds[0])
    if prob < 1.0:
        mask &= tf.random.stateless_uniform([], seeds[1]) < prob
    return tf.where(mask, tf.cast(fill, image.dtype) * tf.ones_like(image), image)


def append_cutout_copies(images, labels, count, size, seed, fill=0.0):
    """Appends cutout copies, one square each, of the batch's first `count` images (with their
    labels): B images in, B + min(count, B) out."""
    count = tf.minimum(count, tf.shape(images)[0])
    seeds = tf.random.experimental.stateless_split(seed, num=count)
    copies = tf.map_fn(lambda a: cutout(a[0], size, a[1], fill=fill), (images[:count], seeds),
                       fn_output_signature=images.dtype)
    return tf.concat([images, copies], 0), tf.concat([labels, labels[:count]], 0)
