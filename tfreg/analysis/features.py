"""Feature maps: what the stem and each stage output for one test image (the ResNet-18 study,
seed 002, "feature maps of each residual stage for one image").

A stage's output is the last layer named `stageK_...` (the stem's, the last `stem_...`), as
tfreg.models names them; activations are taken in inference mode. One PNG per stage: the input
image beside the stage's channels tiled in a grid, every channel on the stage's shared colour
scale (its minimum to maximum over all channels), so channels can be compared by brightness.
"""

import math

import numpy as np

from tfreg.train.transfer import stage_output_names


def stage_activations(net, image):
    """[(label, layer name, activations H x W x C)] for the stem (when the net has one) and every
    stage, for one image (H x W x channels, raw pixels)."""
    import keras

    names = stage_output_names(net)
    ordered = ([("stem", names["stem"])] if "stem" in names else []) + [
        (f"stage{k}", names[k]) for k in sorted(k for k in names if k != "stem")]
    probe = keras.Model(net.inputs, [net.get_layer(n).output for _, n in ordered])
    outputs = probe([np.asarray(image, np.float32)[None]], training=False)
    return [(label, name, np.asarray(out)[0]) for (label, name), out in zip(ordered, outputs)]


def tile(activations, gap=1):
    """H x W x C -> one 2-D grid of the C channels (ceil(sqrt(C)) per row), NaN between tiles."""
    h, w, c = activations.shape
    cols = math.ceil(math.sqrt(c))
    rows = math.ceil(c / cols)
    grid = np.full((rows * (h + gap) - gap, cols * (w + gap) - gap), np.nan, np.float32)
    for i in range(c):
        r, q = divmod(i, cols)
        grid[r * (h + gap):r * (h + gap) + h, q * (w + gap):q * (w + gap) + w] = activations[..., i]
    return grid


def plot_stage(image, label, layer, activations, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 5.5), dpi=100,
                                      gridspec_kw={"width_ratios": [1, 2.2]})
    pixels = np.asarray(image, np.float32) / 255.0
    left.imshow(pixels[..., 0] if pixels.shape[-1] == 1 else pixels, cmap="gray", vmin=0, vmax=1)
    left.set_title("input image")
    low, high = float(activations.min()), float(activations.max())
    shown = right.imshow(tile(activations), cmap="viridis", vmin=low, vmax=high if high > low else low + 1)
    h, w, c = activations.shape
    right.set_title(f"{label} ({layer}): {c} channels of {h}x{w}, shared scale")
    for ax in (left, right):
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(shown, ax=right, fraction=0.046, pad=0.04)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def summary(stages):
    return [{"stage": label, "layer": layer, "shape": list(a.shape), "min": float(a.min()),
             "max": float(a.max()), "mean": float(a.mean()),
             "zero_fraction": float(np.mean(a == 0)),
             "dead_channels": int(np.sum(np.all(a.reshape(-1, a.shape[-1]) == 0, 0)))}
            for label, layer, a in stages]
