"""Normalization statistics fitted on the training split (numpy, no TensorFlow): tfreg.data.prepare
fits them and the Normalize layer of tfreg.models.layers applies them inside the model. See that
layer for the modes."""

import numpy as np

from tfreg.choices import NORMALIZATIONS as MODES


def fit_stats(x_train, mode, zca_epsilon):
    """{'shift': array, 'scale': array, 'whiten': array or None} from uint8 NHWC training images."""
    x = x_train.astype(np.float64)
    channels = x.shape[-1]
    if mode == "none":
        return {"shift": np.zeros(channels), "scale": np.full(channels, 255.0), "whiten": None}
    if mode == "per_channel":
        flat = x.reshape(-1, channels)
        return {"shift": flat.mean(0), "scale": flat.std(0) + 1e-8, "whiten": None}
    if mode == "mean_image":
        return {"shift": x.mean(0), "scale": np.full(channels, 255.0), "whiten": None}
    flat = x.reshape(len(x), -1) / 255.0
    mean = flat.mean(0)
    centred = flat - mean
    cov = centred.T @ centred / len(flat)
    u, s, _ = np.linalg.svd(cov)
    whiten = (u * (1.0 / np.sqrt(s + zca_epsilon))) @ u.T
    return {"shift": mean.reshape(x.shape[1:]) * 255.0, "scale": np.full(channels, 255.0),
            "whiten": whiten}
