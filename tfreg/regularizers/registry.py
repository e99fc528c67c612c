"""Every regularizer tfreg has, one record each: the config fields it owns, where it acts, its
`--dry_run` line, the Keras classes a saved model needs registered, and the values that turn it on.

What is derived from these records instead of being listed again:

- the "active regularizers" of `--dry_run` (`lines`, in this table's order; the per-example
  augmentations are listed, and applied by tfreg.data.pipeline, in this order);
- the set of regularizer flags (`flags`) and the "everything on" flag sets of the tests, the
  benchmark and the GPU check (`everything_on`);
- the Keras classes that tfreg.export registers before `model.keras` is saved or loaded
  (`register_classes`).

The fields themselves stay in tfreg.config, which owns each one's type, default, help and check;
a record names them (tests/test_registry.py checks that each exists and that every field of the
config is either a regularizer's or listed there as another setting). Plain Python: the report,
the sweep and the benchmark harness read it without loading TensorFlow.
"""

import dataclasses
import importlib
from typing import Callable, Optional

from tfreg import config

# Where a regularizer acts: the tf.data input pipeline (per example or per batch), the model
# graph, the loss, the optimizer's update, the training loop around the step (starting weights,
# early stopping), or evaluation only.
SITES = ("data", "graph", "loss", "optimizer", "training", "inference")


@dataclasses.dataclass(frozen=True)
class Regularizer:
    """One regularization technique.

    name: short name (a data record's dry-run line reads `augment.<name>: ...`).
    site: one of SITES.
    fields: the tfreg.config fields (flag names) it owns; a field may be shared (mix_prob).
    describe: cfg -> its dry-run text, None when the flags leave it off.
    on: {field: typed value} that turns it on for the "everything on" sets; None for a setting
        that no such set should change (starting weights, frozen stages).
    classes: "module:Class" of each Keras class it puts into a model or loss, registered with
        keras.saving.register_keras_serializable(package="tfreg").
    """
    name: str
    site: str
    fields: tuple
    describe: Callable[[object], Optional[str]]
    on: Optional[dict] = None
    classes: tuple = ()

    def line(self, cfg):
        """Its line under `active regularizers:` in --dry_run, or None when off."""
        text = self.describe(cfg)
        if text is None:
            return None
        return f"augment.{self.name}: {text}" if self.site == "data" else text


def _stages(stages):
    return "all" if stages is None else (",".join(map(str, stages)) or "none")


def _rates(rates):
    return ",".join(f"{r:g}" for r in rates)


def _when(condition, text):
    """text() when the condition holds, else None (text is only formatted when on)."""
    return text() if condition else None


def _augment(name, fields, condition, text, on):
    """A per-example or per-batch augmentation: condition(a) and text(a) read cfg.augment."""
    return Regularizer(name, "data", fields,
                       lambda cfg: _when(condition(cfg.augment), lambda: text(cfg.augment)), on)


_DROPOUT = ("tfreg.regularizers.dropout:Dropout",)

