"""Per-example augmentation and batch mixing: statistics, exactness, and the same result eagerly,
inside tf.data.Dataset.map, and for the same seed."""

import numpy as np
import pytest
import tensorflow as tf

from tfreg.flags import make_config
from tfreg.data import augment, pipeline
from tfreg.data.views import tta_views
from tfreg.regularizers import cutmix, cutout, mixing, mixup, random_erasing

IMG = tf.reshape(tf.range(8 * 8 * 3, dtype=tf.float32), (8, 8, 3))


def seeds(n, base=0):
    return [tf.constant([base, i], tf.int64) for i in range(n)]


def eager_and_mapped(fn, image, n=16):
    """fn(image, seed) for n seeds eagerly and inside Dataset.map; both lists of arrays."""
    eager = [fn(image, s).numpy() for s in seeds(n)]
    ds = tf.data.Dataset.from_tensor_slices(tf.stack(seeds(n))).map(lambda s: fn(image, s))
    return eager, [x.numpy() for x in ds]


@pytest.mark.parametrize("fn", [
    lambda x, s: augment.pad_crop(x, 2, s),
    lambda x, s: augment.flip(x, "both", s),
    lambda x, s: augment.color_jitter(x, 0.4, s),
    lambda x, s: augment.affine(x, 15, 10, 0.1, 0.1, s),
    lambda x, s: augment.pixel_noise(x, 0.05, s),
    lambda x, s: cutout.cutout(x, 4, s),
    lambda x, s: random_erasing.random_erasing(x, s, 1.0),
])
def test_same_seed_same_image_eager_and_in_dataset_map(fn):
    eager, mapped = eager_and_mapped(fn, IMG)
    for a, b in zip(eager, mapped):
        np.testing.assert_allclose(a, b, atol=1e-4)
    np.testing.assert_array_equal(fn(IMG, seeds(1)[0]).numpy(), eager[0])
    assert any(not np.array_equal(eager[0], e) for e in eager[1:])


def test_pad_crop_windows_cover_every_offset():
    offsets = set()
    padded = np.pad(IMG.numpy(), ((2, 2), (2, 2), (0, 0)))
    for s in seeds(400):
        out = augment.pad_crop(IMG, 2, s).numpy()
        found = [(dy, dx) for dy in range(5) for dx in range(5)
                 if np.array_equal(padded[dy:dy + 8, dx:dx + 8], out)]
        assert len(found) == 1
        offsets.add(found[0])
    assert len(offsets) == 25


def test_flips_invert_and_happen_half_the_time():
    outs = [augment.flip(IMG, "horizontal", s).numpy() for s in seeds(400)]
    mirrored = [np.array_equal(o, IMG.numpy()[:, ::-1]) for o in outs]
    assert all(m or np.array_equal(o, IMG.numpy()) for m, o in zip(mirrored, outs))
    assert 0.4 < np.mean(mirrored) < 0.6
    vertical = augment.flip(augment.flip(IMG, "vertical", seeds(1)[0]), "vertical", seeds(1)[0])
    np.testing.assert_array_equal(vertical.numpy(), IMG.numpy())


def test_cutout_is_exactly_size_squared_inside_and_clipped_at_borders():
    ones = tf.ones((32, 32, 1))
    inside = 0
    for s in seeds(600):
        mask = cutout.cutout_mask(32, 32, 12, s).numpy()[..., 0]
        rows, cols = np.nonzero(mask)
        h, w = rows.max() - rows.min() + 1, cols.max() - cols.min() + 1
        assert mask.sum() == h * w  # one rectangle
        if (h, w) == (12, 12):
            inside += 1
        else:  # clipped: the square was cut by the border
            assert h < 12 or w < 12
            assert rows.min() == 0 or cols.min() == 0 or rows.max() == 31 or cols.max() == 31
        mask_seed = tf.random.experimental.stateless_split(s, 2)[0]
        out = cutout.cutout(ones, 12, s).numpy()[..., 0]
        np.testing.assert_array_equal(out == 0, cutout.cutout_mask(32, 32, 12, mask_seed).numpy()[..., 0])
    # centre uniform over all 32 x 32 pixels: unclipped iff top-left in [6, 26] on both axes
    assert abs(inside / 600 - (21 / 32) ** 2) < 0.06


