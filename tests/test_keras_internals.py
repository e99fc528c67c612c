"""Every private (or public but undocumented) piece of Keras that tfreg relies on, named once
(issue 28, item 5).

Each entry says where tfreg uses it; its check fails with a message naming both on a Keras
version that lacks it or changed it. A scan of tfreg/ fails when a new private Keras name is used
without an entry here."""

import inspect
import pathlib
import re
from dataclasses import dataclass, field

import keras
import numpy as np
import pytest
import tensorflow as tf

from conftest import ROOT

KERAS_SRC = pathlib.Path(keras.__file__).parent / "src"


@dataclass
class Internal:
    what: str  # the Keras piece
    where: str  # tfreg's use
    check: callable
    names: tuple = field(default=())  # private names the source scan finds for this entry


def _in_stateless_scope():
    from keras.src.backend import in_stateless_scope

    assert not in_stateless_scope()
    with keras.StatelessScope():
        assert in_stateless_scope()


def _maybe_symbolic_build():
    params = inspect.signature(keras.Model._maybe_symbolic_build).parameters
    assert {"iterator", "data_batch"} <= set(params), f"parameters {list(params)}"
    assert "_maybe_symbolic_build(" in inspect.getsource(keras.Model.fit), "fit no longer calls it"


def _flatten_layers():
    inner = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2, name="inner_dense")])
    inputs = keras.Input((2,))
    outer = keras.Model(inputs, keras.layers.Dense(1, name="outer_dense")(inner(inputs)))
    names = [layer.name for layer in outer._flatten_layers(include_self=False)]
    assert {"inner_dense", "outer_dense"} <= set(names), names


def _optimizer_variable_keys():
    v = keras.Variable(np.ones(2, np.float32))
    opt = keras.optimizers.SGD(momentum=0.9)
    opt.build([v])
    # update_step receives the backend variable (v.value); tfreg keys Keras variables
    assert opt._var_key(v) == opt._var_key(v.value)
    assert opt._get_variable_index(v.value) == 0


def _optimizer_slots():
    v = keras.Variable(np.ones(2, np.float32))
    for opt, slots in ((keras.optimizers.SGD(momentum=0.9), ("momentums",)),
                       (keras.optimizers.Adam(), ("_momentums", "_velocities")),
                       (keras.optimizers.AdamW(), ("_momentums", "_velocities")),
                       (keras.optimizers.RMSprop(momentum=0.5), ("_momentums", "_velocities"))):
        opt.build([v])
        for slot in slots:
            assert len(getattr(opt, slot)) == 1, f"{type(opt).__name__}.{slot}"


def _update_step():
    params = list(inspect.signature(keras.optimizers.Optimizer.update_step).parameters)
    assert params == ["self", "gradient", "variable", "learning_rate"], params


def _rand_augment_ops():
    layer = keras.layers.RandAugment(value_range=(0, 255), num_ops=2, factor=0.5)
    assert len(layer._AUGMENT_LAYERS) >= 1
    for name in layer._AUGMENT_LAYERS:
        op = getattr(layer, name)
        for method, args in (("get_random_transformation", ("training", "seed")),
                             ("transform_images", ("transformation", "training"))):
            params = inspect.signature(getattr(op, method)).parameters
            assert set(args) <= set(params), f"{name}.{method}{list(params)}"


def _augmix_internals():
    layer = keras.layers.AugMix(value_range=(0, 255), num_chains=3, chain_depth=3, factor=0.3)
    assert len(layer._augment_layers) >= 1
    for name in layer._augment_layers:
        assert hasattr(getattr(layer, name), "transform_images"), name
    params = list(inspect.signature(layer._sample_from_dirichlet).parameters)
    assert params[:3] == ["shape", "alpha", "seed"], params
    assert layer.alpha > 0 and layer.num_chains == 3 and callable(layer.backend.random.beta)


def _stateless_seed_generator():
    from tfreg.data.auto_augment import StatelessSeeds

    draw = lambda s: keras.random.uniform((3,), seed=StatelessSeeds(tf.constant(s))).numpy()  # noqa: E731
    np.testing.assert_array_equal(draw([1, 2]), draw([1, 2]))
    assert not np.array_equal(draw([1, 2]), draw([1, 3]))


def _conv_internals():
    conv = keras.layers.Conv2D(2, 1)
    conv.build((None, 4, 4, 3))
    assert "kernel" in inspect.signature(conv.convolution_op).parameters
    store = {}
    conv.save_own_variables(store)
    assert sorted(store) == ["0", "1"], sorted(store)  # kernel, bias by position


def _early_stopping_fields():
    early = keras.callbacks.EarlyStopping(restore_best_weights=True)
    early.set_model(keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)]))
    early.on_train_begin()
    for name in ("wait", "stopped_epoch", "best", "best_epoch", "best_weights"):
        assert hasattr(early, name), name


def _batch_norm_fields():
    bn = keras.layers.BatchNormalization()
    bn.build((None, 2, 2, 3))
    for name in ("moving_mean", "moving_variance", "gamma", "beta", "renorm", "synchronized",
                 "scale", "center", "axis", "momentum", "epsilon"):
        assert hasattr(bn, name), name


def _seed_generator_state():
    gen = keras.random.SeedGenerator(3)
    gen.state.assign(np.asarray([5, 7], dtype=gen.state.dtype))
    assert gen.state.numpy().tolist() == [5, 7]


