"""Every categorical setting's choices, written once.

`tfreg/flags.py` builds its DEFINE_enum flags from these tuples, and the library modules that act
on a choice validate against the same tuple, so a new choice is added in one place. Pure Python:
the flag layer imports it before TensorFlow loads.
"""

STRATEGIES = ("auto", "one_device", "mirrored", "multi_worker")
PRECISIONS = ("none", "float16", "bfloat16")
VERBOSITY = ("0", "1", "2")

DATASETS = ("synthetic", "fashion_mnist", "cifar10", "cifar100")
SPLIT_MODES = ("random", "stratified")
NORMALIZATIONS = ("none", "per_channel", "mean_image", "zca")

FLIPS = ("none", "horizontal", "vertical", "both")
ERASING_FILLS = ("random", "zero", "mean")
CUTOUT_FILLS = ("zero", "mean")
MIX_LAMBDAS = ("batch", "example")

# tfreg.models.specs holds each architecture's table (and checks it names exactly these)
MODELS = ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "resnet8", "resnet20",
          "resnet32", "resnet44", "resnet56", "resnet110", "vgg11")
STEMS = ("cifar", "imagenet")
IMAGENET_STEM_MODELS = ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152")
NORMS = ("batch", "group", "layer", "instance", "none")
BATCH_NORM_KERNELS = ("keras", "fused")
DROP_PATH_MODES = ("batch", "sample")
DROP_PATH_RULES = ("auto", "paper", "timm")
ACTIVATIONS = ("relu", "swish", "mish", "gelu")
HEADS = ("gap", "multiscale")

OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop")
LR_SCHEDULES = ("constant", "cosine", "step", "linear")
WEIGHT_DECAY_MODES = ("l2", "decoupled")
WEIGHT_DECAY_EXCLUDES = ("none", "norm_and_bias")
LOSSES = ("crossentropy", "mse")
LABEL_SMOOTHING_STYLES = ("uniform", "off_target")
EARLY_STOPPING_MONITORS = ("val_loss", "val_accuracy", "loss", "accuracy")

TTA_MODES = ("none", "flip", "crops", "multiscale")


def check(kind, value, allowed):
    """ValueError quoting the received value when it is not one of `allowed`."""
    if value not in allowed:
        raise ValueError(f"{kind} must be one of {allowed}, received {value!r}")
    return value