def test_cutout_extra_copies_are_appended_with_labels():
    images = tf.ones((6, 16, 16, 3))
    labels = tf.range(6)
    out, out_labels = cutout.append_cutout_copies(images, labels, 2, 4, tf.constant([1, 2], tf.int64))
    assert out.shape == (8, 16, 16, 3)
    np.testing.assert_array_equal(out_labels.numpy(), [0, 1, 2, 3, 4, 5, 0, 1])
    assert np.all(out[:6].numpy() == 1) and np.all((out[6:].numpy() == 0).sum((1, 2, 3)) > 0)


def test_random_erasing_area_and_aspect_stay_in_range():
    image = tf.ones((32, 32, 3)) * 7
    areas, aspects = [], []
    for s in seeds(500):
        out = random_erasing.random_erasing(image, s, 1.0, fill="zero").numpy()
        erased = out[..., 0] == 0
        rows, cols = np.nonzero(erased)
        h, w = rows.max() - rows.min() + 1, cols.max() - cols.min() + 1
        assert erased.sum() == h * w  # one rectangle
        areas.append(h * w / 1024)
        aspects.append(h / w)
    # rounding H_e and W_e to pixels moves the area by at most (H_e + W_e + 1) / 2 pixels
    assert min(areas) >= 0.02 - 0.01 and max(areas) <= 0.4 + 0.03
    assert min(aspects) >= 0.3 * 0.7 and max(aspects) <= 3.34 / 0.7
    assert np.mean(areas) == pytest.approx(0.21, abs=0.02)  # uniform on [0.02, 0.4]


def test_random_erasing_probability_and_fills():
    image = tf.ones((16, 16, 3)) * 7
    applied = [not np.all(random_erasing.random_erasing(image, s, 0.5, fill="zero").numpy() == 7)
               for s in seeds(400)]
    assert 0.43 < np.mean(applied) < 0.57
    mean = np.array([10.0, 20.0, 30.0], np.float32)
    out = random_erasing.random_erasing(image, seeds(1)[0], 1.0, fill="mean", mean=mean).numpy()
    assert set(np.unique(out[..., 2])) == {7.0, 30.0}
    out = random_erasing.random_erasing(image, seeds(1)[0], 1.0, fill="random").numpy()
    assert len(np.unique(out)) > 10 and out.min() >= 0 and out.max() <= 255


def test_affine_identity_and_rotation_by_90_degrees():
    image = tf.random.stateless_uniform((9, 9, 1), [1, 1]) * 255
    identity = augment.affine_matrix(0.0, 0.0, 1.0, 0.0, 0.0, 9, 9)
    np.testing.assert_allclose(identity.numpy(), [1, 0, 0, 0, 1, 0, 0, 0], atol=1e-6)
    matrix = augment.affine_matrix(np.pi / 2, 0.0, 1.0, 0.0, 0.0, 9, 9)
    out = tf.raw_ops.ImageProjectiveTransformV3(
        images=image[None], transforms=matrix[None], output_shape=[9, 9], fill_value=0.0,
        interpolation="NEAREST", fill_mode="CONSTANT")[0]
    assert any(np.allclose(out.numpy(), np.rot90(image.numpy(), k)) for k in (1, 3))


def test_color_jitter_and_noise_stay_in_range():
    image = tf.random.stateless_uniform((16, 16, 3), [2, 2]) * 255
    for s in seeds(20):
        out = augment.color_jitter(image, 0.8, s).numpy()
        assert out.min() >= -1e-3 and out.max() <= 255.001
    noisy = augment.pixel_noise(tf.ones((64, 64, 3)) * 128, 0.02, seeds(1)[0]).numpy()
    assert abs(noisy.std() - 0.02 * 255) < 0.3


