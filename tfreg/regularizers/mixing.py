"""Batch mixing dispatcher: mixup, CutMix or both, per batch or per example, in tf.data on the
host after batching (tfreg.data.pipeline), over the global batch.

With both alphas > 0, each batch uses CutMix or mixup with probability 0.5 (timm's switch). With
--mix_prob < 1, a batch (mix_lambda=batch) or an example (mix_lambda=example) is left unmixed
(lam = 1) with probability 1 - mix_prob. In batch mode CutMix pastes one box, the same for every
image (tfreg.regularizers.cutmix). Flags: --mixup_alpha, --cutmix_alpha, --mix_prob,
--mix_lambda. Public, with explicit arguments: tfreg.augment.
"""

import tensorflow as tf

from tfreg.regularizers.cutmix import cutmix
from tfreg.regularizers.mixup import mixup, sample_beta


def is_active(a):
    return a.mixup_alpha > 0 or a.cutmix_alpha > 0


def sample_lambda(alpha, batch, per_example, mix_prob, seed):
    seeds = tf.random.experimental.stateless_split(seed, num=2)
    shape = [batch] if per_example else [1]
    lam = sample_beta(alpha, shape, seeds[0])
    if mix_prob < 1.0:
        lam = tf.where(tf.random.stateless_uniform(shape, seeds[1]) < mix_prob, lam, 1.0)
    return tf.broadcast_to(lam, [batch])


def mix(images, targets, seed, mixup_alpha=0.0, cutmix_alpha=0.0, prob=1.0, per_example=False):
    """Mixup, CutMix or (both alphas > 0) one of them at random per batch, with a stateless seed.

    Args:
        images: [B, H, W, C] float images.
        targets: [B, C] one-hot or soft targets whose rows sum to 1.
        seed: shape-[2] integer seed; the same seed gives the same batch.
        mixup_alpha: Beta(alpha, alpha) of mixup's lam; 0 disables mixup.
        cutmix_alpha: Beta(alpha, alpha) of CutMix's lam; 0 disables CutMix.
        prob: probability that a batch (or, per_example, an example) is mixed at all.
        per_example: one lam (and box) per example instead of one for the batch.

    Returns:
        (mixed images, mixed targets).
    """
    if not (mixup_alpha > 0 or cutmix_alpha > 0):
        raise ValueError("mixing needs mixup_alpha > 0 or cutmix_alpha > 0, received "
                         f"mixup_alpha={mixup_alpha}, cutmix_alpha={cutmix_alpha}")
    batch = tf.shape(images)[0]
    seeds = tf.random.experimental.stateless_split(seed, num=5)
    perm = tf.argsort(tf.random.stateless_uniform([batch], seeds[0]))

    def do_mixup():
        lam = sample_lambda(mixup_alpha, batch, per_example, prob, seeds[1])
        return mixup(images, targets, lam, perm)

    def do_cutmix():
        lam = sample_lambda(cutmix_alpha, batch, per_example, prob, seeds[2])
        return cutmix(images, targets, lam, perm, seeds[3], per_example)

    if mixup_alpha > 0 and cutmix_alpha > 0:
        return tf.cond(tf.random.stateless_uniform([], seeds[4]) < 0.5, do_cutmix, do_mixup)
    return do_cutmix() if cutmix_alpha > 0 else do_mixup()


def mix_batch(images, targets, a, seed):
    """`mix` with the settings of tfreg's augment config `a` (tfreg.data.pipeline)."""
    return mix(images, targets, seed, a.mixup_alpha, a.cutmix_alpha, a.mix_prob,
               a.mix_lambda == "example")
