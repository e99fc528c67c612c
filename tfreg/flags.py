"""Every tfreg flag: its section, default, help and validator. The only place defaults live.

`define_flags(flag_values)` registers the flags on any `absl.flags.FlagValues`, so the command line
uses the global `FLAGS` while tests build fresh ones (see `tfreg.config.make_config`). `SECTIONS`
records which config section each flag belongs to; `tfreg.config` turns it into dataclasses whose
field names are exactly the flag names.
"""

import contextlib
import io
import math
import os
import re
import sys

from absl import flags

from tfreg import choices as C
from tfreg import flagfiles
from tfreg.errors import UsageError
from tfreg.models import specs

SECTIONS = {"run": [], "data": [], "augment": [], "model": [], "train": [], "eval": []}

# Flags that steer one invocation rather than describe the experiment: left out of flags.txt.
INVOCATION_FLAGS = ("dry_run", "overwrite")

MODELS = specs.MODELS
FLOAT_LIST_FLAGS = ("dropout_rates", "block_dropout_rates")
INT_LIST_FLAGS = ("lr_step_epochs", "classes")
STAGE_LIST_FLAGS = ("norm_stages", "agc_stages", "trainable_stages")


def _parse_float_list(values):
    return tuple(float(v) for v in values)


def _is_float_list(values, low, high):
    try:
        parsed = _parse_float_list(values)
    except ValueError:
        return False
    return all(low <= v < high for v in parsed)


def parse_stages(text):
    """'all' -> None (every stage), '' or 'none' -> () (no stage), '1,3' -> (1, 3)."""
    text = text.strip()
    if text == "all":
        return None
    if not text or text == "none":
        return ()
    return tuple(int(v) for v in text.split(","))


def _is_stage_list(text):
    try:
        stages = parse_stages(text)
    except ValueError:
        return False
    return stages is None or (all(s >= 1 for s in stages) and len(set(stages)) == len(stages))


INT_MAX = 2**32 - 1  # every integer flag; larger values are absurd, and seeds are 32-bit

# absl's wording of a parse error -> one line with the fix
_PARSE_FIXES = (
    (r"^(.*whole lines only.*)$", "{0}"),  # _no_inline_comment says it already
    (r"^(--no(\w+)=\S*) does not take an argument",
     "{0}: the --no form of a boolean flag takes no value; write --no{1} or --{1}=false"),
    (r"^flag (--(\w+)=\S*): \('Non-boolean argument",
     "flag {0} is not a boolean; write --{1}, --no{1} or --{1}=true/false"),
    (r"^(flag --\w+=[^:]*#.*)$",
     "{0}; a '#' after a value in a flagfile is part of the value (absl flagfiles take comments "
     "on whole lines only): put the comment on its own line"),
    (r"^(.*invalid literal for int\(\).*)$", "{0}; give a whole number"),
    (r"^(.*could not convert string to float.*)$", "{0}; give a number such as 0.1"),
    (r"^(Unknown command line flag '\w+')\. Did you mean: (.*) \?$",
     "{0}; did you mean {1}? (python -m tfreg.run --helpfull lists every flag)"),
    (r"^(Unknown command line flag .*)$",
     "{0}; python -m tfreg.run --helpfull lists every flag"),
)


def explain_parse_error(text):
    """absl's error text as one line that says what to do."""
    text = "; ".join(" ".join(line.split()) for line in text.splitlines() if line.strip())
    # list values as typed (--a=1,x), not as absl's repr of the parsed list (--a=['1', 'x'])
    text = re.sub(r"(--\w+=)\[([^\]]*)\]",
                  lambda m: m[1] + ",".join(re.findall(r"'([^']*)'", m[2])), text)
    for pattern, fix in _PARSE_FIXES:
        match = re.search(pattern, text)
        if match:
            return fix.format(*match.groups())
    return text


