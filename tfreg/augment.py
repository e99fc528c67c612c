"""tfreg's batch and image augmentations for your own Keras training (public API; docs/library.md).

Seeded functions with explicit arguments, for `tf.data` or a custom train step (the same seed
gives the same result; a seed is an int or a shape-[2] integer tensor):
- `mixup`, `cutmix`, `mix` (either at random per batch, timm's switch) on a batch of images and
  labels: integer labels (with `num_classes`) or one-hot / soft targets; they return soft targets
  for a loss such as `tfreg.losses.LabelSmoothingCrossEntropy`.
- `cutout`, `random_erasing` on one [H, W, C] image or a [B, H, W, C] batch (each image its own
  draw).
and the same as Keras layers (`MixUp`, `CutMix`, `Cutout`, `RandomErasing`), each with its own
`keras.random.SeedGenerator`, active only when called with training=True: in a train step, in
`tf.data.Dataset.map(lambda x, y: layer((x, y), training=True))`, or (cutout, erasing) as the
first layers of a model. The mixing layers take and return an (images, labels) pair.

Images are float; tfreg's own pipeline keeps raw [0, 255] values (random erasing's random fill
draws in `value_range`). The implementations, with their papers, live one technique per module
in tfreg.regularizers (mixup, cutmix, mixing, cutout, random_erasing).
"""

import keras
import tensorflow as tf

from tfreg.regularizers import cutout as cutout_lib
from tfreg.regularizers import mixing
from tfreg.regularizers import random_erasing as erasing_lib

__all__ = [
    "CutMix",
    "Cutout",
    "MixUp",
    "RandomErasing",
    "cutmix",
    "cutout",
    "mix",
    "mixup",
    "random_erasing",
]


def _seed(seed):
    seed = tf.convert_to_tensor(seed)
    if seed.shape.rank == 0:
        seed = tf.stack([seed, tf.zeros_like(seed)])
    return tf.cast(seed, tf.int64)


def _targets(labels, num_classes):
    labels = tf.convert_to_tensor(labels)
    if labels.dtype.is_floating and labels.shape.rank == 2 and labels.shape[-1] != 1:
        return labels
    if num_classes is None:
        raise ValueError("integer labels need num_classes (or pass one-hot / soft targets), "
                         f"received labels of shape {labels.shape} and num_classes=None")
    return tf.one_hot(tf.cast(tf.reshape(labels, [-1]), tf.int32), num_classes)


def mix(images, labels, seed, mixup_alpha=0.0, cutmix_alpha=0.0, prob=1.0, per_example=False,
        num_classes=None):
    """Mixup or CutMix on a batch; with both alphas > 0, one of them per batch at random.

    Args:
        images: [B, H, W, C] float images.
        labels: [B] (or [B, 1]) integer labels, or [B, C] one-hot / soft targets.
        seed: an int or a shape-[2] integer tensor.
        mixup_alpha: mixup's lam ~ Beta(alpha, alpha); 0 disables mixup.
        cutmix_alpha: CutMix's lam ~ Beta(alpha, alpha); 0 disables CutMix.
        prob: probability that the batch (per_example: each example) is mixed.
        per_example: one lam (and CutMix box) per example; False (default) draws one for the
            batch, as the authors' code and timm.
        num_classes: C, required with integer labels.

    Returns:
        (mixed images, [B, C] soft targets).
    """
    return mixing.mix(tf.convert_to_tensor(images), _targets(labels, num_classes), _seed(seed),
                      mixup_alpha, cutmix_alpha, prob, per_example)


def mixup(images, labels, alpha, seed, prob=1.0, per_example=False, num_classes=None):
    """Mixup (Zhang et al. 2018): x = lam x_i + (1 - lam) x_j, y likewise, j a permutation.

    Args:
        images: [B, H, W, C] float images.
        labels: [B] integer labels, or [B, C] one-hot / soft targets.
        alpha: lam ~ Beta(alpha, alpha), > 0.
        seed: an int or a shape-[2] integer tensor.
        prob: probability that the batch (per_example: each example) is mixed.
        per_example: one lam per example instead of one for the batch.
        num_classes: C, required with integer labels.

    Returns:
        (mixed images, [B, C] soft targets).
    """
    return mix(images, labels, seed, mixup_alpha=alpha, prob=prob, per_example=per_example,
               num_classes=num_classes)


