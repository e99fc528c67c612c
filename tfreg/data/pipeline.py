"""tf.data pipelines: the per-example augmentation chain and the batched datasets.

The training stream depends only on (seed, epoch): epoch e visits a permutation drawn from
(seed, e) and example i of it is augmented with a seed folded from (seed, e, i). Keras `fit` with
`steps_per_epoch` keeps one iterator across epochs, so one dataset spans every epoch.

Every dataset here runs with tf.data's autotuning off (`without_autotune`). Its background
optimiser wakes 10 ms, 30 ms, 70 ms, ... 10 ms x (2^k - 1) after an iterator is made (the period
doubles up to 60 s), and in TensorFlow 2.21 dropping an iterator while the process computes waits
for the next of those wake-ups: the quickstart network's 3.4-3.6 s test pass took 5.12 s in 5 of
10 calls (`python -m benchmarks.iterator_stall`). Without it the maps run on as many threads as
tf.data's thread pool has (the cores) and prefetch buffers grow on demand; the batches, their
order and the augmentation seeds are the same (deterministic maps).
"""

import numpy as np
import tensorflow as tf

from tfreg import config
from tfreg.data import augment, auto_augment
from tfreg.regularizers import cutout, mixing, random_erasing, registry

AUTOTUNE = tf.data.AUTOTUNE


def without_autotune(ds):
    """ds with tf.data's autotuning off (the module docstring says why)."""
    options = tf.data.Options()
    options.autotune.enabled = False
    return ds.with_options(options)


def cutout_fill(a, mean_colour):
    return mean_colour.astype(np.float32) if a.cutout_fill == "mean" else 0.0


# The registry's data regularizers that act on whole batches, after batching (train_dataset); each
# other one is a per-example step that per_example_steps builds
PER_BATCH = ("cutout_extra_per_batch", "mixup", "cutmix")


def per_example_steps(a, mean_colour):
    """[(name, step(image, seed) -> image)] of the active per-example augmentations, in the order
    they are applied: tfreg.regularizers.registry's order (geometry first, erasing last), which
    is also the order --dry_run lists them in."""
    fill = cutout_fill(a, mean_colour)
    erase_mean = mean_colour.astype(np.float32)
    # name -> a function that builds the step (the Keras layers behind randaugment and augmix are
    # built only when on)
    build = {
        "affine": lambda: lambda x, s: augment.affine(
            x, a.rotation_degrees, a.shear_degrees, a.zoom_fraction, a.translate_fraction, s),
        "pad_crop": lambda: lambda x, s: augment.pad_crop(x, a.pad_crop_pixels, s),
        "flip": lambda: lambda x, s: augment.flip(x, a.flip, s),
        "randaugment": lambda: auto_augment.rand_augment_step(a.randaugment_magnitude,
                                                              a.randaugment_ops),
        "augmix": lambda: auto_augment.augmix_step(a.augmix_severity),
        "color_jitter": lambda: lambda x, s: augment.color_jitter(x, a.color_jitter, s),
        "pixel_noise": lambda: lambda x, s: augment.pixel_noise(x, a.noise_std, s),
        "cutout": lambda: lambda x, s: cutout.cutout(x, a.cutout_pixels, s, a.cutout_prob, fill),
        "random_erasing": lambda: lambda x, s: random_erasing.random_erasing(
            x, s, a.random_erasing_prob, (a.random_erasing_area_min, a.random_erasing_area_max),
            (a.random_erasing_aspect_min, a.random_erasing_aspect_max), a.random_erasing_fill,
            erase_mean),
    }
    names = [n for n in registry.active(config.Config(augment=a), "data") if n not in PER_BATCH]
    return [(name, build[name]()) for name in names]


def active_augmentations(a):
    """[(name, parameters)] of every per-example, per-batch and batch-mixing augmentation on."""
    cfg = config.Config(augment=a)
    return [(name, registry.BY_NAME[name].describe(cfg)) for name in registry.active(cfg, "data")]


