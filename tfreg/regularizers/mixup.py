"""Mixup (Zhang et al. 2018, "mixup: Beyond Empirical Risk Minimization", ICLR).

x = lam x_i + (1 - lam) x_j, y = lam y_i + (1 - lam) y_j with lam ~ Beta(alpha, alpha), j a random
permutation of the batch. Site: tf.data, per batch (see tfreg.regularizers.mixing). Flag: --mixup_alpha.
"""

import tensorflow as tf


def sample_beta(alpha, shape, seed):
    """Beta(alpha, alpha) from two stateless Gamma draws."""
    seeds = tf.random.experimental.stateless_split(seed, num=2)
    g1 = tf.random.stateless_gamma(shape, seeds[0], alpha=alpha)
    g2 = tf.random.stateless_gamma(shape, seeds[1], alpha=alpha)
    return g1 / (g1 + g2)


def mixup(images, targets, lam, perm):
    """lam: [B] per-example coefficients (a batch-wide lam repeated B times)."""
    lam_x = tf.cast(tf.reshape(lam, [-1, 1, 1, 1]), images.dtype)
    lam_y = tf.cast(tf.reshape(lam, [-1, 1]), targets.dtype)
    mixed = lam_x * images + (1.0 - lam_x) * tf.gather(images, perm)
    return mixed, lam_y * targets + (1.0 - lam_y) * tf.gather(targets, perm)