def test_augment_chain_is_off_at_defaults_and_lists_active_parts():
    cfg = make_config()
    assert pipeline.augment_fn(cfg.augment, np.zeros(3)) is None
    assert pipeline.active_augmentations(cfg.augment) == []
    cfg = make_config(pad_crop_pixels=4, flip="horizontal", random_erasing_prob=0.5, cutout_pixels=8)
    assert [n for n, _ in pipeline.active_augmentations(cfg.augment)] == [
        "pad_crop", "flip", "cutout", "random_erasing"]


def test_mixup_lambda_follows_beta():
    for alpha in (0.2, 1.0):
        lam = mixup.sample_beta(alpha, [20000], tf.constant([3, 4], tf.int64)).numpy()
        assert abs(lam.mean() - 0.5) < 0.01
        assert abs(lam.var() - 1 / (4 * (2 * alpha + 1))) < 0.01
        assert lam.min() >= 0 and lam.max() <= 1


@pytest.mark.parametrize("mode", ["batch", "example"])
@pytest.mark.parametrize("alphas", [(0.4, 0.0), (0.0, 1.0), (1.0, 1.0)])
def test_mixed_labels_are_convex_combinations_summing_to_one(mode, alphas):
    cfg = make_config(mixup_alpha=alphas[0], cutmix_alpha=alphas[1], mix_lambda=mode).augment
    images = tf.random.stateless_uniform((16, 8, 8, 3), [5, 5])
    targets = tf.one_hot(tf.range(16) % 10, 10)
    for i in range(5):
        x, y = mixing.mix_batch(images, targets, cfg, tf.constant([i, 9], tf.int64))
        np.testing.assert_allclose(y.numpy().sum(-1), 1.0, atol=1e-6)
        assert y.numpy().min() >= 0 and x.shape == images.shape


def test_mixup_mixes_images_and_labels_with_the_same_lambda():
    images = tf.random.stateless_uniform((4, 2, 2, 1), [1, 2])
    targets = tf.one_hot([0, 1, 2, 3], 4)
    lam = tf.constant([0.7, 0.7, 0.7, 0.7])
    perm = tf.constant([1, 0, 3, 2])
    x, y = mixup.mixup(images, targets, lam, perm)
    np.testing.assert_allclose(x[0].numpy(), 0.7 * images[0].numpy() + 0.3 * images[1].numpy(), rtol=1e-6)
    np.testing.assert_allclose(y[0].numpy(), [0.7, 0.3, 0, 0], rtol=1e-6)


def test_cutmix_label_weight_is_the_clipped_box_area():
    images = tf.zeros((64, 16, 16, 1))
    partner = tf.ones((64, 16, 16, 1))
    both = tf.concat([images, partner], 0)
    targets = tf.one_hot(tf.concat([tf.zeros(64, tf.int32), tf.ones(64, tf.int32)], 0), 2)
    perm = tf.concat([tf.range(64, 128), tf.range(64)], 0)
    lam = mixup.sample_beta(1.0, [128], tf.constant([7, 7], tf.int64))
    x, y = cutmix.cutmix(both, targets, lam, perm, tf.constant([8, 8], tf.int64))
    pasted = x[:64].numpy().reshape(64, -1).mean(1)  # fraction of partner pixels
    np.testing.assert_allclose(y[:64, 1].numpy(), pasted, atol=1e-6)
    assert np.any(pasted > 0)


def test_tta_views():
    batch = tf.random.stateless_uniform((2, 8, 8, 3), [1, 1])
    assert len(tta_views(batch, "none")) == 1
    flip = tta_views(batch, "flip")
    np.testing.assert_array_equal(flip[1].numpy(), batch.numpy()[:, :, ::-1])
    crops = tta_views(batch, "crops", 2)
    assert len(crops) == 10 and all(v.shape == batch.shape for v in crops)
    np.testing.assert_array_equal(crops[8].numpy(), batch.numpy())  # the centre crop
    np.testing.assert_array_equal(crops[0].numpy()[:, 2:, 2:], batch.numpy()[:, :6, :6])


