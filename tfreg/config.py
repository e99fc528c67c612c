"""Every setting of a run: typed, frozen dataclasses that own each field's type, default, help and
check. The only place defaults live; no absl and no TensorFlow here.

Each section (run, data, augment, model, train, eval) is a frozen dataclass whose fields are
exactly the flag names (no renaming; a unit is part of the name: `_rate`, `_prob`, `_pixels`,
`_epochs`, `_steps`). Values are typed: list flags are tuples of numbers, stage lists
(--norm_stages, --agc_stages, --trainable_stages) a tuple of 1-based stages or None for 'all',
--verbose an int. `tfreg.flags` defines the absl flags from these fields; `format_value` and
`parse_value` are the one translation between a value and its flag text, `to_flagfile` and
`read_flagfile` the one writer and reader of flags.txt.
"""

import dataclasses
import math
import pathlib
from typing import Optional

from tfreg import choices as C
from tfreg import runs
from tfreg.errors import UsageError  # noqa: F401  (re-exported: callers catch config.UsageError)

INT_MAX = 2**32 - 1  # every integer flag; larger values are absurd, and seeds are 32-bit
Floats = tuple[float, ...]
Ints = tuple[int, ...]
Stages = Optional[tuple[int, ...]]  # None = every stage, () = none

# Flags that steer one invocation rather than describe the experiment: left out of flags.txt.
INVOCATION_FLAGS = ("dry_run", "overwrite")


def _distinct_stages(v):
    return v is None or (len(set(v)) == len(v) and all(s >= 1 for s in v))


def flag(default, help_text, check=None, message=None, choices=None):
    """A field: its default, its --help text, and a check of its typed value with the message
    shown when the check fails (`must be ...`)."""
    return dataclasses.field(default=default, metadata={
        "help": help_text, "check": check, "message": message, "choices": choices})


def enum(default, choices, help_text):
    return flag(default, help_text, choices=tuple(choices))


def rate(default, help_text, inclusive=False):
    if inclusive:
        return flag(default, help_text, lambda v: 0.0 <= v <= 1.0, "must be in [0, 1]")
    return flag(default, help_text, lambda v: 0.0 <= v < 1.0, "must be in [0, 1)")


def nonneg(default, help_text):
    return flag(default, help_text, lambda v: v >= 0, "must be >= 0")


def positive(default, help_text):
    return flag(default, help_text, lambda v: v > 0, "must be > 0")


@dataclasses.dataclass(frozen=True)
class RunConfig:
    run_dir: str = flag("", "Run directory. Empty: runs/<model>_<dataset>_<UTC time>.")
    overwrite: bool = flag(False, "Replace a run directory that already holds a completed run.")
    dry_run: bool = flag(
        False,
        "Parse, validate, build data and model, print a summary and exit without training.")
    seed: int = flag(
        0,
        "Seed for model init, data order, augmentation and every random layer.",
        lambda v: 0 <= v <= INT_MAX,
        f"must be >= 0 and <= {INT_MAX} (Keras, TensorFlow and NumPy seeds are 32-bit)")
    deterministic: bool = flag(
        False,
        "Turn on TensorFlow op determinism (slower; bitwise-repeatable runs on CPU).")
    strategy: str = enum(
        "auto",
        C.STRATEGIES,
        "Distribution strategy. auto: mirrored over all GPUs when there are several, else one "
        "device; multi_worker: MultiWorkerMirroredStrategy configured by the TF_CONFIG "
        "environment variable (the chief writes --run_dir, worker i writes --run_dir/worker_i).")
    mixed_precision: str = enum(
        "none",
        C.PRECISIONS,
        "Keras mixed-precision policy for compute (variables stay float32).")
    jit_compile: bool = flag(False, "XLA-compile the train step.")
    steps_per_execution: int = positive(
        1,
        "Training steps run inside one call of the compiled step (Keras steps_per_execution): "
        "the host reads the step's logs once per call, not once per step, which keeps a GPU "
        "busy. Must divide the steps of an epoch; the numbers are the same as with 1, except "
        "that a non-finite loss is noticed at the end of the call, not of its step.")
    saved_model: bool = flag(
        True,
        "Export saved_model/ (the `serve` signatures) beside model.keras at the end. "
        "--nosaved_model writes model.keras only: a sweep that needs no serving model saves "
        "the export's time (several seconds per run) and disk.")
    tensorboard_images: bool = flag(
        False,
        "Write the first augmented training batch to TensorBoard (tb/train, 16 images). Off by "
        "default: the images open TensorBoard's first tab above the scalars.")
    verbose: int = enum(
        1,
        C.VERBOSITY,
        "Keras fit verbosity: 0 silent, 1 progress bar, 2 one line per epoch.")