def augment_fn(a, mean_colour):
    """The per-example chain (image, seed) -> image, or None when every augmentation is off."""
    steps = [step for _, step in per_example_steps(a, mean_colour)]
    if not steps:
        return None

    def chain(image, seed):
        for step, s in zip(steps, augment.split_seed(seed, len(steps))):
            image = step(image, s)
        return image

    return chain


def example_seed(seed, epoch, index):
    base = tf.random.experimental.stateless_fold_in(tf.constant([seed, 0x7F4A], tf.int64), epoch)
    return tf.random.experimental.stateless_fold_in(base, index)


def mix_seed(seed, epoch, batch):
    """The batch-mixing seed of batch `batch` of `epoch`: independent of the replica count and of
    where the run resumed, and apart from the per-example streams (a fold of its own)."""
    return tf.random.experimental.stateless_fold_in(example_seed(seed, epoch, batch), 0x6D6978)


def train_dataset(splits_, a, batch_size, seed, start_epoch, epochs, requested_steps):
    """Augmented training batches for epochs [start_epoch, epochs): (images, int labels), or
    (images, [B, classes] soft targets) when mixup or CutMix is on.

    requested_steps 0: one pass per epoch, the last batch partial; else exactly that many full
    batches per epoch, drawing further permutations when an epoch needs more than one pass.
    Batch mixing happens here, on the host, over the global batch: one lambda (or one per
    example) and one partner permutation per global batch whatever the replica count, and the
    Gamma draws behind lambda, which have no XLA kernel, stay out of the compiled step.
    """
    x = tf.constant(splits_.x_train)
    y = tf.constant(splits_.y_train)
    n = len(splits_.y_train)
    per_epoch = requested_steps * batch_size if requested_steps else n
    passes = -(-per_epoch // n)
    chain = augment_fn(a, splits_.mean_colour)
    fill = cutout_fill(a, splits_.mean_colour)

    def epoch_dataset(epoch):
        def one_pass(k):
            pass_seed = tf.random.experimental.stateless_fold_in(
                tf.stack([tf.constant(seed, tf.int64), epoch]), k)
            return tf.data.Dataset.from_tensor_slices(
                tf.random.experimental.stateless_shuffle(tf.range(n, dtype=tf.int64), pass_seed))

        order = tf.data.Dataset.range(passes).flat_map(one_pass).take(per_epoch)

        def load(position, index):
            image = tf.cast(tf.gather(x, index), tf.float32)
            if chain is not None:
                image = chain(image, example_seed(seed, epoch, position))
            return image, tf.gather(y, index)

        ds = order.enumerate().map(load, num_parallel_calls=AUTOTUNE, deterministic=True)
        ds = ds.batch(batch_size)
        if a.cutout_extra_per_batch:
            ds = ds.enumerate().map(
                lambda b, xy: cutout.append_cutout_copies(
                    xy[0], xy[1], a.cutout_extra_per_batch, a.cutout_pixels,
                    example_seed(seed + 1, epoch, b), fill),
                num_parallel_calls=AUTOTUNE, deterministic=True)
        if mixing.is_active(a):
            classes = splits_.num_classes
            ds = ds.enumerate().map(
                lambda b, xy: mixing.mix_batch(
                    xy[0], tf.one_hot(tf.cast(tf.reshape(xy[1], [-1]), tf.int32), classes), a,
                    mix_seed(seed, epoch, b)),
                num_parallel_calls=AUTOTUNE, deterministic=True)
        return ds

    ds = tf.data.Dataset.range(start_epoch, epochs).flat_map(epoch_dataset)
    return without_autotune(ds.prefetch(AUTOTUNE))


def eval_dataset(x, y, batch_size):
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(batch_size)
    ds = ds.map(lambda a, b: (tf.cast(a, tf.float32), b), num_parallel_calls=AUTOTUNE)
    return without_autotune(ds.prefetch(AUTOTUNE))
