"""Transfer learning, the lecture's fine-tuning table (seed 004, "Fine-Tuning Pre-Trained Model":
little data -> a linear classifier on top, or from different stages; more data -> fine-tune a few
or many layers).

Acts on the model graph and its variables, in `tfreg.train.assemble.build`, before the optimizer
is built (`check` is TF-free: tfreg.validation.check_files calls it, with the source run's
config read from its flags.txt, before a run writes anything).
Flags:
- `--init_from=RUN_DIR`: copy every layer of RUN_DIR/model.keras whose name and weight shapes
  match (input normalization included, so the features see inputs scaled as in pre-training);
  the classifier (`logits`) is re-initialized when its shape differs (another class count, or a
  probe on another stage) or when the source was trained on other labels (another --dataset or
  --classes, by its flags.txt); any other missing or mismatched layer is an error.
- `--trainable_stages`: stages not listed are frozen (the stem follows stage 1, the classifier
  always trains). A frozen Keras BatchNormalization runs in inference mode: it normalizes with its
  moving statistics and does not update them.
- `--probe_stage=k`: the network up to stage k's output, then global average pooling and a new
  linear classifier (head dropout as configured); later stages are dropped.
"""

import os

from tfreg import config, stages
from tfreg.errors import UsageError

CLASSIFIER = "logits"


ARCHITECTURE_FLAGS = ("model", "width_multiplier", "stem", "norm", "norm_stages",
                      "weight_standardization")


def source_config(run_dir):
    """The Config of run_dir from its flags.txt, or None when it cannot be read."""
    return config.read_flagfile(os.path.join(run_dir, "flags.txt"))


def check(cfg, source):
    """--init_from's run (`source`: its Config, None when its flags.txt cannot be read) has the
    architecture of cfg; one line otherwise."""
    if source is None:
        return  # no readable flags.txt: init_from() still compares every layer's shapes
    ours, theirs = cfg.model, source.model
    differ = [f for f in ARCHITECTURE_FLAGS if getattr(ours, f) != getattr(theirs, f)]
    if differ:
        def show(m):
            return " ".join(f"--{f}={config.format_value(f, getattr(m, f))}" for f in differ)

        raise UsageError(f"--init_from={cfg.train.init_from} was trained with {show(theirs)}, "
                         f"this run has {show(ours)}; transfer needs the same architecture")


stage_of = stages.stage_of  # the one naming rule of stage layers


def stage_output_names(net):
    """{'stem' or stage number: name of the layer that outputs it}, in network order (functional
    layers are topologically sorted, so a stage's last layer is its output)."""
    out = {}
    for layer in net.layers:
        if layer.name.startswith("stem_"):
            out["stem"] = layer.name
        elif stage_of(layer.name) is not None:
            out[stage_of(layer.name)] = layer.name
    return out


def probe_model(net, cfg, stage, num_classes):
    """net cut after `stage`, with the configured classifier (pooled, linear) on that output."""
    import keras

    from tfreg.models.slots import Slots, classifier
    from tfreg.models.specs import num_stages

    features = net.get_layer(stage_output_names(net)[stage]).output
    probs = classifier(features, num_classes, Slots(cfg.model, num_stages(cfg.model.model)), [])
    return keras.Model(net.inputs, probs, name=net.name)


def same_labels(cfg, run_dir):
    """False when run_dir's flags.txt shows another dataset or class list than cfg's."""
    src = source_config(run_dir)
    return src is None or (src.data.dataset, src.data.classes) == (cfg.data.dataset, cfg.data.classes)


def init_from(net, run_dir, keep_classifier=True):
    """Copies matching layers of run_dir/model.keras into net (the classifier only when
    keep_classifier); returns the names left at their fresh initialization."""
    from tfreg.export import load_keras_model

    from tfreg.models.slots import leaf_layers

    # leaf layers by name: batch-mode stochastic depth nests a block's branch inside its
    # DropPathBranch layer, so source and target may nest the same layers differently
    source = leaf_layers(load_keras_model(os.path.join(run_dir, "model.keras")))
    fresh = []
    for layer in leaf_layers(net).values():
        if not layer.weights:
            continue
        if layer.name == CLASSIFIER and not keep_classifier:
            fresh.append(layer.name)
            continue
        src = source.get(layer.name)
        shapes = [tuple(w.shape) for w in layer.weights]
        if src is None or [tuple(w.shape) for w in src.weights] != shapes:
            if layer.name == CLASSIFIER:
                fresh.append(layer.name)
                continue
            found = "missing" if src is None else f"shapes {[tuple(w.shape) for w in src.weights]}"
            raise UsageError(f"--init_from={run_dir}: layer {layer.name} {shapes} is {found} there; "
                             "use the same --model, --width_multiplier, --norm and image size")
        layer.set_weights(src.get_weights())
    return fresh


def freeze(net, trainable_stages):
    """Freezes every stage not in trainable_stages (None = all train)."""
    if trainable_stages is None:
        return
    for layer in net.layers:
        stage = stage_of(layer.name)
        if stage is not None and stage not in trainable_stages:
            layer.trainable = False


def apply(net, cfg, num_classes):
    """The network a run trains: probe cut, pre-trained weights, frozen stages (in that order, so
    the classifier's shape decides whether it is copied). tfreg.validation.check_files has run
    check() already."""
    t = cfg.train
    if t.probe_stage:
        net = probe_model(net, cfg, t.probe_stage, num_classes)
    if t.init_from:
        init_from(net, t.init_from, keep_classifier=same_labels(cfg, t.init_from))
    freeze(net, t.trainable_stages)
    return net