@dataclasses.dataclass(frozen=True)
class DataConfig:
    dataset: str = enum("synthetic", C.DATASETS, "Dataset.")
    data_dir: str = flag(
        "",
        "Folder with the dataset files (CIFAR archives or folders, Fashion-MNIST IDX files). "
        "Empty: look in the standard places.")
    synthetic_train_examples: int = positive(2000, "Training examples of the synthetic dataset.")
    synthetic_test_examples: int = positive(500, "Test examples of the synthetic dataset.")
    val_split: float = rate(
        0.0,
        "Fraction of the training set held out for validation (0 = no validation split).")
    split_mode: str = enum(
        "random",
        C.SPLIT_MODES,
        "How the validation split is drawn: a random permutation, or the same fraction per class.")
    split_seed: int = nonneg(0, "Seed of the validation split.")
    train_examples: int = nonneg(
        0,
        "Use a class-balanced subset of this many training examples (0 = all).")
    normalize: str = enum(
        "per_channel",
        C.NORMALIZATIONS,
        "Input normalization fitted on the training split and applied inside the model: "
        "none = x/255; per_channel = (x - mean_c)/std_c; mean_image = (x - mean image)/255; "
        "zca = ZCA whitening of x/255.")
    zca_epsilon: float = positive(
        0.1,
        "Added to the eigenvalues of the covariance (of x/255) before ZCA whitening.")
    batch_size: int = positive(128, "Global training batch size.")
    eval_batch_size: int = nonneg(
        500,
        "Batch size of the inference passes (validation, test, TTA views, MC dropout): "
        "per-example results do not depend on it beyond float rounding, and large batches "
        "are cheaper per image (0 = --batch_size).")
    classes: Ints = flag(
        (),
        "Keep only these classes (train and test), relabelled 0..n-1 in the order given, e.g. "
        "0,1,2,3,4 (empty = every class). Transfer learning: pre-train on one split of classes.",
        lambda v: len(set(v)) == len(v) and len(v) != 1,
        "must be distinct class numbers >= 0, at least two")


