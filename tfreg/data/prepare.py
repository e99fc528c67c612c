"""Load, split, subset and fit normalization statistics: numpy only, no TensorFlow.

`prepare(cfg)` runs before TensorFlow is imported, so a missing or corrupt dataset, and settings
that would make the run meaningless for this dataset (`check_settings`), are reported in one line
before TensorFlow prints anything or the run directory is created.
"""

import dataclasses

import numpy as np

from tfreg import norm_stats
from tfreg.data import datasets, splits
from tfreg.errors import UsageError


@dataclasses.dataclass
class Splits:
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    source: str
    norm_stats: dict
    mean_colour: np.ndarray
    class_names: tuple = ()  # label order; exported with the SavedModel

    @property
    def image_shape(self):
        return tuple(self.x_train.shape[1:])

    def describe(self):
        c = self.num_classes
        return {
            "source": self.source, "image_shape": list(self.image_shape), "num_classes": c,
            "class_names": list(self.class_names),
            "sizes": {"train": len(self.y_train), "val": len(self.y_val), "test": len(self.y_test)},
            "class_proportions": {
                "train": splits.class_proportions(self.y_train, c),
                "val": splits.class_proportions(self.y_val, c) if len(self.y_val) else [],
                "test": splits.class_proportions(self.y_test, c)},
        }


def select_classes(arrays, classes):
    """Only the listed classes, relabelled 0..n-1 in the order listed (--classes; () = all)."""
    if not classes:
        return arrays
    if max(classes) >= arrays.num_classes:
        raise UsageError(f"--classes={','.join(map(str, classes))} names a class beyond the "
                         f"dataset's {arrays.num_classes} (0..{arrays.num_classes - 1})")
    relabel = np.full(arrays.num_classes, -1, np.int64)
    relabel[list(classes)] = np.arange(len(classes))

    def keep(x, y):
        mask = relabel[y] >= 0
        return x[mask], relabel[y[mask]].astype(y.dtype)

    x_train, y_train = keep(arrays.x_train, arrays.y_train)
    x_test, y_test = keep(arrays.x_test, arrays.y_test)
    return dataclasses.replace(arrays, x_train=x_train, y_train=y_train, x_test=x_test,
                               y_test=y_test, num_classes=len(classes))


def check_settings(cfg):
    """UsageError for augmentation sizes that the dataset's image size makes meaningless."""
    a = cfg.augment
    height, width, _ = datasets.IMAGE_SHAPES[cfg.data.dataset]
    side = min(height, width)
    size = f"{cfg.data.dataset}'s {height}x{width} images"
    if a.cutout_pixels >= side:
        raise UsageError(f"--cutout_pixels={a.cutout_pixels} can cover all of {size} (all-black "
                         f"training images); use fewer than {side} (DeVries & Taylor: 16 on CIFAR-10)")
    if a.pad_crop_pixels >= side:
        raise UsageError(f"--pad_crop_pixels={a.pad_crop_pixels} lets a crop of {size} fall wholly in "
                         f"the padding (all-black training images); use fewer than {side} (the "
                         "papers: 4 on 32x32)")
    if cfg.eval.tta == "crops" and cfg.eval.tta_crop_pixels >= side:
        raise UsageError(f"--tta_crop_pixels={cfg.eval.tta_crop_pixels} makes the corner crops of "
                         f"--tta=crops all padding on {size}; use fewer than {side}")
    if a.random_erasing_prob > 0:
        _check_erasing_fits(a, height, width, size)


def _check_erasing_fits(a, height, width, size):
    # random_erasing's candidate rule (tfreg.regularizers.random_erasing) on a grid of its draws
    area = np.linspace(a.random_erasing_area_min, a.random_erasing_area_max, 201)[:, None]
    aspect = np.linspace(a.random_erasing_aspect_min, a.random_erasing_aspect_max, 201)[None, :]
    h = np.round(np.sqrt(area * height * width * aspect))
    w = np.round(np.sqrt(area * height * width / aspect))
    if not np.any((h < height) & (w < width) & (h > 0) & (w > 0)):
        fix = ("raise --random_erasing_area_max" if not np.any((h > 0) & (w > 0)) else
               "lower --random_erasing_area_min or bring the aspect range nearer 1")
        raise UsageError(
            f"random erasing with --random_erasing_area_min/max {a.random_erasing_area_min:g}.."
            f"{a.random_erasing_area_max:g} and aspect {a.random_erasing_aspect_min:g}.."
            f"{a.random_erasing_aspect_max:g} never fits "
            f"in {size} (a rectangle at least 1 pixel and smaller than the image on each side), so "
            f"nothing would be erased; {fix}")


def prepare(cfg):
    """Loads the dataset, splits it, subsets it and fits normalization on the training split."""
    d = cfg.data
    check_settings(cfg)
    loaded = datasets.load(d, seed=cfg.run.seed)
    names = datasets.class_names(d.dataset, loaded.num_classes, d.classes)
    arrays = select_classes(loaded, d.classes)
    for split, y in (("training", arrays.y_train), ("test", arrays.y_test)):
        if not len(y):
            raise UsageError(f"{arrays.source} holds no {split} images; replace the dataset files")
    train_idx, val_idx = splits.validation_split(arrays.y_train, d.val_split, d.split_mode, d.split_seed)
    x_val, y_val = arrays.x_train[val_idx], arrays.y_train[val_idx]
    x_train, y_train = arrays.x_train[train_idx], arrays.y_train[train_idx]
    keep = splits.balanced_subset(y_train, d.train_examples, d.split_seed, arrays.num_classes)
    x_train, y_train = x_train[keep], y_train[keep]
    stats = norm_stats.fit_stats(x_train, d.normalize, d.zca_epsilon)
    mean_colour = x_train.reshape(-1, x_train.shape[-1]).mean(0)
    return Splits(x_train, y_train, x_val, y_val, arrays.x_test, arrays.y_test, arrays.num_classes,
                  arrays.source, stats, mean_colour,
                  names)


def steps_per_epoch(cfg, train_examples):
    """Training steps per epoch: --steps_per_epoch, or one pass over the training split's
    `train_examples` (the last batch partial)."""
    return cfg.train.steps_per_epoch or -(-train_examples // cfg.data.batch_size)
