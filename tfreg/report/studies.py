"""The five studies' reference tables: arm -> the source document's number, where it comes from,
the arm it is compared against, the target training accuracy and the figures that apply.

Numbers are the documents' own (../shared/EXPERIMENTS.md, seeds 000-004), measured on CIFAR with
GPUs, stored as fractions (57.28% -> 0.5728). An arm's `baseline` is the arm the document compares
it with; the delta (arm - baseline) is what the report sets beside ours. A document that reports no
number for an arm has None there, and the report says "no reference".
"""

import dataclasses

# Flags that make an arm a regularizer in the lecture's sense ("improve your test error:
# regularization"); the lecture gives no numbers, only the claim that these lower test error.
REGULARIZER_FLAGS = frozenset({
    "pad_crop_pixels", "flip", "random_erasing_prob", "cutout_pixels", "cutout_extra_per_batch",
    "color_jitter", "rotation_degrees", "translate_fraction", "shear_degrees", "zoom_fraction",
    "noise_std", "mixup_alpha", "cutmix_alpha", "randaugment_magnitude", "augmix_severity",
    "dropout_rates", "block_dropout_rates", "head_dropout_rate", "drop_path_rate", "weight_decay",
    "label_smoothing", "early_stopping_patience", "tta", "mc_dropout_samples",
})

FIGURES = ("test_accuracy", "accuracy_vs_dropout", "bn_dropout_heatmap", "agc_heatmap", "lr", "gap")


@dataclasses.dataclass(frozen=True)
class Ref:
    """One arm of a study: the document's numbers (fractions; None where it gives none)."""
    arm: str
    settings: str
    source: str
    baseline: str | None = None      # the arm it is compared with (None: it is a baseline)
    test_accuracy: float | None = None
    best_test_accuracy: float | None = None
    best_test_epoch: int | None = None
    train_loss: float | None = None
    train_accuracy: float | None = None
    test_loss: float | None = None
    val_loss: float | None = None
    val_accuracy: float | None = None
    note: str = ""


@dataclasses.dataclass(frozen=True)
class Study:
    name: str
    seed_file: str
    paper: str                        # the document's setup, in one sentence
    baseline: str                     # compared with arms the table does not list
    groups: tuple                     # ((title, (Ref, ...)), ...) in the document's order
    target_train_accuracy: float | None = None
    figures: tuple = ("test_accuracy", "lr", "gap")
    claim_regularizers: bool = False  # no numbers: expect regularizer arms to raise test accuracy

    @property
    def refs(self):
        return {r.arm: r for _, refs in self.groups for r in refs}


S0 = "seed 000"
_ai6103_group = Study(
    name="ai6103_group", seed_file="seeds/000_535167a9dc236fdb.txt",
    paper="ResNet-34 on CIFAR-100 (assumed), SGD momentum 0.9, one run per arm, GPU; "
          "100 or 300 epochs depending on the section",
    baseline="ls_baseline",
    groups=(
        ("Label smoothing and data augmentation (lr 0.01, cosine)", (
            Ref("ls_baseline", "lr 0.01, cosine annealing, no augmentation",
                f"{S0}, label smoothing & data augmentation 'Performance' table, Baseline row; "
                "best from the text", None, 0.5728, 0.5760, 91, 0.0003, 0.9998, 2.4624),
            Ref("ls_0.1", "+ label smoothing 0.1 (eps/(C-1) off target)",
                f"{S0}, label smoothing 'Performance' table; best from the text",
                "ls_baseline", 0.5546, 0.5764, 32, 0.7798, 0.9999, 2.6283),
            Ref("ls_0.2", "+ label smoothing 0.2", f"{S0}, label smoothing 'Performance' table",
                "ls_baseline", 0.5549, 0.5801, 14, 1.4092, 0.9998, 2.9672),
            Ref("augment", "+ random crop, horizontal flip, random erasing",
                f"{S0}, data augmentation 'Performance' table", "ls_baseline",
                0.7432, None, None, 0.0166, 0.9951, 1.4874),
        )),
        ("Mixup (lr 0.01 constant, weight decay 1e-4)", (
            Ref("mixup_baseline", "lr 0.01, no schedule, weight decay 1e-4",
                f"{S0}, mixup 'Performance' table, Baseline row", None,
                0.7774, None, None, 0.5877, 0.902308, 0.9020),
            Ref("mixup_1.0", "+ mixup alpha 1, lambda per example",
                f"{S0}, mixup 'Performance' table, alpha = 1 row", "mixup_baseline",
                0.8010, None, None, 1.3221, 0.709455, 0.8698),
        )),
        ("Weight decay (lr 0.01 constant, no transform, 100 epochs)", (
            Ref("wd_5e-4", "weight decay 5e-4", f"{S0}, weight decay table, 5e-4 row", None,
                0.6669, None, None, 0.1449, 0.9577, 11.5548),
            Ref("wd_1e-2", "weight decay 1e-2 (stronger)", f"{S0}, weight decay table, 1e-2 row",
                "wd_5e-4", 0.4978, None, None, 1.5189, 0.5971, 1.8973),
        )),
        ("Dropout in place of batch norm (100 epochs)", (
            Ref("dropout_0.5_0.5", "BN replaced by dropout 0.5 and 0.5 in each block",
                f"{S0}, dropout table, 0.5+0.5 row", None, 0.6498, None, None, 0.5703, 0.8191, 1.6227),
            Ref("dropout_0.2_0.5", "BN replaced by dropout 0.2 and 0.5",
                f"{S0}, dropout table, 0.2+0.5 row", "dropout_0.5_0.5",
                0.6813, None, None, 0.3469, 0.8879, 1.6588),
        )),
        ("Stochastic depth (linear decay to survival 0.5, 300 epochs)", (
            Ref("sd_baseline", "stochastic depth", f"{S0}, Table 1, Baseline row", None,
                0.5892, None, None, 0.4989, 0.8524, 1.6992),
            Ref("sd_wd_5e-4", "+ weight decay 5e-4", f"{S0}, Table 1, 5e-4 row", "sd_baseline",
                0.5955, None, None, 1.0064, 0.7380, 1.5424),
        )),
    ),
)

