"""Architecture tables and the checks of a Config against them; no TensorFlow import, so the
command line can reject bad input before TensorFlow starts (and prints its start-up lines)."""

from tfreg import choices
from tfreg.errors import UsageError

# name: (block, blocks per stage, stage widths, CIFAR-style option-A shortcuts)
RESNETS = {
    "resnet18": ("basic", (2, 2, 2, 2), (64, 128, 256, 512), False),
    "resnet34": ("basic", (3, 4, 6, 3), (64, 128, 256, 512), False),
    "resnet50": ("bottleneck", (3, 4, 6, 3), (64, 128, 256, 512), False),
    "resnet101": ("bottleneck", (3, 4, 23, 3), (64, 128, 256, 512), False),
    "resnet152": ("bottleneck", (3, 8, 36, 3), (64, 128, 256, 512), False),
}
for _depth in (8, 20, 32, 44, 56, 110):
    RESNETS[f"resnet{_depth}"] = ("basic", ((_depth - 2) // 6,) * 3, (16, 32, 64), True)

VGG11_STAGES = ((64,), (128,), (256, 256), (512, 512), (512, 512))
MODELS = (*RESNETS, "vgg11")
assert MODELS == choices.MODELS, "tfreg.choices.MODELS names every architecture here"
IMAGENET_STEM_MODELS = choices.IMAGENET_STEM_MODELS
NORM_POSITIONS = {"basic": 2, "bottleneck": 3, "vgg": 1}


def stage_depths(model_name):
    if model_name == "vgg11":
        return tuple(len(s) for s in VGG11_STAGES)
    return RESNETS[model_name][1]


def num_stages(model_name):
    return len(stage_depths(model_name))


def norm_positions(model_name):
    return NORM_POSITIONS["vgg" if model_name == "vgg11" else RESNETS[model_name][0]]


def check(cfg):
    """Checks the list flags against the chosen architecture; UsageError with the fix. Reads
    nothing (tfreg.validation.validate calls it)."""
    m = cfg.model
    stages = num_stages(m.model)
    for flag, value in (("norm_stages", m.norm_stages), ("agc_stages", cfg.train.agc_stages),
                        ("trainable_stages", cfg.train.trainable_stages)):
        if any(s > stages for s in value or ()):  # None = every stage
            listed = ",".join(map(str, value))
            raise UsageError(f"--{flag}={listed} names a stage beyond {m.model}'s {stages} stages; "
                             f"use numbers 1..{stages}")
    if cfg.train.probe_stage > stages:
        raise UsageError(f"--probe_stage={cfg.train.probe_stage} is beyond {m.model}'s {stages} "
                         f"stages; use 1..{stages}")
    if len(m.dropout_rates) > stages:
        raise UsageError(f"--dropout_rates has {len(m.dropout_rates)} rates but {m.model} has "
                         f"{stages} stages; give at most {stages}")
    positions = norm_positions(m.model)
    if len(m.block_dropout_rates) > positions:
        raise UsageError(f"--block_dropout_rates has {len(m.block_dropout_rates)} rates but a "
                         f"{m.model} block has {positions} norm positions; give at most {positions}")
    if m.drop_path_rate and m.model == "vgg11":
        raise UsageError("--drop_path_rate needs a residual network; vgg11 has no residual branches")