def cutmix(images, labels, alpha, seed, prob=1.0, per_example=False, num_classes=None):
    """CutMix (Yun et al. 2019): a box of x_j pasted into x_i, labels weighted by area.

    Args:
        images: [B, H, W, C] images.
        labels: [B] integer labels, or [B, C] one-hot / soft targets.
        alpha: lam ~ Beta(alpha, alpha), > 0; the box covers about 1 - lam of the image.
        seed: an int or a shape-[2] integer tensor.
        prob: probability that the batch (per_example: each example) is mixed.
        per_example: one lam and box per example instead of one for the batch.
        num_classes: C, required with integer labels.

    Returns:
        (mixed images, [B, C] soft targets).
    """
    return mix(images, labels, seed, cutmix_alpha=alpha, prob=prob, per_example=per_example,
               num_classes=num_classes)


def _per_image(fn, images, seed):
    """fn(image, seed) on one [H, W, C] image, or on each image of a batch with its own seed."""
    images, seed = tf.convert_to_tensor(images), _seed(seed)
    if images.shape.rank == 3:
        return fn(images, seed)
    seeds = tf.random.experimental.stateless_split(seed, num=tf.shape(images)[0])
    return tf.map_fn(lambda a: fn(a[0], a[1]), (images, seeds), fn_output_signature=images.dtype)


def cutout(images, size, seed, prob=1.0, fill=0.0):
    """Cutout (DeVries & Taylor 2017): a size x size square, centre uniform over the image and
    clipped at the border, set to `fill`.

    Args:
        images: one [H, W, C] image or a [B, H, W, C] batch.
        size: the square's side in pixels.
        seed: an int or a shape-[2] integer tensor.
        prob: probability of cutting each image.
        fill: the cut pixels' value, a scalar or one per channel.

    Returns:
        Images of the input's shape.
    """
    return _per_image(lambda x, s: cutout_lib.cutout(x, size, s, prob, fill), images, seed)


def random_erasing(images, seed, prob=0.5, area_range=(0.02, 0.4), aspect_range=(0.3, 1 / 0.3),
                   fill="random", mean=None, value_range=(0.0, 255.0)):
    """Random erasing (Zhong et al. 2020): one rectangle of random area and aspect ratio, erased
    with probability `prob`.

    Args:
        images: one [H, W, C] float image or a [B, H, W, C] batch.
        seed: an int or a shape-[2] integer tensor.
        prob: probability of erasing each image (the paper's p = 0.5).
        area_range: (s_l, s_h), the erased area as a fraction of the image.
        aspect_range: (r_1, r_2), the rectangle's aspect ratio.
        fill: "random" (uniform in value_range, the paper's), "zero", or "mean".
        mean: per-channel values of fill="mean".
        value_range: (low, high) of the images, for the random fill.

    Returns:
        Images of the input's shape.
    """
    return _per_image(lambda x, s: erasing_lib.random_erasing(
        x, s, prob, area_range, aspect_range, fill, mean, value_range), images, seed)


class _Augmentation(keras.layers.Layer):
    """A seeded augmentation that acts only when called with training=True."""

    def __init__(self, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=False):
        if not training:
            return inputs
        return self.augment(inputs, tf.cast(self.seed_generator.next(), tf.int64))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}


def _check_alpha(layer, alpha):
    if not alpha > 0:
        raise ValueError(f"{layer} alpha must be > 0, received alpha={alpha}")


def _check_prob(layer, prob):
    if not 0 <= prob <= 1:
        raise ValueError(f"{layer} prob must be in [0, 1], received prob={prob}")


