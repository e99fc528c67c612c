"""RandAugment / AugMix steps (tfreg/data/auto_augment.py): what the strength means, per-example op
choice inside tf.data, and a stream that depends only on the example seed."""

import numpy as np
import tensorflow as tf

from tfreg.flags import make_config
from tfreg.data import auto_augment, pipeline

GREY = tf.constant(np.random.default_rng(0).uniform(0, 255, (16, 16, 1)).astype(np.float32))


def _outputs(step, image, seeds, salt=7):
    """step(image, [i, salt]) for i in seeds, traced once inside tf.data as in training."""
    ds = tf.data.Dataset.from_tensor_slices(tf.constant(seeds, tf.int64)).map(
        lambda i: step(image, tf.stack([i, tf.constant(salt, tf.int64)])), num_parallel_calls=2)
    return np.stack([x.numpy() for x in ds])


def _unchanged_fraction(outputs, image):
    return float(np.mean([np.allclose(o, image.numpy(), atol=1e-2) for o in outputs]))


def test_randaugment_magnitude_zero_zeroes_the_graded_ops_only():
    # Keras's factor m: shear, translation, rotation, brightness, colour degeneration and contrast
    # draw their strength in [0, m], so at m = 0 they leave the image as it is; sharpness (full blur
    # at 0), posterize, solarize, auto-contrast and equalize still act. One op per image, drawn per
    # example: about 6 of 11 images come out unchanged. An op fixed when tracing gives 0 or 1.
    zero = _unchanged_fraction(_outputs(auto_augment.rand_augment_step(0.0, 1), GREY, range(88)), GREY)
    half = _unchanged_fraction(_outputs(auto_augment.rand_augment_step(0.5, 1), GREY, range(88)), GREY)
    assert 0.3 < zero < 0.8, zero
    # at m = 0.5 only colour degeneration (a no-op on a grey image) leaves it unchanged
    assert half < 0.25 and zero - half > 0.25, (zero, half)


def test_augmix_draws_ops_per_example():
    # one chain of one slot: the slot is none or one of 11 ops; none and the 6 graded ops at
    # severity 0 give back the image whatever the mixing weight (7 of 12); a traced-once op choice
    # (keras.layers.AugMix in tf.data) would give all or nothing.
    out = _outputs(auto_augment.augmix_step(0.0, num_chains=1, chain_depth=1), GREY, range(96))
    assert 0.3 < _unchanged_fraction(out, GREY) < 0.85
    assert out.min() >= 0 and out.max() <= 255


def test_same_seed_same_image_on_grey_and_rgb():
    rgb = tf.constant(np.random.default_rng(1).uniform(0, 255, (16, 16, 3)).astype(np.float32))
    for step in (auto_augment.rand_augment_step(0.3, 2),
                 auto_augment.augmix_step(0.3, num_chains=2, chain_depth=2)):
        for image in (GREY, rgb):
            out = _outputs(step, image, [0, 1, 0, 2, 1])
            assert out.shape == (5,) + tuple(image.shape) and out.dtype == np.float32
            np.testing.assert_array_equal(out[0], out[2])
            np.testing.assert_array_equal(out[1], out[4])
            assert not np.allclose(out[0], out[1]) and not np.allclose(out[0], out[3])


def test_resumed_stream_repeats_the_augmented_images():
    from tfreg.data.prepare import prepare

    # RandAugment here; AugMix draws through the same StatelessSeeds (same-seed test above)
    cfg = make_config(dataset="synthetic", synthetic_train_examples=24, synthetic_test_examples=8,
                      randaugment_magnitude=0.3)
    both = make_config(randaugment_magnitude=0.3, augmix_severity=0.3).augment
    assert [name for name, _ in pipeline.active_augmentations(both)] == ["randaugment", "augmix"]
    data = prepare(cfg)
    full = [x.numpy() for x, _ in pipeline.train_dataset(data, cfg.augment, 8, 0, 0, 2, 0)]
    resumed = [x.numpy() for x, _ in pipeline.train_dataset(data, cfg.augment, 8, 0, 1, 2, 0)]
    assert len(full) == 6 and len(resumed) == 3
    for a, b in zip(full[3:], resumed):
        np.testing.assert_array_equal(a, b)
    assert not np.allclose(full[0], data.x_train[:8])
