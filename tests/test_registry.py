"""tfreg.regularizers.registry against what it describes: the config fields, the Keras classes of
the regularizer modules, the input pipeline's steps and the study files' regularizer flags."""

import ast
import pathlib
import tomllib

import numpy as np

from tfreg import config
from tfreg.regularizers import registry

ROOT = pathlib.Path(__file__).resolve().parent.parent

# Every config field that no regularizer owns. A new field goes either into a regularizer's record
# (tfreg/regularizers/registry.py) or here.
OTHER_SETTINGS = {
    # run
    "run_dir", "overwrite", "dry_run", "seed", "deterministic", "strategy", "mixed_precision",
    "jit_compile", "steps_per_execution", "saved_model", "tensorboard_images", "verbose",
    # data
    "dataset", "data_dir", "synthetic_train_examples", "synthetic_test_examples", "val_split",
    "split_mode", "split_seed", "train_examples", "normalize", "zca_epsilon", "batch_size",
    "eval_batch_size", "classes",
    # model
    "model", "stem", "width_multiplier", "activation", "head", "zero_init_residual",
    # train
    "epochs", "steps_per_epoch", "optimizer", "learning_rate", "momentum", "nesterov", "beta_1",
    "beta_2", "rmsprop_rho", "optimizer_epsilon", "lr_schedule", "lr_min", "lr_step_epochs",
    "lr_step_factor", "warmup_epochs", "loss", "target_train_accuracy",
    # eval
    "test_every_epochs",
}


def test_every_registered_field_is_a_config_field_and_every_field_is_classified():
    owned = registry.flags()
    assert owned <= set(config.FIELDS), owned - set(config.FIELDS)
    assert not owned & OTHER_SETTINGS, owned & OTHER_SETTINGS
    assert set(config.FIELDS) == owned | OTHER_SETTINGS, set(config.FIELDS) - owned - OTHER_SETTINGS


def test_on_values_are_the_records_own_fields_and_turn_them_on():
    base = config.Config()
    for r in registry.REGULARIZERS:
        assert r.fields and len(set(r.fields)) == len(r.fields), r.name
        if r.on is None:
            continue
        assert set(r.on) <= set(r.fields), r.name
        cfg = config.make_config(**r.on, val_split=0.2)
        assert r.name in registry.active(cfg), r.name
        assert r.describe(base) is None or r.name == "norm", r.name  # off by default
    assert registry.lines(base) == ["norm: batch in stages all (fused kernel)"]


def test_everything_on_is_a_valid_config_with_every_example_on():
    on = registry.everything_on()
    cfg = config.make_config(**on, val_split=0.2)  # early stopping watches a validation metric
    with_example = [r.name for r in registry.REGULARIZERS if r.on is not None]
    # cutout_extra_per_batch replaces per-example cutout (the ResNet-50 study's setting)
    assert registry.active(cfg) == [n for n in with_example if n != "cutout"]
    assert set(registry.everything_on(sites=("inference",))) == {"tta", "mc_dropout_samples"}
    no_cutmix = registry.everything_on(leave_out=("cutmix",))
    assert "cutmix_alpha" not in no_cutmix and "mixup_alpha" in no_cutmix
    assert registry.as_argv({"flip": "horizontal", "agc_stages": (2, 3), "dropout_rates": (0.1,),
                             "weight_standardization": True, "nesterov": False}) == [
        "--flip=horizontal", "--agc_stages=2,3", "--dropout_rates=0.1",
        "--weight_standardization", "--nonesterov"]


def test_registry_loads_no_tensorflow():
    tree = ast.parse((ROOT / "tfreg" / "regularizers" / "registry.py").read_text())
    top = {a.name.split(".")[0] for node in tree.body if isinstance(node, ast.Import)
           for a in node.names}
    top |= {node.module.split(".")[0] for node in tree.body if isinstance(node, ast.ImportFrom)}
    assert top <= {"dataclasses", "importlib", "typing", "tfreg"}, top
    init = ast.parse((ROOT / "tfreg" / "regularizers" / "__init__.py").read_text())
    assert not any(isinstance(n, (ast.Import, ast.ImportFrom)) for n in init.body)


def _serializable_classes(path):
    """Names of the classes a module registers with Keras."""
    tree = ast.parse(path.read_text())
    return {node.name for node in tree.body if isinstance(node, ast.ClassDef)
            and any("register_keras_serializable" in ast.unparse(d) for d in node.decorator_list)}


def test_every_keras_class_of_a_regularizer_module_is_registered():
    declared = set(registry.class_paths())
    for path in sorted((ROOT / "tfreg" / "regularizers").glob("*.py")):
        for name in _serializable_classes(path):
            assert f"tfreg.regularizers.{path.stem}:{name}" in declared, (path.name, name)
    import keras

    for cls in registry.register_classes():
        assert keras.saving.get_registered_object(f"tfreg>{cls.__name__}") is cls


def test_the_pipeline_applies_the_registry_data_steps_in_its_order():
    from tfreg.data import pipeline

    data = [r.name for r in registry.REGULARIZERS if r.site == "data"]
    assert set(pipeline.PER_BATCH) <= set(data)
    a = config.make_config(**registry.everything_on(sites=("data",),
                                                    leave_out=("cutout_extra_per_batch",))).augment
    steps = [name for name, _ in pipeline.per_example_steps(a, np.zeros(3))]
    assert steps == [n for n in data if n not in pipeline.PER_BATCH]
    assert [n for n, _ in pipeline.active_augmentations(a)] == [
        n for n in data if n != "cutout_extra_per_batch"]


def test_study_claim_flags_are_regularizer_flags():
    """The lecture study claims that arms changing a regularizer flag score higher."""
    for path in sorted((ROOT / "tfreg" / "studies").glob("*.toml")):
        claim_flags = set(tomllib.loads(path.read_text()).get("claim_flags", ()))
        assert claim_flags <= registry.flags(), (path.name, claim_flags - registry.flags())
