"""build_model(cfg, ...) -> a functional keras.Model from raw images to probabilities, and the
per-stage layout that --dry_run prints.

The graph starts with the input normalization layer (fitted on the training split), so the saved
and exported models take raw [0, 255] images.
"""


import keras

from tfreg.models import resnet, vgg
from tfreg.models.layers import Normalize
from tfreg.models.slots import Slots
from tfreg.models.specs import num_stages, stage_depths
from tfreg.regularizers.drop_path import resolve_rule


def build_model(cfg, image_shape, num_classes, sync_batch_norm=False):
    """The network as a functional model named after the architecture (cfg validated by
    tfreg.validation.validate; building reads no file)."""
    m = cfg.model
    slots = Slots(m, num_stages(m.model), sync_batch_norm, jit_compile=cfg.run.jit_compile)
    inputs = keras.Input(image_shape, name="images")
    x = Normalize(cfg.data.normalize, name="normalize")(inputs)
    if m.model == "vgg11":
        outputs = vgg.build(x, slots, num_classes)
    else:
        outputs = resnet.build(m.model, x, slots, num_classes)
    return keras.Model(inputs, outputs, name=m.model)


def layout(cfg):
    """Per-stage lines: blocks, norm, block dropout, stage dropout, drop-path rates."""
    m = cfg.model
    stages = num_stages(m.model)
    slots = Slots(m, stages)
    depths = stage_depths(m.model)
    rates = resnet.drop_path_rates(m, depths)  # vgg11 refuses --drop_path_rate: all 0
    rule = resolve_rule(m.drop_path_rule, m.drop_path_mode)
    lines, k = [], 0
    unit = "convs" if m.model == "vgg11" else "blocks"
    for s, depth in enumerate(depths, 1):
        norm = m.norm if s in slots.norm_stages else "none"
        block_drop = ",".join(f"{r:g}" for r in m.block_dropout_rates) or "-"
        stage_drop = f"{m.dropout_rates[s - 1]:g}" if s <= len(m.dropout_rates) else "-"
        r = rates[k:k + depth]
        k += depth
        path = f"{r[0]:.3f}..{r[-1]:.3f} ({m.drop_path_mode}, {rule} rule)" if m.drop_path_rate else "-"
        lines.append(f"  stage{s}: {depth} {unit}, norm={norm}, block_dropout={block_drop}, "
                     f"stage_dropout={stage_drop}, drop_path={path}")
    return lines