S1 = "seed 001"
_T4 = "test loss printed as ~0.003 there (divided by the batch size twice?), left out"
_ai6103_hparams = Study(
    name="ai6103_hparams", seed_file="seeds/001_7f4bb1c7385bb553.txt",
    paper="ResNet-18 (assumed) on CIFAR-100 split 40,000 / 10,000, pad-crop + flip, batch 128, "
          "one run per arm, GPU",
    baseline="lr_0.05",
    groups=(
        ("Initial learning rate (15 epochs, no weight decay, no schedule)", (
            Ref("lr_0.05", "lr 0.05", f"{S1}, Tables 1 and 2", None, 0.4648,
                train_loss=1.7398, train_accuracy=0.5097, val_loss=2.1113, val_accuracy=0.4465, note=_T4),
            Ref("lr_0.01", "lr 0.01", f"{S1}, Tables 1 and 2", "lr_0.05", 0.4053,
                train_loss=2.0283, train_accuracy=0.4477, val_loss=2.386, val_accuracy=0.381, note=_T4),
            Ref("lr_0.5", "lr 0.5", f"{S1}, Tables 1 and 2", "lr_0.05", 0.3992,
                train_loss=2.0919, train_accuracy=0.4289, val_loss=2.4005, val_accuracy=0.3751, note=_T4),
        )),
        ("Learning-rate schedule (lr 0.05, 300 epochs)", (
            Ref("sched_constant", "constant lr 0.05", f"{S1}, Tables 3 and 4, C row", None, 0.5633,
                train_loss=0.006, train_accuracy=0.9981, val_loss=3.7616, val_accuracy=0.5495, note=_T4),
            Ref("sched_cosine", "cosine annealing, eta_min 0, T 300", f"{S1}, Tables 3 and 4, CA row",
                "sched_constant", 0.5686, train_loss=0.0011, train_accuracy=0.9998,
                val_loss=3.3232, val_accuracy=0.5638, note=_T4),
        )),
        ("Weight decay (cosine, 300 epochs)", (
            Ref("wd_5e-4", "+ weight decay 5e-4", f"{S1}, Tables 5-7", "sched_cosine", 0.6818,
                train_loss=0.0121, train_accuracy=0.9995, val_loss=1.4243, val_accuracy=0.6757, note=_T4),
            Ref("wd_1e-4", "+ weight decay 1e-4", f"{S1}, Tables 5-7", "sched_cosine", 0.6325,
                train_loss=0.0033, train_accuracy=0.9999, val_loss=1.7263, val_accuracy=0.6247, note=_T4),
        )),
        ("Mixup (weight decay 5e-4, cosine, 300 epochs)", (
            Ref("mixup_0.2", "+ mixup alpha 0.2", f"{S1}, Tables 8 and 9", "wd_5e-4", 0.7066,
                train_loss=0.8321, train_accuracy=0.4841, val_loss=1.2223, val_accuracy=0.6983, note=_T4),
        )),
    ),
)