def parse(fv, argv):
    """fv(argv): the arguments absl left over; absl's errors as one UsageError line with the fix.
    Every --flagfile and --experiment is expanded first (tfreg.flagfiles: found relative to the
    including file, the working directory or the bundled experiments), so absl opens no file."""
    argv = flagfiles.expand(list(argv))
    absl_stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(absl_stderr):
            rest = fv(argv)
    except (flags.Error, ValueError) as e:  # ValueError: --noflag=value
        raise UsageError(explain_parse_error(str(e))) from None
    sys.stderr.write(absl_stderr.getvalue())
    return rest


def _finite(validator, message):
    """A float flag's validator that also refuses nan and inf (which pass tests such as v > 0)."""
    def check(value):
        if not math.isfinite(value):
            raise flags.ValidationError("must be a finite number" if message is None else
                                        "must be finite and " + message.removeprefix("must be "))
        return validator is None or validator(value)
    return check, message or "must be a finite number"


def _no_inline_comment(validator, message):
    """A string flag's validator that also refuses 'value  # comment' from a flagfile."""
    def check(value):
        if re.search(r"\s#", value):
            raise flags.ValidationError(
                "ends in what looks like a comment, which absl flagfiles take on whole lines only; "
                "put the comment on its own line")
        return validator is None or validator(value)
    return check, message or "must not hold a comment"


def _bounded(validator, message):
    """An integer flag's validator that also refuses values above INT_MAX."""
    def check(value):
        if validator is not None and not validator(value):
            return False
        if value > INT_MAX:
            raise flags.ValidationError(f"must be <= {INT_MAX}")
        return True
    return check, message