@dataclasses.dataclass(frozen=True)
class AugmentConfig:
    pad_crop_pixels: int = nonneg(
        0,
        "Zero-pad by this many pixels, then crop back to size at a random offset (0 = off).")
    flip: str = enum("none", C.FLIPS, "Random flips, each with probability 0.5.")
    random_erasing_prob: float = rate(
        0.0,
        "Probability of random erasing (Zhong et al. 2020) per image (0 = off).",
        inclusive=True)
    random_erasing_area_min: float = flag(
        0.02,
        "Smallest erased area as a fraction of the image.",
        lambda v: 0 < v < 1,
        "must be in (0, 1)")
    random_erasing_area_max: float = flag(
        0.4,
        "Largest erased area as a fraction of the image.",
        lambda v: 0 < v <= 1,
        "must be in (0, 1]")
    random_erasing_aspect_min: float = positive(
        0.3,
        "Smallest aspect ratio (height / width) of the erased rectangle.")
    random_erasing_aspect_max: float = positive(
        1 / 0.3,
        "Largest aspect ratio (height / width) of the erased rectangle.")
    random_erasing_fill: str = enum(
        "random",
        C.ERASING_FILLS,
        "Erased pixels: uniform random values, zero (black), or the training mean colour.")
    cutout_pixels: int = nonneg(
        0,
        "Side of the cutout square (DeVries & Taylor 2017) in pixels (0 = off).")
    cutout_prob: float = rate(
        1.0,
        "Probability that an image gets a cutout square.",
        inclusive=True)
    cutout_fill: str = enum(
        "zero",
        C.CUTOUT_FILLS,
        "Cutout pixels: zero (black, in raw pixel space) or the training mean colour "
        "(what zero means after normalization in the paper's code).")
    cutout_extra_per_batch: int = nonneg(
        0,
        "After batching, append cutout copies of the batch's first k images with their labels "
        "(the ResNet-50 study's 'cutout images per batch'): each copy has exactly one "
        "--cutout_pixels square, the batch's own images none (per-example cutout is off), so a "
        "step trains on --batch_size + k images.")
    color_jitter: float = nonneg(
        0.0,
        "Colour jitter strength s: brightness, contrast and saturation factors in "
        "[max(0, 1-s), 1+s], hue shift in [-s/2, s/2] turns (capped at 0.5) (0 = off).")
    rotation_degrees: float = nonneg(0.0, "Random rotation in [-d, d] degrees (0 = off).")
    translate_fraction: float = rate(
        0.0,
        "Random translation up to this fraction of the height / width (0 = off).")
    shear_degrees: float = flag(
        0.0,
        "Random horizontal shear in [-d, d] degrees (0 = off).",
        lambda v: 0 <= v < 90,
        "must be in [0, 90)")
    zoom_fraction: float = rate(0.0, "Random isotropic scale in [1-z, 1+z] (0 = off).")
    noise_std: float = nonneg(
        0.0,
        "Std of Gaussian pixel noise, in units of the [0, 1] intensity range (0 = off).")
    randaugment_magnitude: float = rate(
        0.0,
        "RandAugment (Cubuk et al. 2020) strength, keras.layers.RandAugment's factor: each op "
        "draws its strength from [0, m] of its range (0 = off). After pad-crop and flip.",
        inclusive=True)
    randaugment_ops: int = positive(
        2,
        "RandAugment ops per image, drawn with replacement from Keras's 11.")
    augmix_severity: float = rate(
        0.0,
        "AugMix (Hendrycks et al. 2020) strength, keras.layers.AugMix's factor (the paper's "
        "severity 3 of 10 = 0.3): 3 chains of up to 3 ops mixed with the image (0 = off).",
        inclusive=True)
    mixup_alpha: float = nonneg(
        0.0,
        "Mixup (Zhang et al. 2018) Beta(alpha, alpha) parameter (0 = off). Train step.")
    cutmix_alpha: float = nonneg(
        0.0,
        "CutMix (Yun et al. 2019) Beta(alpha, alpha) parameter (0 = off). With mixup also on, "
        "each batch uses one of the two with probability 0.5. Train step.")
    mix_prob: float = rate(1.0, "Probability that a batch (or example) is mixed.", inclusive=True)
    mix_lambda: str = enum(
        "batch",
        C.MIX_LAMBDAS,
        "One mixing coefficient per batch (papers) or one per example.")


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    model: str = enum("resnet20", C.MODELS, "Architecture.")
    stem: str = enum(
        "cifar",
        C.STEMS,
        "ResNet stem: cifar = 3x3 stride 1, no max-pool; imagenet = 7x7 stride 2 + 3x3 max-pool.")
    width_multiplier: float = flag(
        1.0,
        "Scales every channel count.",
        lambda v: 0 < v <= 16,
        "must be in (0, 16] (wide ResNets use up to 10)")
    norm: str = enum("batch", C.NORMS, "Normalization in every norm slot.")
    norm_stages: Stages = flag(
        None,
        "1-based stages that keep normalization: 'all', a list such as '1,2', or empty for none. "
        "The stem's norm follows stage 1.",
        _distinct_stages,
        "must be 'all', '' or distinct ints >= 1")
    norm_groups: int = positive(
        32,
        "Groups of group norm (reduced to gcd(groups, channels) in narrow layers).")
    bn_momentum: float = flag(
        0.9,
        "Batch-norm moving-average momentum, Keras convention (PyTorch momentum 0.1 = 0.9 here).",
        lambda v: 0 <= v < 1,
        "must be in [0, 1)")
    norm_epsilon: float = positive(1e-5, "Epsilon of every norm layer.")
    batch_norm_kernel: str = enum(
        "fused",
        C.BATCH_NORM_KERNELS,
        "How batch norm trains: fused = TensorFlow's fused kernel (oneDNN / cuDNN), the same "
        "function as Keras's layer to float32 rounding with less CPU work per image (1.13x in "
        "float32, 1.4x with --mixed_precision=bfloat16 on a 2-core AMX Xeon, ResNet-18; "
        "benchmarks/README.md); several replicas (synchronized batch norm) take Keras's path. "
        "keras = Keras 3's layer (element-wise ops in float32), the reference. Other --norm "
        "choices ignore it.")
    dropout_rates: Floats = flag(
        (),
        "Dropout rate after the output of stage i, e.g. 0.1,0.2,0.3 (later stages get none).",
        lambda v: all(0 <= r < 1 for r in v),
        "must be comma-separated rates in [0, 1)")
    block_dropout_rates: Floats = flag(
        (),
        "Dropout at each normalization position inside every block, e.g. 0.2,0.5.",
        lambda v: all(0 <= r < 1 for r in v),
        "must be comma-separated rates in [0, 1)")
    head_dropout_rate: float = rate(0.0, "Dropout before the classifier.")
    drop_path_rate: float = rate(
        0.0,
        "Stochastic depth: drop probability p_L of the last block; the other blocks' rates follow "
        "--drop_path_rule.")
    drop_path_mode: str = enum(
        "batch",
        C.DROP_PATH_MODES,
        "batch: one draw per mini-batch, a dropped branch is not computed, no training rescale, "
        "residual times survival probability at test (Huang et al. 2016); sample: per example, "
        "1/keep rescale (timm).")
    drop_path_rule: str = enum(
        "auto",
        C.DROP_PATH_RULES,
        "Per-block drop rates over L blocks: paper = l/L * p_L for l = 1..L (Huang et al. 2016); "
        "timm = 0 at the first block, linear to p_L at the last; auto = paper in batch mode, "
        "timm in sample mode.")
    activation: str = enum("relu", C.ACTIVATIONS, "Activation in every block.")
    head: str = enum(
        "gap",
        C.HEADS,
        "gap: global average pool of the last stage; multiscale: pool every stage, concatenate.")
    zero_init_residual: bool = flag(False, "Initialize each block's last norm scale to zero.")
    weight_standardization: bool = flag(
        False,
        "Scaled weight-standardized convolutions (Brock et al. 2021), for normalizer-free nets.")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    epochs: int = positive(10, "Training epochs.")
    steps_per_epoch: int = nonneg(
        0,
        "Training steps per epoch (0 = one pass over the training split).")
    optimizer: str = enum("sgd", C.OPTIMIZERS, "Optimizer.")
    learning_rate: float = positive(0.1, "Peak learning rate.")
    momentum: float = flag(
        0.9,
        "SGD / RMSprop momentum.",
        lambda v: 0 <= v < 1,
        "must be in [0, 1)")
    nesterov: bool = flag(False, "Nesterov momentum (SGD).")
    beta_1: float = flag(0.9, "Adam beta_1.", lambda v: 0 <= v < 1, "must be in [0, 1)")
    beta_2: float = flag(0.999, "Adam beta_2.", lambda v: 0 <= v < 1, "must be in [0, 1)")
    rmsprop_rho: float = flag(
        0.99,
        "RMSprop squared-gradient average (PyTorch alpha 0.99; Keras defaults to 0.9).",
        lambda v: 0 <= v < 1,
        "must be in [0, 1)")
    optimizer_epsilon: float = positive(
        1e-8,
        "Epsilon of Adam, AdamW and RMSprop (PyTorch's 1e-8; Keras defaults to 1e-7).")
    lr_schedule: str = enum(
        "cosine",
        C.LR_SCHEDULES,
        "Learning-rate schedule after warmup, evaluated at every step.")
    lr_min: float = nonneg(0.0, "Final rate of cosine and linear decay.")
    lr_step_epochs: Ints = flag(
        (),
        "Epochs at which the step schedule multiplies the rate by --lr_step_factor.",
        lambda v: all(s > 0 for s in v),
        "must be positive integers")
    lr_step_factor: float = flag(
        0.1,
        "Step-schedule factor.",
        lambda v: 0 < v <= 1,
        "must be in (0, 1]")
    warmup_epochs: float = nonneg(
        0.0,
        "Linear warmup from learning_rate/warmup_steps to learning_rate.")
    weight_decay: float = nonneg(0.0, "Weight decay (0 = off).")
    weight_decay_mode: str = enum(
        "l2",
        C.WEIGHT_DECAY_MODES,
        "l2: gradient += wd * w before momentum (PyTorch SGD); decoupled: w -= lr * wd * w "
        "(AdamW, Keras optimizer weight_decay).")
    weight_decay_exclude: str = enum(
        "none",
        C.WEIGHT_DECAY_EXCLUDES,
        "Parameters spared from weight decay.")
    loss: str = enum(
        "crossentropy",
        C.LOSSES,
        "crossentropy on logits, or mean squared error of softmax against (mixed) one-hot targets.")
    label_smoothing: float = rate(0.0, "Label smoothing epsilon (0 = off).")
    label_smoothing_style: str = enum(
        "uniform",
        C.LABEL_SMOOTHING_STYLES,
        "uniform: eps/C to every class (Keras, PyTorch); off_target: 1-eps to the true class and "
        "eps/(C-1) to each other class.")
    agc_clip: float = nonneg(
        0.0,
        "Adaptive gradient clipping threshold (Brock et al. 2021) (0 = off).")
    agc_eps: float = positive(1e-3, "AGC epsilon on parameter norms.")
    agc_stages: Stages = flag(
        None,
        "1-based stages whose parameters AGC clips: 'all', a list such as '3,4', or empty. "
        "The stem follows stage 1; 'all' also covers the head (never the classifier kernel).",
        _distinct_stages,
        "must be 'all', '' or distinct ints >= 1")
    early_stopping_patience: int = nonneg(
        0,
        "Stop after this many epochs without improvement and restore the best weights (0 = off).")
    early_stopping_monitor: str = enum(
        "val_loss",
        C.EARLY_STOPPING_MONITORS,
        "Metric watched by early stopping.")
    target_train_accuracy: float = flag(
        0.0,
        "Record wall time and epoch when training accuracy first reaches this (0 = off).",
        lambda v: 0 <= v <= 1,
        "must be in [0, 1]")
    init_from: str = flag(
        "",
        "Start from the final weights (model.keras) of this run directory: every layer whose name "
        "and shapes match, input normalization included; the classifier is re-initialized when "
        "its shape or the labels (--dataset, --classes) differ. Empty: random initialization.")
    trainable_stages: Stages = flag(
        None,
        "1-based stages that train: 'all', 'none' (only the classifier: a linear classifier on "
        "top) or a list such as '4' (fine-tune the last stage). The stem follows stage 1; the "
        "classifier always trains. Frozen batch norm runs in inference mode.",
        _distinct_stages,
        "must be 'all', 'none', '' or distinct ints >= 1")
    probe_stage: int = nonneg(
        0,
        "Put the linear classifier on stage k's globally pooled output and drop the later "
        "stages (0 = off); with --trainable_stages=none a linear probe of stage k.")