# In the order of the dry-run listing; the per-example augmentations (through random_erasing) in
# the order the input pipeline applies them: geometry first, erasing last.
REGULARIZERS = (
    _augment(
        "affine", ("rotation_degrees", "shear_degrees", "zoom_fraction", "translate_fraction"),
        lambda a: a.rotation_degrees or a.shear_degrees or a.zoom_fraction or a.translate_fraction,
        lambda a: f"rotation ±{a.rotation_degrees}°, shear ±{a.shear_degrees}°, zoom "
                  f"±{a.zoom_fraction}, translate ±{a.translate_fraction}",
        dict(rotation_degrees=10.0, translate_fraction=0.1, shear_degrees=5.0, zoom_fraction=0.1)),
    _augment("pad_crop", ("pad_crop_pixels",), lambda a: a.pad_crop_pixels,
             lambda a: f"pad {a.pad_crop_pixels} px, random crop", dict(pad_crop_pixels=4)),
    _augment("flip", ("flip",), lambda a: a.flip != "none", lambda a: f"{a.flip}, p=0.5",
             dict(flip="horizontal")),
    _augment("randaugment", ("randaugment_magnitude", "randaugment_ops"),
             lambda a: a.randaugment_magnitude,
             lambda a: f"{a.randaugment_ops} ops, magnitude {a.randaugment_magnitude}",
             dict(randaugment_magnitude=0.3)),
    _augment("augmix", ("augmix_severity",), lambda a: a.augmix_severity,
             lambda a: f"severity {a.augmix_severity}, 3 chains, depth <= 3",
             dict(augmix_severity=0.3)),
    _augment("color_jitter", ("color_jitter",), lambda a: a.color_jitter,
             lambda a: f"strength {a.color_jitter}", dict(color_jitter=0.3)),
    _augment("pixel_noise", ("noise_std",), lambda a: a.noise_std,
             lambda a: f"std {a.noise_std}", dict(noise_std=0.02)),
    # off with --cutout_extra_per_batch: the study adds cutout copies to uncut batches
    _augment("cutout", ("cutout_pixels", "cutout_prob", "cutout_fill"),
             lambda a: a.cutout_pixels and a.cutout_prob and not a.cutout_extra_per_batch,
             lambda a: f"{a.cutout_pixels}x{a.cutout_pixels} px, p={a.cutout_prob}, "
                       f"fill {a.cutout_fill}",
             dict(cutout_pixels=8)),
    _augment("random_erasing",
             ("random_erasing_prob", "random_erasing_area_min", "random_erasing_area_max",
              "random_erasing_aspect_min", "random_erasing_aspect_max", "random_erasing_fill"),
             lambda a: a.random_erasing_prob,
             lambda a: f"p={a.random_erasing_prob}, area [{a.random_erasing_area_min}, "
                       f"{a.random_erasing_area_max}], aspect [{a.random_erasing_aspect_min:.3g}, "
                       f"{a.random_erasing_aspect_max:.3g}], fill {a.random_erasing_fill}",
             dict(random_erasing_prob=0.5)),
    # per batch, after batching
    _augment("cutout_extra_per_batch", ("cutout_extra_per_batch", "cutout_pixels", "cutout_fill"),
             lambda a: a.cutout_extra_per_batch,
             lambda a: f"{a.cutout_extra_per_batch} copies per batch, one {a.cutout_pixels}x"
                       f"{a.cutout_pixels} px square each, fill {a.cutout_fill}; batches of "
                       f"batch_size + {a.cutout_extra_per_batch}",
             dict(cutout_extra_per_batch=2, cutout_pixels=8)),
    _augment("mixup", ("mixup_alpha", "mix_lambda", "mix_prob"), lambda a: a.mixup_alpha,
             lambda a: f"alpha {a.mixup_alpha}, lambda per {a.mix_lambda}, p={a.mix_prob}",
             dict(mixup_alpha=0.2, mix_lambda="example", mix_prob=0.8)),
    _augment("cutmix", ("cutmix_alpha", "mix_lambda", "mix_prob"), lambda a: a.cutmix_alpha,
             lambda a: f"alpha {a.cutmix_alpha}, lambda per {a.mix_lambda}, p={a.mix_prob}",
             dict(cutmix_alpha=1.0, mix_lambda="example", mix_prob=0.8)),
    Regularizer(
        "norm", "graph",
        ("norm", "norm_stages", "norm_groups", "bn_momentum", "norm_epsilon", "batch_norm_kernel"),
        lambda cfg: _when(cfg.model.norm != "none", lambda: (
            f"norm: {cfg.model.norm} in stages {_stages(cfg.model.norm_stages)}"
            + (" (fused kernel)" if cfg.model.norm == "batch"
               and cfg.model.batch_norm_kernel == "fused" else ""))),
        on={}),  # batch norm is on by default
    Regularizer("stage_dropout", "graph", ("dropout_rates",),
                lambda cfg: _when(cfg.model.dropout_rates, lambda: (
                    f"stage dropout: {_rates(cfg.model.dropout_rates)}")),
                on=dict(dropout_rates=(0.1, 0.2, 0.3)), classes=_DROPOUT),
    Regularizer("block_dropout", "graph", ("block_dropout_rates",),
                lambda cfg: _when(cfg.model.block_dropout_rates, lambda: (
                    f"block dropout at norm positions: {_rates(cfg.model.block_dropout_rates)}")),
                on=dict(block_dropout_rates=(0.1, 0.1)), classes=_DROPOUT),
    Regularizer("head_dropout", "graph", ("head_dropout_rate",),
                lambda cfg: _when(cfg.model.head_dropout_rate, lambda: (
                    f"head dropout: {cfg.model.head_dropout_rate:g}")),
                on=dict(head_dropout_rate=0.2), classes=_DROPOUT),
    Regularizer("drop_path", "graph", ("drop_path_rate", "drop_path_mode", "drop_path_rule"),
                lambda cfg: _when(cfg.model.drop_path_rate, lambda: (
                    f"stochastic depth: last block {cfg.model.drop_path_rate:g}, "
                    f"mode {cfg.model.drop_path_mode}")),
                on=dict(drop_path_rate=0.2, drop_path_mode="sample"),
                classes=("tfreg.regularizers.drop_path:DropPath",
                         "tfreg.regularizers.drop_path:DropPathBranch")),
    Regularizer("weight_standardization", "graph", ("weight_standardization",),
                lambda cfg: _when(cfg.model.weight_standardization,
                                  lambda: "scaled weight standardization"),
                on=dict(weight_standardization=True)),
    Regularizer("label_smoothing", "loss", ("label_smoothing", "label_smoothing_style"),
                lambda cfg: _when(cfg.train.label_smoothing, lambda: (
                    f"label smoothing: {cfg.train.label_smoothing:g} "
                    f"({cfg.train.label_smoothing_style})")),
                on=dict(label_smoothing=0.1, label_smoothing_style="off_target"),
                classes=("tfreg.regularizers.label_smoothing:LabelSmoothingCrossEntropy",)),
    Regularizer("weight_decay", "optimizer",
                ("weight_decay", "weight_decay_mode", "weight_decay_exclude"),
                lambda cfg: _when(cfg.train.weight_decay, lambda: (
                    f"weight decay: {cfg.train.weight_decay:g} ({cfg.train.weight_decay_mode}, "
                    f"exclude {cfg.train.weight_decay_exclude})")),
                on=dict(weight_decay=5e-4, weight_decay_mode="decoupled",
                        weight_decay_exclude="norm_and_bias")),
    Regularizer("agc", "optimizer", ("agc_clip", "agc_eps", "agc_stages"),
                lambda cfg: _when(cfg.train.agc_clip, lambda: (
                    f"AGC: clip {cfg.train.agc_clip:g}, eps {cfg.train.agc_eps:g}, "
                    f"stages {_stages(cfg.train.agc_stages)}")),
                on=dict(agc_clip=0.04, agc_stages=(2, 3))),
    # its monitor needs a validation split (--val_split), which the on values leave to the caller
    Regularizer("early_stopping", "training", ("early_stopping_patience", "early_stopping_monitor"),
                lambda cfg: _when(cfg.train.early_stopping_patience, lambda: (
                    f"early stopping: patience {cfg.train.early_stopping_patience} on "
                    f"{cfg.train.early_stopping_monitor}")),
                on=dict(early_stopping_patience=5, early_stopping_monitor="val_accuracy")),
    Regularizer("transfer", "training", ("init_from",),
                lambda cfg: _when(cfg.train.init_from,
                                  lambda: f"transfer: weights from {cfg.train.init_from}")),
    Regularizer("frozen_stages", "graph", ("trainable_stages",),
                lambda cfg: (
                    "frozen: every stage (only the classifier trains)"
                    if cfg.train.trainable_stages == () else _when(
                        cfg.train.trainable_stages is not None, lambda: (
                            f"frozen: every stage but {_stages(cfg.train.trainable_stages)} "
                            "(the classifier trains)")))),
    Regularizer("probe", "graph", ("probe_stage",),
                lambda cfg: _when(cfg.train.probe_stage, lambda: (
                    f"linear classifier on stage {cfg.train.probe_stage}'s pooled output"))),
    Regularizer("tta", "inference", ("tta", "tta_crop_pixels"),
                lambda cfg: _when(cfg.eval.tta != "none",
                                  lambda: f"test-time augmentation: {cfg.eval.tta}"),
                on=dict(tta="crops")),
    Regularizer("mc_dropout", "inference", ("mc_dropout_samples",),
                lambda cfg: _when(cfg.eval.mc_dropout_samples, lambda: (
                    f"MC dropout: {cfg.eval.mc_dropout_samples} masks")),
                on=dict(mc_dropout_samples=3), classes=_DROPOUT),
)

