"""Automatic augmentation: RandAugment (Cubuk et al. 2020, arXiv:1909.13719) and AugMix (Hendrycks
et al. 2020, arXiv:1912.02781), on Keras core's `keras.layers.RandAugment` / `keras.layers.AugMix`.

Site: tf.data, per example, before batching, after pad-crop and flip (--randaugment_magnitude,
--randaugment_ops, --augmix_severity). Images are raw float32 HWC in [0, 255] (value_range (0, 255)).

What the strength means (Keras 3.15's `factor`, which both flags pass unchanged): every op draws its
strength uniformly from [0, m] of its full range, in one direction: rotation by 0..360 m degrees,
shear 0..m, translation 0..m of the size, brightness +0..255 m, contrast factor 1..1+m, colour
degeneration 0..m of the way to grey. Sharpness blends towards a blur by 1-2u (u in [0, m]), so at
m = 0 it blurs fully; posterize keeps 1..max(1, int(8 m))-1 bits; solarize inverts pixels above a
threshold drawn in [0, 255 m] (the whole image at m = 0); auto-contrast and equalize have no
strength. Posterize and solarize are thus strongest at small m, as in the TPU reference code.
RandAugment applies `num_ops` ops drawn uniformly with replacement from 11; AugMix mixes 3 chains of
up to 3 ops (each slot one of 11 ops or none) with Dirichlet(1) weights, then mixes the result with
the image by m ~ Beta(1, 1) (Keras defaults, the paper's).

Why not call the layers: `RandAugment.get_random_transformation` ignores its `seed` argument and
draws from the layer's own stateful SeedGenerator, and `AugMix` picks its ops with Python's
`random` when traced, so inside `tf.data.Dataset.map` every image would get the same ops (the class
of keras-team/keras#21169). Here the layers' own op layers and factors do the work, while the op
choice and every draw come from `StatelessSeeds(seed)`: the stream depends only on the example seed
(seed, epoch, index), so a resumed run draws the same images, and only the chosen op is computed.

Grey images (Fashion-MNIST) are tiled to 3 channels for the colour ops and averaged back.
Cost: each op slot is a tf.switch_case over the 11 ops; on the loaded 2-core CPU the tf.data
throughput was about 900 images/s for RandAugment (2 ops) and 90-130 for AugMix (9 slots).
"""

import keras
import tensorflow as tf


class StatelessSeeds(keras.random.SeedGenerator):
    """A SeedGenerator without state: draw k returns stateless_fold_in(seed, k).

    Keras random functions accept only an int or a SeedGenerator as `seed`; this one turns a [2]
    seed tensor into distinct, reproducible seeds, one per draw in tracing order.
    """

    def __init__(self, seed):  # no super().__init__: it would create a state variable
        self._base = tf.cast(seed, tf.int64)
        self._count = 0

    def next(self, ordered=True):
        self._count += 1
        return tf.random.experimental.stateless_fold_in(self._base, self._count)


def rand_augment_layer(magnitude, num_ops):
    return keras.layers.RandAugment(value_range=(0, 255), num_ops=num_ops, factor=magnitude)


def augmix_layer(severity, num_chains=3, chain_depth=3):
    return keras.layers.AugMix(value_range=(0, 255), num_chains=num_chains,
                               chain_depth=chain_depth, factor=severity)


def _apply_op(layer, name, images, seed):
    op = getattr(layer, name)
    transformation = op.get_random_transformation(images, training=True, seed=StatelessSeeds(seed))
    return tf.cast(op.transform_images(images, transformation, training=True), tf.float32)


def _choose(index, images, branches):
    """branches[index](images): only the chosen op runs."""
    return tf.switch_case(index, [lambda b=b: b(images) for b in branches])


def _rgb(step):
    """Runs step(images[1, H, W, 3], seeds) on an HWC image with 1 or 3 channels."""
    def run(image, seed):
        channels = image.shape[-1]
        x = tf.tile(image[None], [1, 1, 1, 3]) if channels == 1 else image[None]
        x = step(x, StatelessSeeds(seed))
        x = tf.reduce_mean(x, -1, keepdims=True) if channels == 1 else x
        return tf.ensure_shape(x[0], image.shape)
    return run


def rand_augment_step(magnitude, num_ops):
    """(image, seed) -> image: `num_ops` ops of keras.layers.RandAugment(factor=magnitude)."""
    layer = rand_augment_layer(magnitude, num_ops)
    names = list(layer._AUGMENT_LAYERS)

    def step(x, seeds):
        picks = tf.random.stateless_uniform([num_ops], seeds.next(), 0, len(names), tf.int32)
        for i in range(num_ops):
            s = seeds.next()
            x = _choose(picks[i], x, [lambda y, n=n: _apply_op(layer, n, y, s) for n in names])
        return x

    return _rgb(step)


def augmix_step(severity, num_chains=3, chain_depth=3):
    """(image, seed) -> image: keras.layers.AugMix(factor=severity) with per-example op choice."""
    layer = augmix_layer(severity, num_chains, chain_depth)
    names = list(layer._augment_layers)

    def step(x, seeds):
        weights = layer._sample_from_dirichlet([layer.num_chains], layer.alpha, seeds)
        m = layer.backend.random.beta((), layer.alpha, layer.alpha, seed=seeds)
        picks = tf.random.stateless_uniform([num_chains, chain_depth], seeds.next(), 0,
                                            len(names) + 1, tf.int32)
        mixed = tf.zeros_like(x)
        for c in range(num_chains):
            y = x
            for d in range(chain_depth):
                s = seeds.next()
                ops = [lambda z: z] + [lambda z, n=n: _apply_op(layer, n, z, s) for n in names]
                y = _choose(picks[c, d], y, ops)
            mixed += weights[c] * y
        return tf.clip_by_value(m * x + (1 - m) * mixed, 0.0, 255.0)

    return _rgb(step)