def test_training_stream_depends_only_on_seed_and_epoch():
    from tfreg.data.prepare import prepare

    cfg = make_config(dataset="synthetic", synthetic_train_examples=50, synthetic_test_examples=10,
                      pad_crop_pixels=2, flip="horizontal")
    data = prepare(cfg)
    full = [x.numpy() for x, _ in pipeline.train_dataset(data, cfg.augment, 16, 0, 0, 3, 0)]
    assert len(full) == 12  # 4 batches per epoch (16, 16, 16, 2), 3 epochs
    resumed = [x.numpy() for x, _ in pipeline.train_dataset(data, cfg.augment, 16, 0, 2, 3, 0)]
    for a, b in zip(full[8:], resumed):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(full[0], full[4])  # a new order and new augmentation each epoch
    fixed = list(pipeline.train_dataset(data, cfg.augment, 16, 0, 0, 1, 7))
    assert len(fixed) == 7 and all(x.shape[0] == 16 for x, _ in fixed)


def test_pipelines_run_without_autotuning_and_give_the_same_batches_as_with_it():
    # Autotuning's optimiser thread delays dropping an iterator (pipeline.py's docstring).
    from tfreg.data.prepare import prepare

    cfg = make_config(dataset="synthetic", synthetic_train_examples=40, synthetic_test_examples=10,
                      pad_crop_pixels=2, flip="horizontal", cutout_pixels=4, cutout_extra_per_batch=2)
    data = prepare(cfg)
    train = pipeline.train_dataset(data, cfg.augment, 16, 0, 0, 2, 0)
    test = pipeline.eval_dataset(data.x_test, data.y_test, 4)
    assert train.options().autotune.enabled is False and test.options().autotune.enabled is False
    on = tf.data.Options()
    on.autotune.enabled = True
    for ds in (train, test):
        for (a, la), (b, lb) in zip(ds, ds.with_options(on), strict=True):
            np.testing.assert_array_equal(a.numpy(), b.numpy())
            np.testing.assert_array_equal(la.numpy(), lb.numpy())


@pytest.mark.parametrize("mode", ["batch", "example"])
def test_cutmix_batch_mode_pastes_one_box_for_the_whole_batch(mode):
    # Image i holds 1000 i + pixel index, so every pasted pixel shows; class i is image i's own.
    n, size = 16, 16
    images = tf.reshape(tf.range(size * size, dtype=tf.float32), (1, size, size, 1)) + \
        1000.0 * tf.reshape(tf.range(n, dtype=tf.float32), (n, 1, 1, 1))
    targets = tf.one_hot(tf.range(n), n)
    cfg = make_config(cutmix_alpha=1.0, mix_lambda=mode).augment
    distinct_boxes = []
    for i in range(6):
        x, y = mixing.mix_batch(images, targets, cfg, tf.constant([i, 4], tf.int64))
        pasted = (x.numpy() != images.numpy())[..., 0]  # [n, H, W]
        moved = [k for k in range(n) if y[k, k] < 1]  # images whose partner is another image
        for k in moved:  # label weight = 1 - pasted area / image area, box = a rectangle
            rows, cols = np.nonzero(pasted[k])
            area = pasted[k].sum()
            np.testing.assert_allclose(y[k, k].numpy(), 1 - area / size ** 2, atol=1e-6)
            assert area == (rows.max() - rows.min() + 1) * (cols.max() - cols.min() + 1)
        boxes = {pasted[k].tobytes() for k in moved}
        if mode == "batch":
            assert len(boxes) <= 1  # the same box in every image, so one label weight
            np.testing.assert_allclose([y[k, k] for k in moved], y[moved[0], moved[0]] if moved else [])
        distinct_boxes.append(len(boxes))
    assert max(distinct_boxes) == 1 if mode == "batch" else max(distinct_boxes) > 4


