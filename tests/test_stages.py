"""One naming rule of stage layers (tfreg.stages): --norm_stages, --agc_stages and
--trainable_stages select the same layers for the same numbers, the stem with stage 1."""

import pytest

from tfreg.flags import make_config
from tfreg.models.build import build_model
from tfreg.models.slots import leaf_layers
from tfreg.regularizers import agc
from tfreg.stages import stage_of
from tfreg.train import transfer

HEAD = None  # stage_of of the input normalization and the head


def _layer(variable):
    return variable.path.split("/")[-2]


@pytest.mark.parametrize("model, stem", [("resnet8", "cifar"), ("resnet18", "imagenet")])
@pytest.mark.parametrize("stages", [(1,), (2,), (1, 3)])
def test_norm_agc_and_trainable_stages_select_the_same_layers(model, stem, stages):
    flags = dict(model=model, stem=stem, width_multiplier=0.125)
    net = build_model(make_config(**flags), (32, 32, 3), 10)
    with_weights = {n for n, layer in leaf_layers(net).items() if layer.weights}

    normed = build_model(make_config(norm_stages=",".join(map(str, stages)), **flags), (32, 32, 3), 10)
    norm_layers = {n for n in leaf_layers(normed) if "norm" in n and n != "normalize"}
    clipped = {_layer(v) for v in agc.clipped_variables(net.trainable_variables, stages)}
    transfer.freeze(net, stages)
    trained = {n for n, layer in leaf_layers(net).items() if layer.weights and layer.trainable
               and stage_of(n) is not HEAD}

    assert {stage_of(n) for n in norm_layers} == set(stages)
    assert {stage_of(n) for n in clipped} == set(stages)
    assert clipped == trained == {n for n in with_weights if stage_of(n) in stages}
    assert ("stem_norm" in norm_layers) == ("stem_conv" in clipped) == (1 in stages)
