"""Every --activation trains and evaluates with every --norm under tfreg's default oneDNN setting
(TF_ENABLE_ONEDNN_OPTS=1, set by `import tfreg`): mish after a residual Add without normalization
used to crash TensorFlow's oneDNN rewrite ("Fusion is not implemented: [BiasAdd,Add,Mish]")."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfreg import choices
from tfreg.flags import make_config
from tfreg.models import resnet
from tfreg.models.layers import Mish
from tfreg.models.slots import Slots, classifier
from tfreg.train import optimizers, schedules
from tfreg.train.trainer import Trainer


def test_onednn_rewrite_is_on_as_in_a_run():
    assert os.environ["TF_ENABLE_ONEDNN_OPTS"] == "1"


def test_mish_layer_equals_keras_mish_in_values_and_gradients():
    x = tf.constant(np.concatenate([np.linspace(-120, 120, 48001), [0.0, -1e-30, 1e30, -1e30]]),
                    tf.float32)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        ours, theirs = Mish()(x), keras.activations.mish(x)
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    np.testing.assert_array_equal(tape.gradient(ours, x).numpy(), tape.gradient(theirs, x).numpy())


def tiny_net(cfg):
    """Stem, one basic block (identity shortcut: conv + bias + Add + activation when norm is
    none) and the classifier, built with the model zoo's slots."""
    slots = Slots(cfg.model, 1)
    inputs = keras.Input((8, 8, 3))
    x = slots.act(slots.norm(slots.conv(inputs, 4, 3, 1, 1, "stem_conv"), 1, "stem_norm"), "stem_act")
    x = resnet.apply_basic_block(x, 4, 1, slots, 1, "stage1_block1", 0.0, True)
    return keras.Model(inputs, classifier(x, 10, slots, [x]))


@pytest.mark.parametrize("norm", choices.NORMS)
@pytest.mark.parametrize("activation", choices.ACTIVATIONS)
def test_every_activation_trains_and_evaluates_with_every_norm(activation, norm):
    cfg = make_config(activation=activation, norm=norm, norm_groups=2)
    net = tiny_net(cfg)
    trainer = Trainer(net, cfg, 10)
    trainer.compile(optimizers.make_optimizer(cfg.train, schedules.Schedule("constant", 0.01, 1),
                                              net.trainable_variables))
    x = tf.random.stateless_uniform((4, 8, 8, 3), [1, 2]) * 255
    y = tf.constant([0, 1, 2, 3])
    before = [v.numpy() for v in net.trainable_variables]
    # graphs as fit and evaluate build them: oneDNN's rewrite acts on tf.function graphs
    logs = tf.function(trainer.train_step)((x, y))
    probs = tf.function(lambda x: net(x, training=False))(x)
    assert np.isfinite(float(logs["loss"])) and np.all(np.isfinite(probs.numpy()))
    assert any(not np.array_equal(a, v.numpy()) for a, v in zip(before, net.trainable_variables))