def define_flags(fv=flags.FLAGS):
    """Registers every tfreg flag on `fv` (idempotent per FlagValues object)."""
    if "model" in fv:
        return fv

    def define(section, definer, name, default, help_text, validator=None, message=None, **kw):
        definer(name, default, help=help_text, flag_values=fv, **kw)
        if name not in SECTIONS[section]:
            SECTIONS[section].append(name)
        if definer is flags.DEFINE_float:  # shared by every float flag
            validator, message = _finite(validator, message)
        elif definer is flags.DEFINE_string:
            validator, message = _no_inline_comment(validator, message)
        elif definer is flags.DEFINE_integer:
            validator, message = _bounded(validator, message)
        if validator is not None:
            flags.register_validator(name, validator, message=message, flag_values=fv)

    def enum(section, name, default, choices, help_text):
        define(section, flags.DEFINE_enum, name, default, help_text, enum_values=choices)

    def rate(section, name, default, help_text, inclusive=False):
        if inclusive:
            define(section, flags.DEFINE_float, name, default, help_text,
                   lambda v: 0.0 <= v <= 1.0, "must be in [0, 1]")
        else:
            define(section, flags.DEFINE_float, name, default, help_text,
                   lambda v: 0.0 <= v < 1.0, "must be in [0, 1)")

    def nonneg(section, definer, name, default, help_text):
        define(section, definer, name, default, help_text, lambda v: v >= 0, "must be >= 0")

    def positive(section, definer, name, default, help_text):
        define(section, definer, name, default, help_text, lambda v: v > 0, "must be > 0")

    # ---- run ------------------------------------------------------------------------------
    define("run", flags.DEFINE_string, "run_dir", "",
           "Run directory. Empty: runs/<model>_<dataset>_<UTC time>.")
    define("run", flags.DEFINE_bool, "overwrite", False,
           "Replace a run directory that already holds a completed run.")
    define("run", flags.DEFINE_bool, "dry_run", False,
           "Parse, validate, build data and model, print a summary and exit without training.")
    define("run", flags.DEFINE_integer, "seed", 0,
           "Seed for model init, data order, augmentation and every random layer.",
           lambda v: 0 <= v <= INT_MAX,
           f"must be >= 0 and <= {INT_MAX} (Keras, TensorFlow and NumPy seeds are 32-bit)")
    define("run", flags.DEFINE_bool, "deterministic", False,
           "Turn on TensorFlow op determinism (slower; bitwise-repeatable runs on CPU).")
    enum("run", "strategy", "auto", list(C.STRATEGIES),
         "Distribution strategy. auto: mirrored over all GPUs when there are several, else one "
         "device; multi_worker: MultiWorkerMirroredStrategy configured by the TF_CONFIG "
         "environment variable (the chief writes --run_dir, worker i writes --run_dir/worker_i).")
    enum("run", "mixed_precision", "none", list(C.PRECISIONS),
           "Keras mixed-precision policy for compute (variables stay float32).")
    define("run", flags.DEFINE_bool, "jit_compile", False, "XLA-compile the train step.")
    define("run", flags.DEFINE_bool, "saved_model", True,
           "Export saved_model/ (the `serve` signatures) beside model.keras at the end. "
           "--nosaved_model writes model.keras only: a sweep that needs no serving model saves "
           "the export's time (several seconds per run) and disk.")
    define("run", flags.DEFINE_bool, "tensorboard_images", False,
           "Write the first augmented training batch to TensorBoard (tb/train, 16 images). Off by "
           "default: the images open TensorBoard's first tab above the scalars.")
    enum("run", "verbose", "1", list(C.VERBOSITY),
           "Keras fit verbosity: 0 silent, 1 progress bar, 2 one line per epoch.")

    # ---- data -----------------------------------------------------------------------------
    enum("data", "dataset", "synthetic",
           list(C.DATASETS), "Dataset.")
    define("data", flags.DEFINE_string, "data_dir", "",
           "Folder with the dataset files (CIFAR archives or folders, Fashion-MNIST IDX files). "
           "Empty: look in the standard places.")
    positive("data", flags.DEFINE_integer, "synthetic_train_examples", 2000,
             "Training examples of the synthetic dataset.")
    positive("data", flags.DEFINE_integer, "synthetic_test_examples", 500,
             "Test examples of the synthetic dataset.")
    rate("data", "val_split", 0.0,
         "Fraction of the training set held out for validation (0 = no validation split).")
    enum("data", "split_mode", "random", list(C.SPLIT_MODES),
           "How the validation split is drawn: a random permutation, or the same fraction per class.")
    nonneg("data", flags.DEFINE_integer, "split_seed", 0, "Seed of the validation split.")
    nonneg("data", flags.DEFINE_integer, "train_examples", 0,
           "Use a class-balanced subset of this many training examples (0 = all).")
    enum("data", "normalize", "per_channel",
           list(C.NORMALIZATIONS),
           "Input normalization fitted on the training split and applied inside the model: "
           "none = x/255; per_channel = (x - mean_c)/std_c; mean_image = (x - mean image)/255; "
           "zca = ZCA whitening of x/255.")
    positive("data", flags.DEFINE_float, "zca_epsilon", 0.1,
             "Added to the eigenvalues of the covariance (of x/255) before ZCA whitening.")
    positive("data", flags.DEFINE_integer, "batch_size", 128, "Global training batch size.")
    nonneg("data", flags.DEFINE_integer, "eval_batch_size", 500,
           "Batch size of the inference passes (validation, test, TTA views, MC dropout): "
           "per-example results do not depend on it beyond float rounding, and large batches "
           "are cheaper per image (0 = --batch_size).")
    define("data", flags.DEFINE_list, "classes", [],
           "Keep only these classes (train and test), relabelled 0..n-1 in the order given, e.g. "
           "0,1,2,3,4 (empty = every class). Transfer learning: pre-train on one split of classes.",
           lambda v: all(c.isdigit() for c in v) and len(set(v)) == len(v) and len(v) != 1,
           "must be distinct class numbers >= 0, at least two")

    # ---- augment (per example in tf.data unless said otherwise) --------------------------
    nonneg("augment", flags.DEFINE_integer, "pad_crop_pixels", 0,
           "Zero-pad by this many pixels, then crop back to size at a random offset (0 = off).")
    enum("augment", "flip", "none", list(C.FLIPS),
           "Random flips, each with probability 0.5.")
    rate("augment", "random_erasing_prob", 0.0,
         "Probability of random erasing (Zhong et al. 2020) per image (0 = off).", inclusive=True)
    define("augment", flags.DEFINE_float, "random_erasing_area_min", 0.02,
           "Smallest erased area as a fraction of the image.", lambda v: 0 < v < 1, "must be in (0, 1)")
    define("augment", flags.DEFINE_float, "random_erasing_area_max", 0.4,
           "Largest erased area as a fraction of the image.", lambda v: 0 < v <= 1, "must be in (0, 1]")
    positive("augment", flags.DEFINE_float, "random_erasing_aspect_min", 0.3,
             "Smallest aspect ratio (height / width) of the erased rectangle.")
    positive("augment", flags.DEFINE_float, "random_erasing_aspect_max", 1 / 0.3,
             "Largest aspect ratio (height / width) of the erased rectangle.")
    enum("augment", "random_erasing_fill", "random", list(C.ERASING_FILLS),
           "Erased pixels: uniform random values, zero (black), or the training mean colour.")
    nonneg("augment", flags.DEFINE_integer, "cutout_pixels", 0,
           "Side of the cutout square (DeVries & Taylor 2017) in pixels (0 = off).")
    rate("augment", "cutout_prob", 1.0, "Probability that an image gets a cutout square.", inclusive=True)
    enum("augment", "cutout_fill", "zero", list(C.CUTOUT_FILLS),
           "Cutout pixels: zero (black, in raw pixel space) or the training mean colour "
           "(what zero means after normalization in the paper's code).")
    nonneg("augment", flags.DEFINE_integer, "cutout_extra_per_batch", 0,
           "After batching, append cutout copies of the batch's first k images with their labels "
           "(the ResNet-50 study's 'cutout images per batch'): each copy has exactly one "
           "--cutout_pixels square, the batch's own images none (per-example cutout is off), so a "
           "step trains on --batch_size + k images.")
    nonneg("augment", flags.DEFINE_float, "color_jitter", 0.0,
           "Colour jitter strength s: brightness, contrast and saturation factors in "
           "[max(0, 1-s), 1+s], hue shift in [-s/2, s/2] turns (capped at 0.5) (0 = off).")
    nonneg("augment", flags.DEFINE_float, "rotation_degrees", 0.0,
           "Random rotation in [-d, d] degrees (0 = off).")
    rate("augment", "translate_fraction", 0.0,
         "Random translation up to this fraction of the height / width (0 = off).")
    define("augment", flags.DEFINE_float, "shear_degrees", 0.0,
           "Random horizontal shear in [-d, d] degrees (0 = off).",
           lambda v: 0 <= v < 90, "must be in [0, 90)")
    rate("augment", "zoom_fraction", 0.0,
         "Random isotropic scale in [1-z, 1+z] (0 = off).")
    nonneg("augment", flags.DEFINE_float, "noise_std", 0.0,
           "Std of Gaussian pixel noise, in units of the [0, 1] intensity range (0 = off).")
    rate("augment", "randaugment_magnitude", 0.0,
         "RandAugment (Cubuk et al. 2020) strength, keras.layers.RandAugment's factor: each op "
         "draws its strength from [0, m] of its range (0 = off). After pad-crop and flip.",
         inclusive=True)
    positive("augment", flags.DEFINE_integer, "randaugment_ops", 2,
             "RandAugment ops per image, drawn with replacement from Keras's 11.")
    rate("augment", "augmix_severity", 0.0,
         "AugMix (Hendrycks et al. 2020) strength, keras.layers.AugMix's factor (the paper's "
         "severity 3 of 10 = 0.3): 3 chains of up to 3 ops mixed with the image (0 = off).",
         inclusive=True)
    # batch mixing acts in the train step, on the device
    nonneg("augment", flags.DEFINE_float, "mixup_alpha", 0.0,
           "Mixup (Zhang et al. 2018) Beta(alpha, alpha) parameter (0 = off). Train step.")
    nonneg("augment", flags.DEFINE_float, "cutmix_alpha", 0.0,
           "CutMix (Yun et al. 2019) Beta(alpha, alpha) parameter (0 = off). With mixup also on, "
           "each batch uses one of the two with probability 0.5. Train step.")
    rate("augment", "mix_prob", 1.0, "Probability that a batch (or example) is mixed.", inclusive=True)
    enum("augment", "mix_lambda", "batch", list(C.MIX_LAMBDAS),
           "One mixing coefficient per batch (papers) or one per example.")

    # ---- model ----------------------------------------------------------------------------
    enum("model", "model", "resnet20", list(MODELS), "Architecture.")
    enum("model", "stem", "cifar", list(C.STEMS),
           "ResNet stem: cifar = 3x3 stride 1, no max-pool; imagenet = 7x7 stride 2 + 3x3 max-pool.")
    define("model", flags.DEFINE_float, "width_multiplier", 1.0, "Scales every channel count.",
           lambda v: 0 < v <= 16, "must be in (0, 16] (wide ResNets use up to 10)")
    enum("model", "norm", "batch", list(C.NORMS),
           "Normalization in every norm slot.")
    define("model", flags.DEFINE_string, "norm_stages", "all",
           "1-based stages that keep normalization: 'all', a list such as '1,2', or empty for none. "
           "The stem's norm follows stage 1.", _is_stage_list, "must be 'all', '' or distinct ints >= 1")
    positive("model", flags.DEFINE_integer, "norm_groups", 32,
             "Groups of group norm (reduced to gcd(groups, channels) in narrow layers).")
    define("model", flags.DEFINE_float, "bn_momentum", 0.9,
           "Batch-norm moving-average momentum, Keras convention (PyTorch momentum 0.1 = 0.9 here).",
           lambda v: 0 <= v < 1, "must be in [0, 1)")
    positive("model", flags.DEFINE_float, "norm_epsilon", 1e-5, "Epsilon of every norm layer.")
    enum("model", "batch_norm_kernel", "fused", list(C.BATCH_NORM_KERNELS),
         "How batch norm trains: fused = TensorFlow's fused kernel (oneDNN / cuDNN), the same "
         "function as Keras's layer to float32 rounding with less CPU work per image (1.13x in "
         "float32, 1.4x with --mixed_precision=bfloat16 on a 2-core AMX Xeon, ResNet-18; "
         "benchmarks/README.md); several replicas (synchronized batch norm) take Keras's path. "
         "keras = Keras 3's layer (element-wise ops in float32), the reference. Other --norm "
         "choices ignore it.")
    define("model", flags.DEFINE_list, "dropout_rates", [],
           "Dropout rate after the output of stage i, e.g. 0.1,0.2,0.3 (later stages get none).",
           lambda v: _is_float_list(v, 0, 1), "must be comma-separated rates in [0, 1)")
    define("model", flags.DEFINE_list, "block_dropout_rates", [],
           "Dropout at each normalization position inside every block, e.g. 0.2,0.5.",
           lambda v: _is_float_list(v, 0, 1), "must be comma-separated rates in [0, 1)")
    rate("model", "head_dropout_rate", 0.0, "Dropout before the classifier.")
    rate("model", "drop_path_rate", 0.0,
         "Stochastic depth: drop probability p_L of the last block; the other blocks' rates follow "
         "--drop_path_rule.")
    enum("model", "drop_path_mode", "batch", list(C.DROP_PATH_MODES),
           "batch: one draw per mini-batch, a dropped branch is not computed, no training rescale, "
           "residual times survival probability at test (Huang et al. 2016); sample: per example, "
           "1/keep rescale (timm).")
    enum("model", "drop_path_rule", "auto", list(C.DROP_PATH_RULES),
           "Per-block drop rates over L blocks: paper = l/L * p_L for l = 1..L (Huang et al. 2016); "
           "timm = 0 at the first block, linear to p_L at the last; auto = paper in batch mode, "
           "timm in sample mode.")
    enum("model", "activation", "relu", list(C.ACTIVATIONS),
           "Activation in every block.")
    enum("model", "head", "gap", list(C.HEADS),
           "gap: global average pool of the last stage; multiscale: pool every stage, concatenate.")
    define("model", flags.DEFINE_bool, "zero_init_residual", False,
           "Initialize each block's last norm scale to zero.")
    define("model", flags.DEFINE_bool, "weight_standardization", False,
           "Scaled weight-standardized convolutions (Brock et al. 2021), for normalizer-free nets.")

    # ---- train ----------------------------------------------------------------------------
    positive("train", flags.DEFINE_integer, "epochs", 10, "Training epochs.")
    nonneg("train", flags.DEFINE_integer, "steps_per_epoch", 0,
           "Training steps per epoch (0 = one pass over the training split).")
    enum("train", "optimizer", "sgd", list(C.OPTIMIZERS),
           "Optimizer.")
    positive("train", flags.DEFINE_float, "learning_rate", 0.1, "Peak learning rate.")
    define("train", flags.DEFINE_float, "momentum", 0.9, "SGD / RMSprop momentum.",
           lambda v: 0 <= v < 1, "must be in [0, 1)")
    define("train", flags.DEFINE_bool, "nesterov", False, "Nesterov momentum (SGD).")
    define("train", flags.DEFINE_float, "beta_1", 0.9, "Adam beta_1.",
           lambda v: 0 <= v < 1, "must be in [0, 1)")
    define("train", flags.DEFINE_float, "beta_2", 0.999, "Adam beta_2.",
           lambda v: 0 <= v < 1, "must be in [0, 1)")
    define("train", flags.DEFINE_float, "rmsprop_rho", 0.99,
           "RMSprop squared-gradient average (PyTorch alpha 0.99; Keras defaults to 0.9).",
           lambda v: 0 <= v < 1, "must be in [0, 1)")
    positive("train", flags.DEFINE_float, "optimizer_epsilon", 1e-8,
             "Epsilon of Adam, AdamW and RMSprop (PyTorch's 1e-8; Keras defaults to 1e-7).")
    enum("train", "lr_schedule", "cosine", list(C.LR_SCHEDULES),
           "Learning-rate schedule after warmup, evaluated at every step.")
    nonneg("train", flags.DEFINE_float, "lr_min", 0.0, "Final rate of cosine and linear decay.")
    define("train", flags.DEFINE_list, "lr_step_epochs", [],
           "Epochs at which the step schedule multiplies the rate by --lr_step_factor.",
           lambda v: all(s.isdigit() and int(s) > 0 for s in v), "must be positive integers")
    define("train", flags.DEFINE_float, "lr_step_factor", 0.1, "Step-schedule factor.",
           lambda v: 0 < v <= 1, "must be in (0, 1]")
    nonneg("train", flags.DEFINE_float, "warmup_epochs", 0.0,
           "Linear warmup from learning_rate/warmup_steps to learning_rate.")
    nonneg("train", flags.DEFINE_float, "weight_decay", 0.0, "Weight decay (0 = off).")
    enum("train", "weight_decay_mode", "l2", list(C.WEIGHT_DECAY_MODES),
           "l2: gradient += wd * w before momentum (PyTorch SGD); decoupled: w -= lr * wd * w "
           "(AdamW, Keras optimizer weight_decay).")
    enum("train", "weight_decay_exclude", "none", list(C.WEIGHT_DECAY_EXCLUDES),
           "Parameters spared from weight decay.")
    enum("train", "loss", "crossentropy", list(C.LOSSES),
           "crossentropy on logits, or mean squared error of softmax against (mixed) one-hot targets.")
    rate("train", "label_smoothing", 0.0, "Label smoothing epsilon (0 = off).")
    enum("train", "label_smoothing_style", "uniform", list(C.LABEL_SMOOTHING_STYLES),
           "uniform: eps/C to every class (Keras, PyTorch); off_target: 1-eps to the true class and "
           "eps/(C-1) to each other class.")
    nonneg("train", flags.DEFINE_float, "agc_clip", 0.0,
           "Adaptive gradient clipping threshold (Brock et al. 2021) (0 = off).")
    positive("train", flags.DEFINE_float, "agc_eps", 1e-3, "AGC epsilon on parameter norms.")
    define("train", flags.DEFINE_string, "agc_stages", "all",
           "1-based stages whose parameters AGC clips: 'all', a list such as '3,4', or empty. "
           "'all' also covers the stem and head (never the classifier kernel).",
           _is_stage_list, "must be 'all', '' or distinct ints >= 1")
    nonneg("train", flags.DEFINE_integer, "early_stopping_patience", 0,
           "Stop after this many epochs without improvement and restore the best weights (0 = off).")
    enum("train", "early_stopping_monitor", "val_loss",
           list(C.EARLY_STOPPING_MONITORS), "Metric watched by early stopping.")
    define("train", flags.DEFINE_float, "target_train_accuracy", 0.0,
           "Record wall time and epoch when training accuracy first reaches this (0 = off).",
           lambda v: 0 <= v <= 1, "must be in [0, 1]")
    # transfer learning (tfreg/train/transfer.py)
    define("train", flags.DEFINE_string, "init_from", "",
           "Start from the final weights (model.keras) of this run directory: every layer whose name "
           "and shapes match, input normalization included; the classifier is re-initialized when "
           "its shape or the labels (--dataset, --classes) differ. Empty: random initialization.",
           lambda v: not v or os.path.isfile(os.path.join(v, "model.keras")),
           "must be the directory of a completed tfreg run (it holds model.keras)")
    define("train", flags.DEFINE_string, "trainable_stages", "all",
           "1-based stages that train: 'all', 'none' (only the classifier: a linear classifier on "
           "top) or a list such as '4' (fine-tune the last stage). The stem follows stage 1; the "
           "classifier always trains. Frozen batch norm runs in inference mode.",
           _is_stage_list, "must be 'all', 'none', '' or distinct ints >= 1")
    nonneg("train", flags.DEFINE_integer, "probe_stage", 0,
           "Put the linear classifier on stage k's globally pooled output and drop the later "
           "stages (0 = off); with --trainable_stages=none a linear probe of stage k.")

    # ---- eval -----------------------------------------------------------------------------
    enum("eval", "tta", "none", list(C.TTA_MODES),
           "Test-time augmentation: flip averages the image and its mirror; crops averages four "
           "corner crops and the centre of the padded image, each with its mirror; multiscale "
           "resizes to 1, 1.125 and 1.25 x the size and averages the image and the corner and "
           "centre crops of each larger scale, each with its mirror (22 views).")
    positive("eval", flags.DEFINE_integer, "tta_crop_pixels", 4,
             "Padding used to cut the corner crops of --tta=crops.")
    nonneg("eval", flags.DEFINE_integer, "mc_dropout_samples", 0,
           "Average this many dropout masks at test time, norm layers in inference mode (0 = off).")
    nonneg("eval", flags.DEFINE_integer, "test_every_epochs", 1,
           "Evaluate the test set after every k-th epoch and after the last one trained (0 = "
           "after the last only); with a validation split the best validation epoch's weights are "
           "kept (in the checkpoint too) and tested once at the end, so the test accuracy at the "
           "best validation epoch (the studies' endpoint) is always recorded; history.csv leaves "
           "the test columns of the other epochs empty. Training "
           "is unchanged, so a resume may change it. A pass over a 10,000-image test set costs "
           "about as much as a mini run's epoch of training.")

    _register_cross_validators(fv)
    return fv


