"""Test-time evaluation beyond the plain forward pass: TTA views and Monte-Carlo dropout."""

import contextlib

import numpy as np
import tensorflow as tf

from tfreg.data.views import tta_views
from tfreg.regularizers.dropout import Dropout


@contextlib.contextmanager
def mc_dropout(net):
    """Keeps every tfreg Dropout layer sampling masks while the rest of the net (norm layers,
    drop-path) stays in inference mode; calling the net with training=True would also move the
    batch-norm statistics."""
    layers = [layer for layer in net._flatten_layers() if isinstance(layer, Dropout)]
    for layer in layers:
        layer.mc_sampling = True
    try:
        yield len(layers)
    finally:
        for layer in layers:
            layer.mc_sampling = False


def _accuracy(predict, dataset):
    hits = total = 0
    for images, labels in dataset:
        probs = predict(images)
        hits += int(np.sum(np.argmax(probs, -1) == labels.numpy().reshape(-1)))
        total += len(labels)
    return hits / max(total, 1)


def tta_accuracy(net, dataset, mode, crop_pixels):
    forward = tf.function(lambda x: net(x, training=False))

    def predict(images):
        views = tta_views(images, mode, crop_pixels)
        return tf.add_n([forward(v) for v in views]) / len(views)

    return _accuracy(predict, dataset)


def mc_dropout_accuracy(net, dataset, samples):
    """Accuracy of the mean of `samples` dropout-sampled probability vectors; None if the net has
    no dropout layer."""
    with mc_dropout(net) as count:
        if count == 0:
            return None
        forward = tf.function(lambda x: net(x, training=False))
        return _accuracy(lambda images: tf.add_n([forward(images) for _ in range(samples)]) / samples,
                         dataset)