def test_cutout_extra_copies_join_uncut_batches_with_one_square_each():
    from tfreg.data.prepare import prepare

    k, size, batch = 3, 4, 8
    cfg = make_config(dataset="synthetic", synthetic_train_examples=20, synthetic_test_examples=4,
                      cutout_pixels=size, cutout_extra_per_batch=k)
    assert [name for name, _ in pipeline.per_example_steps(cfg.augment, np.zeros(3))] == []
    data = prepare(cfg)
    sources = {x.astype(np.float32).tobytes() for x in data.x_train}
    batches = list(pipeline.train_dataset(data, cfg.augment, batch, 0, 0, 1, 0))
    assert [len(x) for x, _ in batches] == [batch + k, batch + k, 4 + k]  # 20 = 8 + 8 + 4
    squares = 0
    for x, y in batches:
        x, y = x.numpy(), y.numpy()
        n = len(x) - k
        assert all(image.tobytes() in sources for image in x[:n])  # the batch's images: no square
        np.testing.assert_array_equal(y[n:], y[:k])
        for copy, original in zip(x[n:], x[:k]):
            changed = np.nonzero((copy != original).any(-1))
            top, left = changed[0].min(), changed[1].min()
            bottom, right = changed[0].max() + 1, changed[1].max() + 1
            box = np.zeros(copy.shape[:2], bool)
            box[top:bottom, left:right] = True
            assert np.all(copy[box] == 0)  # one zero-filled rectangle, within one square's size
            np.testing.assert_array_equal(copy[~box], original[~box])
            assert bottom - top <= size and right - left <= size
            squares += (bottom - top, right - left) == (size, size)
    assert squares > 0  # unclipped squares are exactly size x size


def test_cutout_prob_with_extra_copies_is_refused():
    from tfreg.config import UsageError

    with pytest.raises(UsageError, match="--cutout_prob"):
        make_config(cutout_pixels=4, cutout_extra_per_batch=2, cutout_prob=0.5)


@pytest.mark.parametrize("alphas", [dict(mixup_alpha=0.4), dict(mixup_alpha=0.4, cutmix_alpha=1.0)])
def test_batch_mixing_happens_in_the_pipeline_on_the_global_batch(alphas):
    """Mixup and CutMix mix each batch in tf.data (issue 26, items 1 and 9): batch b of epoch e is
    mix_batch of the unmixed batch with the seed mix_seed(seed, e, b), so the draws depend on
    neither the replica count nor XLA (the Gamma draws have no XLA kernel), and a resumed epoch
    mixes as before."""
    from tfreg.data.prepare import prepare

    base = dict(dataset="synthetic", synthetic_train_examples=48, synthetic_test_examples=10,
                pad_crop_pixels=2)
    plain_cfg, mixed_cfg = make_config(**base), make_config(**base, **alphas)
    data = prepare(plain_cfg)
    plain = list(pipeline.train_dataset(data, plain_cfg.augment, 16, 3, 0, 2, 0))
    mixed = list(pipeline.train_dataset(data, mixed_cfg.augment, 16, 3, 0, 2, 0))
    assert len(plain) == len(mixed) == 6
    for k, ((x, y), (mx, my)) in enumerate(zip(plain, mixed)):
        epoch, b = divmod(k, 3)
        targets = tf.one_hot(tf.cast(y, tf.int32), 10)
        ex, ey = mixing.mix_batch(x, targets, mixed_cfg.augment,
                                  pipeline.mix_seed(3, tf.constant(epoch, tf.int64),
                                                    tf.constant(b, tf.int64)))
        np.testing.assert_array_equal(mx.numpy(), ex.numpy())
        np.testing.assert_allclose(my.numpy(), ey.numpy())
        np.testing.assert_allclose(my.numpy().sum(-1), 1.0, rtol=1e-6)
    assert not all(np.array_equal(a[0].numpy(), b[0].numpy()) for a, b in zip(plain, mixed))
    resumed = list(pipeline.train_dataset(data, mixed_cfg.augment, 16, 3, 1, 2, 0))
    for (a, la), (b, lb) in zip(mixed[3:], resumed, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
        np.testing.assert_array_equal(la.numpy(), lb.numpy())