@dataclasses.dataclass(frozen=True)
class EvalConfig:
    tta: str = enum(
        "none",
        C.TTA_MODES,
        "Test-time augmentation: flip averages the image and its mirror; crops averages four "
        "corner crops and the centre of the padded image, each with its mirror; multiscale "
        "resizes to 1, 1.125 and 1.25 x the size and averages the image and the corner and "
        "centre crops of each larger scale, each with its mirror (22 views).")
    tta_crop_pixels: int = positive(4, "Padding used to cut the corner crops of --tta=crops.")
    mc_dropout_samples: int = nonneg(
        0,
        "Average this many dropout masks at test time, norm layers in inference mode (0 = off).")
    test_every_epochs: int = nonneg(
        1,
        "Evaluate the test set after every k-th epoch and after the last one trained (0 = "
        "after the last only); with a validation split the best validation epoch's weights are "
        "kept (in the checkpoint too) and tested once at the end, so the test accuracy at the "
        "best validation epoch (the studies' endpoint) is always recorded; history.csv leaves "
        "the test columns of the other epochs empty. Training "
        "is unchanged, so a resume may change it. A pass over a 10,000-image test set costs "
        "about as much as a mini run's epoch of training.")


SECTIONS = {"run": RunConfig, "data": DataConfig, "augment": AugmentConfig,
            "model": ModelConfig, "train": TrainConfig, "eval": EvalConfig}