def _register_cross_validators(fv):
    def check(names, predicate, message):
        flags.register_multi_flags_validator(names, predicate, message=message, flag_values=fv)

    check(["random_erasing_area_min", "random_erasing_area_max"],
          lambda d: d["random_erasing_area_min"] <= d["random_erasing_area_max"],
          "--random_erasing_area_min must be <= --random_erasing_area_max")
    check(["random_erasing_aspect_min", "random_erasing_aspect_max"],
          lambda d: d["random_erasing_aspect_min"] <= d["random_erasing_aspect_max"],
          "--random_erasing_aspect_min must be <= --random_erasing_aspect_max")
    check(["cutout_extra_per_batch", "cutout_pixels"],
          lambda d: d["cutout_extra_per_batch"] == 0 or d["cutout_pixels"] > 0,
          "--cutout_extra_per_batch needs --cutout_pixels > 0")
    check(["cutout_extra_per_batch", "cutout_prob"],
          lambda d: d["cutout_extra_per_batch"] == 0 or d["cutout_prob"] == 1.0,
          "--cutout_prob applies to per-example cutout, which --cutout_extra_per_batch turns off "
          "(each extra copy gets exactly one square); drop --cutout_prob")
    check(["norm", "norm_stages"],
          lambda d: d["norm"] != "none" or d["norm_stages"].strip() in ("all", ""),
          "--norm_stages needs a --norm other than none")
    check(["model", "stem"],
          lambda d: d["stem"] == "cifar" or d["model"] in specs.IMAGENET_STEM_MODELS,
          "--stem=imagenet applies to resnet18/34/50/101/152 only")
    check(["probe_stage", "head"], lambda d: d["probe_stage"] == 0 or d["head"] == "gap",
          "--probe_stage puts its own pooled linear classifier on the stage; drop --head=multiscale")
    check(["probe_stage", "trainable_stages"],
          lambda d: d["probe_stage"] == 0 or not _is_stage_list(d["trainable_stages"])
          or all(s <= d["probe_stage"] for s in parse_stages(d["trainable_stages"]) or ()),
          "--trainable_stages names a stage after --probe_stage, which the probe drops")
    check(["lr_schedule", "lr_step_epochs"],
          lambda d: d["lr_schedule"] != "step" or len(d["lr_step_epochs"]) > 0,
          "--lr_schedule=step needs --lr_step_epochs, e.g. 100,150")
    check(["lr_min", "learning_rate"], lambda d: d["lr_min"] <= d["learning_rate"],
          "--lr_min must be <= --learning_rate")
    check(["optimizer", "weight_decay_mode", "weight_decay"],
          lambda d: d["optimizer"] != "adamw" or d["weight_decay_mode"] == "decoupled"
          or d["weight_decay"] == 0,
          "--optimizer=adamw decays decoupled by definition: add --weight_decay_mode=decoupled, "
          "or use --optimizer=adam for l2 decay")
    check(["drop_path_rule", "drop_path_rate"],
          lambda d: d["drop_path_rule"] == "auto" or d["drop_path_rate"] > 0,
          "--drop_path_rule needs --drop_path_rate > 0")
    check(["weight_decay_exclude", "weight_decay"],
          lambda d: d["weight_decay_exclude"] == "none" or d["weight_decay"] > 0,
          "--weight_decay_exclude needs --weight_decay > 0")
    check(["mix_prob", "mixup_alpha", "cutmix_alpha"],
          lambda d: d["mix_prob"] == 1.0 or d["mixup_alpha"] > 0 or d["cutmix_alpha"] > 0,
          "--mix_prob needs --mixup_alpha or --cutmix_alpha > 0")
    check(["early_stopping_patience", "early_stopping_monitor", "val_split"],
          lambda d: d["early_stopping_patience"] == 0 or d["val_split"] > 0
          or not d["early_stopping_monitor"].startswith("val_"),
          "--early_stopping_monitor=val_* needs --val_split > 0")
    check(["jit_compile", "strategy"],
          lambda d: not (d["jit_compile"] and d["strategy"] == "multi_worker"),
          "--jit_compile is not supported with --strategy=multi_worker; drop --jit_compile")
    check(["jit_compile", "deterministic"],
          lambda d: not (d["jit_compile"] and d["deterministic"]),
          "--jit_compile cannot be combined with --deterministic (XLA kernels do not support "
          "TensorFlow op determinism); drop one of them")
    check(["weight_standardization", "model"],
          lambda d: not d["weight_standardization"] or d["model"] != "vgg11",
          "--weight_standardization applies to ResNets only")
