"""ResNets from named block helpers (He et al. 2016), with every regularizer a slot.

- resnet18/34 (basic blocks), resnet50/101/152 (bottleneck blocks, stride on the 3x3 conv as in
  torchvision), 4 stages of 64..512 channels, `--stem` cifar (3x3 stride 1) or imagenet
  (7x7 stride 2 + 3x3 max-pool), projection shortcuts (option B).
- resnet20/32/44/56/110: the 3-stage CIFAR ResNets of the paper's section 4.2 (16/32/64 channels,
  3x3 stem, parameter-free option-A shortcuts); resnet8 is the same with one block per stage
  (n = 1, not in the paper): quick checks and the test suite, where tracing cost grows with depth.
Each block's residual branch goes through `Slots.residual_branch` (stochastic depth).
"""

import keras

from tfreg.models.layers import PadShortcut
from tfreg.models.slots import classifier
from tfreg.models.specs import RESNETS
from tfreg.regularizers.drop_path import block_rates, resolve_rule


def shortcut(x, filters, stride, slots, stage, name, option_a):
    if stride == 1 and x.shape[-1] == filters:
        return x
    if option_a:
        return PadShortcut(filters, stride, name=f"{name}_shortcut")(x)
    x = slots.conv(x, filters, 1, stride, stage, f"{name}_shortcut_conv")
    return slots.norm(x, stage, f"{name}_shortcut_norm")


def apply_basic_block(x, width, stride, slots, stage, name, drop_path_rate, option_a):
    zero_init = slots.m.zero_init_residual

    def branch(y):
        y = slots.conv(y, width, 3, stride, stage, f"{name}_conv1")
        y = slots.norm(y, stage, f"{name}_norm1")
        y = slots.block_dropout(y, 0, f"{name}_drop1")
        y = slots.act(y, f"{name}_act1")
        y = slots.conv(y, width, 3, 1, stage, f"{name}_conv2")
        y = slots.norm(y, stage, f"{name}_norm2", zero_init=zero_init)
        return slots.block_dropout(y, 1, f"{name}_drop2")

    y = slots.residual_branch(x, branch, drop_path_rate, f"{name}_droppath")
    y = keras.layers.Add(name=f"{name}_add")([shortcut(x, width, stride, slots, stage, name, option_a), y])
    return slots.act(y, f"{name}_out")


def apply_bottleneck_block(x, width, stride, slots, stage, name, drop_path_rate, option_a):
    zero_init = slots.m.zero_init_residual

    def branch(y):
        y = slots.conv(y, width, 1, 1, stage, f"{name}_conv1")
        y = slots.norm(y, stage, f"{name}_norm1")
        y = slots.block_dropout(y, 0, f"{name}_drop1")
        y = slots.act(y, f"{name}_act1")
        y = slots.conv(y, width, 3, stride, stage, f"{name}_conv2")
        y = slots.norm(y, stage, f"{name}_norm2")
        y = slots.block_dropout(y, 1, f"{name}_drop2")
        y = slots.act(y, f"{name}_act2")
        y = slots.conv(y, width * 4, 1, 1, stage, f"{name}_conv3")
        y = slots.norm(y, stage, f"{name}_norm3", zero_init=zero_init)
        return slots.block_dropout(y, 2, f"{name}_drop3")

    y = slots.residual_branch(x, branch, drop_path_rate, f"{name}_droppath")
    y = keras.layers.Add(name=f"{name}_add")(
        [shortcut(x, width * 4, stride, slots, stage, name, option_a), y])
    return slots.act(y, f"{name}_out")


BLOCKS = {"basic": apply_basic_block, "bottleneck": apply_bottleneck_block}


def apply_stem(x, slots, width):
    if slots.m.stem == "imagenet":
        x = slots.conv(x, width, 7, 2, 1, "stem_conv")
        x = slots.norm(x, 1, "stem_norm")
        x = slots.act(x, "stem_act")
        return keras.layers.MaxPooling2D(3, 2, padding="same", name="stem_pool")(x)
    x = slots.conv(x, width, 3, 1, 1, "stem_conv")
    x = slots.norm(x, 1, "stem_norm")
    return slots.act(x, "stem_act")


def drop_path_rates(m, depths):
    """Stochastic-depth drop probability of every block, in order (--drop_path_rule)."""
    return block_rates(m.drop_path_rate, sum(depths), resolve_rule(m.drop_path_rule, m.drop_path_mode))


def build(name, x, slots, num_classes):
    """Applies ResNet `name` to the (normalized) input tensor x; returns the probabilities."""
    block, depths, widths, option_a = RESNETS[name]
    widths = [slots.width(w) for w in widths]
    x = apply_stem(x, slots, widths[0])
    rates = drop_path_rates(slots.m, depths)
    k = 0
    stage_outputs = []
    for stage, (depth, width) in enumerate(zip(depths, widths), 1):
        for b in range(1, depth + 1):
            stride = 2 if (b == 1 and stage > 1) else 1
            x = BLOCKS[block](x, width, stride, slots, stage, f"stage{stage}_block{b}", rates[k], option_a)
            k += 1
        x = slots.stage_dropout(x, stage)
        stage_outputs.append(x)
    return classifier(x, num_classes, slots, stage_outputs)