S2 = "seed 002"
_bn_resnet18 = Study(
    name="bn_resnet18", seed_file="seeds/002_79b3815d7ed40a0d.txt",
    paper="ResNet-18 with a 3x3 first convolution on CIFAR-10, 200 epochs, one run per arm, GPU",
    baseline="baseline_7x7",
    groups=(
        ("Stem and learning-rate decay (1.1-1.2)", (
            Ref("baseline_7x7", "ImageNet 7x7 stem", f"{S2}, section 1.1", None,
                note="no number: 'overfitting after 150 iterations'"),
            Ref("stem_3x3", "3x3 stem, lr decay", f"{S2}, section 1.1", "baseline_7x7", 0.819),
        )),
        ("Augmentation and regularization (1.3-1.5)", (
            Ref("augment", "+ pad-and-crop, flip p=0.5", f"{S2}, section 1.3", "stem_3x3", 0.915),
            Ref("l2", "+ L2 1e-5", f"{S2}, section 1.4", "augment", 0.926),
            Ref("l2_dropout", "+ L2 1e-5 and dropout", f"{S2}, section 1.4", "l2", 0.917),
            Ref("multiscale_head", "pool every stage's output, concatenate, dense",
                f"{S2}, section 1.5 and Table 2", "l2", 0.928),
        )),
        ("Optimizer and loss (1.6)", (
            Ref("opt_adam", "Adam(beta1 0.5, beta2 0.9) lr 1e-3, decay at epoch 100",
                f"{S2}, section 1.6 and Table 1", None, 0.928),
            Ref("opt_sgd", "SGD instead of Adam", f"{S2}, section 1.6", "opt_adam", 0.918),
            Ref("opt_rmsprop", "RMSprop instead of Adam", f"{S2}, section 1.6", "opt_adam", 0.925),
            Ref("loss_mse", "MSE on one-hot targets", f"{S2}, section 1.6", "opt_adam", 0.912),
        )),
        ("Activation (1.7)", (
            Ref("act_swish", "swish instead of ReLU", f"{S2}, section 1.7", "opt_adam", 0.907),
            Ref("act_mish", "mish instead of ReLU", f"{S2}, section 1.7", "opt_adam", 0.882),
        )),
        ("VGG-A with and without batch norm (2.1-2.2)", (
            Ref("vgg_a", "VGG-A (VGG-11) without BN", f"{S2}, section 2.2", None, 0.78,
                note="validation accuracy"),
            Ref("vgg_a_bn", "VGG-A with BN", f"{S2}, section 2.2", "vgg_a", 0.83,
                note="validation accuracy"),
        )),
    ),
)

S3 = "seed 003"
_resnet50 = Study(
    name="resnet50_regularization", seed_file="seeds/003_c08243f3aa52b629.txt",
    paper="ResNet-50 from scratch on CIFAR-10, 200 epochs, TensorFlow on one V100, one run per arm",
    baseline="baseline", target_train_accuracy=0.87,
    figures=FIGURES,
    groups=(
        ("Final six models (section 5, Figure 11)", (
            Ref("baseline", "no regularization", f"{S3}, section 6", None, 0.69),
            Ref("bn2_sym_dropout", "BN in 2 stages + dropout 0.2 after 3 stages",
                f"{S3}, Figure 11 (no number in the text)", "baseline"),
            Ref("sym_augment", "+ data augmentation", f"{S3}, Figure 11 (no number in the text)",
                "baseline"),
            Ref("asym_augment", "BN2 + dropout [0.1, 0.2, 0.3] + augmentation (best)",
                f"{S3}, section 6", "baseline", 0.87,
                note="the same section also says 85%"),
            Ref("sym_cutout2", "BN2 + dropout 0.2 x3 + 2 cutout images per batch",
                f"{S3}, Figure 11 (no number in the text)", "baseline"),
            Ref("asym_cutout2", "BN2 + dropout [0.1, 0.2, 0.3] + 2 cutout images per batch",
                f"{S3}, Figure 11 (no number in the text)", "baseline"),
        )),
        ("AGC instead of batch norm (Figure 8)", (
            Ref("agc", "no BN, AGC clip 0.02, batch 256", f"{S3}, Figure 8 (no number in the text)",
                "baseline"),
        )),
    ),
)

_lecture = Study(
    name="cs5489_lecture", seed_file="seeds/004_1370ed1b1c10bc45.txt",
    paper="a lecture: no measured numbers; it claims that regularizers (augmentation, dropout, "
          "stochastic depth, mixup, cutmix, early stopping, ...) lower test error",
    baseline="baseline", groups=(), claim_regularizers=True,
    figures=("test_accuracy", "accuracy_vs_dropout", "lr", "gap"),
)

STUDIES = {s.name: s for s in (_ai6103_group, _ai6103_hparams, _bn_resnet18, _resnet50, _lecture)}