INTERNALS = [
    Internal("keras.src.backend.in_stateless_scope()",
             "tfreg/regularizers/drop_path.py DropPathBranch (no tf.cond under stateless_call; "
             "without it the masked path runs, same result)", _in_stateless_scope, ("keras.src",)),
    Internal("keras.Model._maybe_symbolic_build(iterator, data_batch), called by fit",
             "tfreg/train/trainer.py Trainer (multi-worker build, keras-team/keras#20585)",
             _maybe_symbolic_build, ("_maybe_symbolic_build",)),
    Internal("Layer._flatten_layers(include_self=)",
             "tfreg/models/slots.py leaf_layers, tfreg/train/checkpoint.py seed_generators, "
             "tfreg/train/evaluate.py mc_dropout", _flatten_layers, ("_flatten_layers",)),
    Internal("Optimizer._var_key and _get_variable_index on backend variables",
             "tfreg/train/optimizers.py (_GradientTransforms, the torch updates)",
             _optimizer_variable_keys, ("_var_key", "_get_variable_index")),
    Internal("optimizer slots SGD.momentums, Adam/AdamW/RMSprop._momentums and ._velocities",
             "tfreg/train/optimizers.py (the torch updates)", _optimizer_slots,
             ("_momentums", "_velocities")),
    Internal("Optimizer.update_step(gradient, variable, learning_rate), per variable after the sum",
             "tfreg/train/optimizers.py (AGC, l2 decay, the torch updates)", _update_step),
    Internal("RandAugment._AUGMENT_LAYERS and its op layers' get_random_transformation / "
             "transform_images", "tfreg/data/auto_augment.py rand_augment_step",
             _rand_augment_ops, ("_AUGMENT_LAYERS",)),
    Internal("AugMix._augment_layers, _sample_from_dirichlet(shape, alpha, seed), .backend, "
             ".alpha, .num_chains", "tfreg/data/auto_augment.py augmix_step", _augmix_internals,
             ("_augment_layers", "_sample_from_dirichlet")),
    Internal("a SeedGenerator subclass with no state: keras.random draws call its next()",
             "tfreg/data/auto_augment.py StatelessSeeds", _stateless_seed_generator),
    Internal("Conv2D.convolution_op(inputs, kernel) and save_own_variables' positional keys",
             "tfreg/models/layers.py WSConv2D", _conv_internals),
    Internal("EarlyStopping's wait, stopped_epoch, best, best_epoch, best_weights",
             "tfreg/train/callbacks.py EarlyStopping (state in the checkpoint)",
             _early_stopping_fields),
    Internal("BatchNormalization's moving statistics and settings as attributes",
             "tfreg/models/layers.py FusedBatchNormalization", _batch_norm_fields),
    Internal("SeedGenerator.state, an assignable variable",
             "tfreg/train/checkpoint.py (seed states in the checkpoint)", _seed_generator_state),
]

@pytest.mark.parametrize("internal", INTERNALS, ids=lambda i: i.what.split("(")[0][:40])
def test_keras_still_has_what_tfreg_relies_on(internal):
    try:
        internal.check()
    except Exception as e:  # noqa: BLE001 - any failure means the internal moved
        pytest.fail(f"tfreg relies on Keras's {internal.what} (used in {internal.where}); Keras "
                    f"{keras.__version__} lacks it or changed it: {type(e).__name__}: {e}. Adapt "
                    "that code (or pin the Keras version that has it) and update this entry.",
                    pytrace=False)


def test_every_private_keras_name_tfreg_uses_is_named_here():
    keras_source = "\n".join(p.read_text() for p in KERAS_SRC.rglob("*.py"))
    defined = set(re.findall(r"def (_[A-Za-z]\w*)\(", keras_source)) | set(
        re.findall(r"\.(_[A-Za-z]\w*)\s*=[^=]", keras_source)) | set(
        re.findall(r"^\s*(_[A-Z][A-Z_]+)\s*=", keras_source, re.M))
    named = {n for i in INTERNALS for n in i.names}
    used = {}
    for path in sorted(pathlib.Path(ROOT, "tfreg").rglob("*.py")):
        text = path.read_text()
        if not re.search(r"^\s*(import|from) keras\b", text, re.M):
            continue  # no Keras object in reach (tfreg.runs, sweep, report)
        # tfreg's own private attributes and methods, whatever Keras calls its own
        own = set(re.findall(r"self\.(_\w+)\s*=[^=]", text)) | set(re.findall(r"def (_\w+)\(", text))
        for number, line in enumerate(text.splitlines(), 1):
            place = f"{path.relative_to(ROOT)}:{number}"
            if "keras.src" in line:
                used.setdefault("keras.src", []).append(place)
            for obj, name in re.findall(r"(\w+)\.(_[A-Za-z]\w*)", line):
                if name in defined and name not in own and not name.startswith("__"):
                    used.setdefault(name, []).append(place)
            override = re.match(r"\s+def (_[A-Za-z]\w*)\(", line)
            if override and f"def {override.group(1)}(" in keras_source:
                used.setdefault(override.group(1), []).append(place)
    unnamed = {name: places for name, places in used.items() if name not in named}
    assert not unnamed, (f"private Keras names used by tfreg without an entry in "
                         f"tests/test_keras_internals.py INTERNALS: {unnamed}")
    assert named <= set(used), f"entries no longer used: {named - set(used)}"