class _Mixing(_Augmentation):
    function = None  # mixup or cutmix

    def __init__(self, alpha, prob=1.0, per_example=False, num_classes=None, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        _check_alpha(type(self).__name__, alpha)
        _check_prob(type(self).__name__, prob)
        self.alpha, self.prob, self.per_example = alpha, prob, per_example
        self.num_classes = num_classes

    def augment(self, inputs, seed):
        images, labels = inputs
        return type(self).function(images, labels, self.alpha, seed, self.prob, self.per_example,
                                   self.num_classes)

    def get_config(self):
        return {**super().get_config(), "alpha": self.alpha, "prob": self.prob,
                "per_example": self.per_example, "num_classes": self.num_classes}


_MIXING_DOC = """`{function}` as a layer on an (images, labels) pair; identity unless training=True.

    Args:
        alpha: lam ~ Beta(alpha, alpha), > 0.
        prob: probability that the batch (per_example: each example) is mixed.
        per_example: one lam{box} per example instead of one for the batch.
        num_classes: C, required with integer labels.
        seed: integer seed of the layer's `keras.random.SeedGenerator`, or None.
        **kwargs: `keras.layers.Layer` arguments.

    Call arguments:
        inputs: (images [B, H, W, C], labels [B] or [B, C]).
        training: True mixes, returning (images, [B, C] soft targets); False returns inputs.
    """


@keras.saving.register_keras_serializable(package="tfreg")
class MixUp(_Mixing):
    __doc__ = _MIXING_DOC.format(function="mixup", box="")
    function = staticmethod(mixup)


@keras.saving.register_keras_serializable(package="tfreg")
class CutMix(_Mixing):
    __doc__ = _MIXING_DOC.format(function="cutmix", box=" and box")
    function = staticmethod(cutmix)


@keras.saving.register_keras_serializable(package="tfreg")
class Cutout(_Augmentation):
    """`cutout` as a layer on a batch of images; identity unless training=True.

    Args:
        size: the square's side in pixels, > 0.
        prob: probability of cutting each image.
        fill: the cut pixels' value.
        seed: integer seed of the layer's `keras.random.SeedGenerator`, or None.
        **kwargs: `keras.layers.Layer` arguments.

    Call arguments:
        inputs: [B, H, W, C] images.
        training: True cuts; False (default) returns the images.
    """

    def __init__(self, size, prob=1.0, fill=0.0, seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        if not size > 0:
            raise ValueError(f"Cutout size must be > 0, received size={size}")
        _check_prob("Cutout", prob)
        self.size, self.prob, self.fill = size, prob, fill

    def augment(self, images, seed):
        return cutout(images, self.size, seed, self.prob, self.fill)

    def get_config(self):
        return {**super().get_config(), "size": self.size, "prob": self.prob, "fill": self.fill}


@keras.saving.register_keras_serializable(package="tfreg")
class RandomErasing(_Augmentation):
    """`random_erasing` as a layer on a batch of images; identity unless training=True.

    Args:
        prob: probability of erasing each image.
        area_range: (s_l, s_h), the erased area as a fraction of the image.
        aspect_range: (r_1, r_2), the rectangle's aspect ratio.
        fill: "random", "zero", or "mean".
        mean: per-channel values of fill="mean".
        value_range: (low, high) of the images, for the random fill.
        seed: integer seed of the layer's `keras.random.SeedGenerator`, or None.
        **kwargs: `keras.layers.Layer` arguments.

    Call arguments:
        inputs: [B, H, W, C] float images.
        training: True erases; False (default) returns the images.
    """

    def __init__(self, prob=0.5, area_range=(0.02, 0.4), aspect_range=(0.3, 1 / 0.3),
                 fill="random", mean=None, value_range=(0.0, 255.0), seed=None, **kwargs):
        super().__init__(seed=seed, **kwargs)
        _check_prob("RandomErasing", prob)
        if fill not in ("random", "zero", "mean") or (fill == "mean" and mean is None):
            raise ValueError("RandomErasing fill must be 'random', 'zero' or 'mean' (with mean), "
                             f"received fill={fill!r}, mean={mean!r}")
        self.prob, self.fill, self.mean = prob, fill, mean
        self.area_range, self.aspect_range = tuple(area_range), tuple(aspect_range)
        self.value_range = tuple(value_range)

    def augment(self, images, seed):
        return random_erasing(images, seed, self.prob, self.area_range, self.aspect_range,
                              self.fill, self.mean, self.value_range)

    def get_config(self):
        return {**super().get_config(), "prob": self.prob, "area_range": self.area_range,
                "aspect_range": self.aspect_range, "fill": self.fill, "mean": self.mean,
                "value_range": self.value_range}