FIELDS = {f.name: (section, f) for section, cls in SECTIONS.items()
          for f in dataclasses.fields(cls)}


@dataclasses.dataclass(frozen=True)
class Config:
    run: RunConfig = RunConfig()
    data: DataConfig = DataConfig()
    augment: AugmentConfig = AugmentConfig()
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    eval: EvalConfig = EvalConfig()

    def replace(self, **changes):
        """Returns a copy with flag values changed, e.g. cfg.replace(epochs=2)."""
        sections = {s: {} for s in SECTIONS}
        for name, value in changes.items():
            if name not in FIELDS:
                raise KeyError(f"no tfreg flag named {name!r}")
            sections[FIELDS[name][0]][name] = value
        return dataclasses.replace(self, **{s: dataclasses.replace(getattr(self, s), **v)
                                            for s, v in sections.items() if v})

    def flat(self):
        """{flag name: value} over every section."""
        out = {}
        for section in SECTIONS:
            out.update(dataclasses.asdict(getattr(self, section)))
        return out


# ---- checks of values (no file, no data): tfreg.flags runs them at parse time, validate(cfg) again

# (flags, check of their typed values, message); absl reports them as `flags --a=.., --b=..: message`
CROSS_CHECKS = (
    (("random_erasing_area_min", "random_erasing_area_max"),
     lambda d: d["random_erasing_area_min"] <= d["random_erasing_area_max"],
     "--random_erasing_area_min must be <= --random_erasing_area_max"),
    (("random_erasing_aspect_min", "random_erasing_aspect_max"),
     lambda d: d["random_erasing_aspect_min"] <= d["random_erasing_aspect_max"],
     "--random_erasing_aspect_min must be <= --random_erasing_aspect_max"),
    (("cutout_extra_per_batch", "cutout_pixels"),
     lambda d: d["cutout_extra_per_batch"] == 0 or d["cutout_pixels"] > 0,
     "--cutout_extra_per_batch needs --cutout_pixels > 0"),
    (("cutout_extra_per_batch", "cutout_prob"),
     lambda d: d["cutout_extra_per_batch"] == 0 or d["cutout_prob"] == 1.0,
     "--cutout_prob applies to per-example cutout, which --cutout_extra_per_batch turns off "
     "(each extra copy gets exactly one square); drop --cutout_prob"),
    (("norm", "norm_stages"),
     lambda d: d["norm"] != "none" or d["norm_stages"] in (None, ()),
     "--norm_stages needs a --norm other than none"),
    (("model", "stem"),
     lambda d: d["stem"] == "cifar" or d["model"] in C.IMAGENET_STEM_MODELS,
     "--stem=imagenet applies to resnet18/34/50/101/152 only"),
    (("probe_stage", "head"), lambda d: d["probe_stage"] == 0 or d["head"] == "gap",
     "--probe_stage puts its own pooled linear classifier on the stage; drop --head=multiscale"),
    (("probe_stage", "trainable_stages"),
     lambda d: d["probe_stage"] == 0 or all(s <= d["probe_stage"] for s in d["trainable_stages"] or ()),
     "--trainable_stages names a stage after --probe_stage, which the probe drops"),
    (("lr_schedule", "lr_step_epochs"),
     lambda d: d["lr_schedule"] != "step" or len(d["lr_step_epochs"]) > 0,
     "--lr_schedule=step needs --lr_step_epochs, e.g. 100,150"),
    (("lr_min", "learning_rate"), lambda d: d["lr_min"] <= d["learning_rate"],
     "--lr_min must be <= --learning_rate"),
    (("optimizer", "weight_decay_mode", "weight_decay"),
     lambda d: d["optimizer"] != "adamw" or d["weight_decay_mode"] == "decoupled"
     or d["weight_decay"] == 0,
     "--optimizer=adamw decays decoupled by definition: add --weight_decay_mode=decoupled, "
     "or use --optimizer=adam for l2 decay"),
    (("drop_path_rule", "drop_path_rate"),
     lambda d: d["drop_path_rule"] == "auto" or d["drop_path_rate"] > 0,
     "--drop_path_rule needs --drop_path_rate > 0"),
    (("weight_decay_exclude", "weight_decay"),
     lambda d: d["weight_decay_exclude"] == "none" or d["weight_decay"] > 0,
     "--weight_decay_exclude needs --weight_decay > 0"),
    (("mix_prob", "mixup_alpha", "cutmix_alpha"),
     lambda d: d["mix_prob"] == 1.0 or d["mixup_alpha"] > 0 or d["cutmix_alpha"] > 0,
     "--mix_prob needs --mixup_alpha or --cutmix_alpha > 0"),
    (("early_stopping_patience", "early_stopping_monitor", "val_split"),
     lambda d: d["early_stopping_patience"] == 0 or d["val_split"] > 0
     or not d["early_stopping_monitor"].startswith("val_"),
     "--early_stopping_monitor=val_* needs --val_split > 0"),
    (("jit_compile", "strategy"),
     lambda d: not (d["jit_compile"] and d["strategy"] == "multi_worker"),
     "--jit_compile is not supported with --strategy=multi_worker; drop --jit_compile"),
    (("jit_compile", "deterministic"),
     lambda d: not (d["jit_compile"] and d["deterministic"]),
     "--jit_compile cannot be combined with --deterministic (XLA kernels do not support "
     "TensorFlow op determinism); drop one of them"),
    (("steps_per_execution", "steps_per_epoch"),
     lambda d: d["steps_per_epoch"] == 0 or d["steps_per_epoch"] % d["steps_per_execution"] == 0,
     "--steps_per_execution must divide --steps_per_epoch (Keras would run whole calls past the "
     "epoch's end); choose a divisor of --steps_per_epoch"),
    (("weight_standardization", "model"),
     lambda d: not d["weight_standardization"] or d["model"] != "vgg11",
     "--weight_standardization applies to ResNets only"),
)


