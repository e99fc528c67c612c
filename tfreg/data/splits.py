"""Seeded validation splits and class-balanced training subsets (numpy, no global RNG)."""

import numpy as np

from tfreg.errors import UsageError


def validation_split(y, fraction, mode, seed):
    """(train_idx, val_idx). `fraction` of the examples go to validation.

    random: the first round(fraction * n) entries of a seeded permutation (like torch random_split,
    e.g. 0.2 of 50,000 gives 40,000 / 10,000); stratified: the same fraction of every class.
    """
    n = len(y)
    if fraction <= 0:
        return np.arange(n), np.arange(0)
    rng = np.random.default_rng(seed)
    if mode == "random":
        perm = rng.permutation(n)
        n_val = int(round(fraction * n))
        return np.sort(perm[n_val:]), np.sort(perm[:n_val])
    val = []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        idx = idx[rng.permutation(len(idx))]
        val.append(idx[: int(round(fraction * len(idx)))])
    val = np.sort(np.concatenate(val))
    return np.setdiff1d(np.arange(n), val), val


def balanced_subset(y, count, seed, num_classes):
    """Indices of `count` examples with equal counts per class (the first count % C classes +1)."""
    if count <= 0 or count >= len(y):
        return np.arange(len(y))
    rng = np.random.default_rng(seed + 1)
    per_class = np.full(num_classes, count // num_classes)
    per_class[: count % num_classes] += 1
    chosen = []
    for c in range(num_classes):
        idx = np.flatnonzero(y == c)
        if len(idx) < per_class[c]:
            raise UsageError(f"--train_examples={count} needs {per_class[c]} examples of class {c}, "
                             f"the training split has {len(idx)}; lower --train_examples")
        chosen.append(idx[rng.permutation(len(idx))[: per_class[c]]])
    return np.sort(np.concatenate(chosen))


def class_proportions(y, num_classes):
    counts = np.bincount(y, minlength=num_classes)
    return [round(float(c) / max(len(y), 1), 6) for c in counts]
