"""Batch mixing dispatcher: mixup, CutMix or both, per batch or per example, in tf.data on the
host after batching (tfreg.data.pipeline), over the global batch.

With both alphas > 0, each batch uses CutMix or mixup with probability 0.5 (timm's switch). With
--mix_prob < 1, a batch (mix_lambda=batch) or an example (mix_lambda=example) is left unmixed
(lam = 1) with probability 1 - mix_prob. In batch mode CutMix pastes one box, the same for every
image (tfreg.regularizers.cutmix). Flags: --mixup_alpha, --cutmix_alpha, --mix_prob,
--mix_lambda.
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


def mix_batch(images, targets, a, seed):
    """(mixed images, mixed targets); targets are one-hot or soft [B, C] rows summing to 1."""
    batch = tf.shape(images)[0]
    seeds = tf.random.experimental.stateless_split(seed, num=5)
    perm = tf.argsort(tf.random.stateless_uniform([batch], seeds[0]))
    per_example = a.mix_lambda == "example"

    def do_mixup():
        lam = sample_lambda(a.mixup_alpha, batch, per_example, a.mix_prob, seeds[1])
        return mixup(images, targets, lam, perm)

    def do_cutmix():
        lam = sample_lambda(a.cutmix_alpha, batch, per_example, a.mix_prob, seeds[2])
        return cutmix(images, targets, lam, perm, seeds[3], per_example)

    if a.mixup_alpha > 0 and a.cutmix_alpha > 0:
        return tf.cond(tf.random.stateless_uniform([], seeds[4]) < 0.5, do_cutmix, do_mixup)
    return do_cutmix() if a.cutmix_alpha > 0 else do_mixup()
