"""--tta=multiscale: the 22 views of tfreg/data/views.py against a direct computation."""

import numpy as np
import tensorflow as tf

from tfreg.flags import make_config
from tfreg.data.views import tta_views
from tfreg.models.build import build_model
from tfreg.train import evaluate


def _direct_views(image):
    """One HWC image -> the documented views: the image, then per scale 1.125 and 1.25 the
    top-left, top-right, bottom-left, bottom-right and centre crops; each followed by its mirror."""
    h, w = image.shape[:2]
    crops = [image]
    for scale in (1.125, 1.25):
        size = (int(np.floor(scale * h + 0.5)), int(np.floor(scale * w + 0.5)))
        big = tf.image.resize(image[None], size, "bilinear").numpy()[0]
        dy, dx = size[0] - h, size[1] - w
        for top, left in ((0, 0), (0, dx), (dy, 0), (dy, dx), (dy // 2, dx // 2)):
            crops.append(big[top:top + h, left:left + w])
    return [v for c in crops for v in (c, c[:, ::-1])]


def test_multiscale_accuracy_is_the_mean_probability_over_the_listed_views():
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (6, 12, 12, 1)).astype(np.float32)
    cfg = make_config(model="resnet8", width_multiplier=0.25, normalize="none")
    net = build_model(cfg, (12, 12, 1), 10)

    views = tta_views(tf.constant(images), "multiscale")
    assert len(views) == 22 and all(v.shape == images.shape for v in views)
    direct = [_direct_views(x) for x in images]
    for k, view in enumerate(views):
        np.testing.assert_allclose(view.numpy(), np.stack([d[k] for d in direct]), atol=1e-4)

    probs = np.stack([np.mean([net(v[None], training=False).numpy()[0] for v in d], 0)
                      for d in direct])
    plain = net(images, training=False).numpy()
    labels = probs.argmax(-1)
    labels[:3] = plain[:3].argmax(-1)  # some labels follow the plain prediction instead
    expected = float(np.mean(probs.argmax(-1) == labels))
    ds = tf.data.Dataset.from_tensor_slices((images, labels.astype(np.int64))).batch(4)
    assert evaluate.tta_accuracy(net, ds, "multiscale", 4) == expected