def field_problem(name, value):
    """The message of `name`'s check when `value` fails it, else None."""
    f = FIELDS[name][1]
    meta = f.metadata
    if meta["choices"] is not None and format_value(name, value) not in map(str, meta["choices"]):
        return f"value should be one of <{'|'.join(map(str, meta['choices']))}>"
    if f.type is float and not math.isfinite(value):
        return "must be a finite number"
    if f.type is int and value > INT_MAX:
        return f"must be <= {INT_MAX}"
    if meta["check"] is not None and not meta["check"](value):
        return meta["message"]
    return None


def check(cfg):
    """UsageError for a value outside its field's range or a combination CROSS_CHECKS refuses:
    what the command line refuses at parse time, for a Config built or changed in code."""
    flat = cfg.flat()
    for name, value in flat.items():
        problem = field_problem(name, value)
        if problem:
            raise UsageError(f"flag --{name}={format_value(name, value)}: {problem}")
    for names, predicate, message in CROSS_CHECKS:
        if not predicate({n: flat[n] for n in names}):
            raise UsageError(message)


def make_config(**overrides):
    """Config from the defaults plus overrides (typed values, or their flag text such as "1,2"),
    checked as the command line checks them (UsageError). tfreg.flags.make_config takes the
    command line's own path through absl."""
    values = {}
    for name, value in overrides.items():
        if name not in FIELDS:
            raise UsageError(f"Unknown command line flag '{name}'")
        if isinstance(value, (list, tuple)):
            value = ",".join(str(v) for v in value)
        if isinstance(value, str) and FIELDS[name][1].type is not str:
            try:
                value = parse_value(name, value)
            except ValueError as e:
                raise UsageError(f"flag --{name}={value}: {e}") from None
        values[name] = value
    cfg = Config().replace(**values)
    check(cfg)
    return cfg


