"""Seeded validation splits and class-balanced training subsets (numpy, no global RNG)."""

import numpy as np

from tfreg.errors import UsageError


def validation_split(y, fraction, mode, seed):
    """(train_idx, val_idx). `fraction` of the examples go to validation.

    random: the first round(fraction * n) entries of a seeded permutation (like torch random_split,
    e.g. 0.2 of 50,000 gives 40,000 / 10,000); stratified: the same fraction of every class.
    UsageError when a fraction > 0 rounds to no validation example or leaves no training example.
    """
    n = len(y)
    if fraction <= 0:
        return np.arange(n), np.arange(0)
    rng = np.random.default_rng(seed)
    if mode == "random":
        perm = rng.permutation(n)
        n_val = int(round(fraction * n))
        train, val = np.sort(perm[n_val:]), np.sort(perm[:n_val])
        one_example = 1 / n
    else:
        val = []
        for c in np.unique(y):
            idx = np.flatnonzero(y == c)
            idx = idx[rng.permutation(len(idx))]
            val.append(idx[: int(round(fraction * len(idx)))])
        val = np.sort(np.concatenate(val))
        train = np.setdiff1d(np.arange(n), val)
        one_example = 1 / max(np.bincount(y))
    if len(val) == 0:
        raise UsageError(f"--val_split={fraction:g} of {n} training examples ({mode}) rounds to an "
                         f"empty validation split; raise it to at least {one_example:.3g}, or use 0 "
                         "for no validation")
    if len(train) == 0:
        raise UsageError(f"--val_split={fraction:g} of {n} training examples ({mode}) leaves none for "
                         "training; lower --val_split")
    return train, val


def balanced_subset(y, count, seed, num_classes):
    """Indices of `count` examples with equal counts per class (the first count % C classes +1).

    count 0: every example. UsageError when count leaves a class out or exceeds the split.
    """
    if count <= 0:
        return np.arange(len(y))
    if count < num_classes:
        raise UsageError(f"--train_examples={count} is fewer than the {num_classes} classes, so whole "
                         f"classes would be missing from training; use at least {num_classes}, or 0 "
                         "for the whole training split")
    if count > len(y):
        raise UsageError(f"--train_examples={count} is more than the training split's {len(y)} "
                         f"examples; use at most {len(y)}, or 0 for the whole training split")
    if count == len(y):
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