BY_NAME = {r.name: r for r in REGULARIZERS}
assert len(BY_NAME) == len(REGULARIZERS), "regularizer names are unique"
assert all(r.site in SITES for r in REGULARIZERS), SITES


def lines(cfg):
    """The `active regularizers` lines of --dry_run, in REGULARIZERS' order."""
    return [line for line in (r.line(cfg) for r in REGULARIZERS) if line is not None]


def active(cfg, site=None):
    """Names of the regularizers the config turns on (at `site`, or anywhere), in order."""
    return [r.name for r in REGULARIZERS
            if (site is None or r.site == site) and r.describe(cfg) is not None]


def flags():
    """Every config field (flag name) a regularizer owns."""
    return frozenset(f for r in REGULARIZERS for f in r.fields)


def everything_on(sites=SITES, leave_out=()):
    """{flag: typed value} turning on every regularizer at `sites` that has an `on` example,
    except the named ones: the shared "everything on" set of the tests, the benchmark's
    tfreg_all and the GPU check. A value suits make_config (tfreg.config or tfreg.flags) and
    config.format_value. Unknown names in leave_out are an error, so the set cannot drift."""
    unknown = set(leave_out) - set(BY_NAME)
    assert not unknown, f"no regularizer named {sorted(unknown)}"
    out = {}
    for r in REGULARIZERS:
        if r.site in sites and r.on is not None and r.name not in leave_out:
            out.update(r.on)
    return out


def as_argv(values):
    """Command-line flags of {flag: typed value}: ["--flip=horizontal", "--nosaved_model"]."""
    return [(f"--{k}" if v else f"--no{k}") if isinstance(v, bool)
            else f"--{k}={config.format_value(k, v)}" for k, v in values.items()]


def class_paths():
    """"module:Class" of every Keras class a regularizer puts into a model or loss, once each."""
    return tuple(dict.fromkeys(c for r in REGULARIZERS for c in r.classes))


def register_classes():
    """Imports the regularizers' Keras classes, which registers them with Keras (package "tfreg")
    for keras.saving.load_model; returns them."""
    out = []
    for path in class_paths():
        module, name = path.split(":")
        out.append(getattr(importlib.import_module(module), name))
    return out