# ---- a value as flag text and back: the one translation -------------------------------------

def format_value(name, value):
    """The flag text of a typed value: stages None -> 'all', (1, 3) -> '1,3'; tuples joined by
    commas; floats by repr (exact round trip); anything else str()."""
    if FIELDS[name][1].type == Stages:
        return "all" if value is None else ",".join(str(s) for s in value)
    if isinstance(value, tuple):
        return ",".join(_fmt(v) for v in value)
    return _fmt(value)


def _fmt(value):
    return repr(value) if isinstance(value, float) else str(value)


def parse_stages(text):
    """'all' -> None (every stage), '' or 'none' -> () (no stage), '1,3' -> (1, 3)."""
    text = text.strip()
    if text == "all":
        return None
    if not text or text == "none":
        return ()
    return tuple(int(v) for v in text.split(","))


def _int(text):
    if not text.isdigit():
        raise ValueError(f"not a whole number >= 0: {text!r}")
    return int(text)


def parse_value(name, value):
    """The typed value of flag `name` from its text (a list flag: from absl's list of strings);
    ValueError when it does not parse."""
    kind = FIELDS[name][1].type
    if kind == Stages:
        return parse_stages(value)
    if kind in (Floats, Ints):
        items = value.split(",") if isinstance(value, str) else value
        items = [v.strip() for v in items if v.strip()] if isinstance(value, str) else items
        return tuple((float if kind == Floats else _int)(v) for v in items)
    if kind is bool and isinstance(value, str):
        if value.lower() not in ("true", "false"):
            raise ValueError(f"not a boolean: {value!r}")
        return value.lower() == "true"
    return kind(value)


# ---- flags.txt: the one writer and reader ---------------------------------------------------

def to_flagfile(cfg):
    """A flagfile that repeats the run: one --flag=value per line, by section."""
    lines = []
    for section in SECTIONS:
        lines.append(f"# {section}")
        for name, value in dataclasses.asdict(getattr(cfg, section)).items():
            if name in INVOCATION_FLAGS:
                continue
            if isinstance(value, bool):
                lines.append(f"--{name}" if value else f"--no{name}")
            else:
                lines.append(f"--{name}={format_value(name, value)}")
    return "\n".join(lines) + "\n"


def default_flagfile():
    """The flagfile of every default: stands in for flags an older run's flags.txt predates."""
    return to_flagfile(Config())


def read_flagfile(path):
    """The Config a run's flags.txt records (flags it predates at their defaults), or None when it
    cannot be read or names a flag tfreg does not have."""
    try:
        values = runs.parse_flagfile(pathlib.Path(path).read_text())
        cfg = Config().replace(**{k: parse_value(k, v) for k, v in values.items()})
        check(cfg)
        return cfg
    except (OSError, UnicodeDecodeError, KeyError, ValueError, TypeError, UsageError):
        return None


def recorded_flagfile(flat):
    """The flagfile text of the flags a run recorded in its config.json ({name: JSON value}), or
    None when they cannot be read back (flags tfreg no longer has are left out)."""
    try:
        values = {k: tuple(v) if isinstance(v, list) else v for k, v in flat.items() if k in FIELDS}
        return to_flagfile(Config().replace(**values))
    except Exception:  # noqa: BLE001 - a hand-edited or foreign config.json: nothing to compare
        return None
