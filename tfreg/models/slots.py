"""Regularizer slots shared by every architecture: conv, norm, activation, dropouts, drop-path.

A `Slots` object is built once per model from the model config; each block asks it to fill a
named slot, and the slot returns its input untouched when the flags leave it empty. Layer names
are stable (`stage2_block1_norm2`, `stage2_block1_drop1`, `stage3_drop`, `..._droppath`) so weight
decay exclusions, AGC stages, TensorBoard and feature-map tools can address them. With batch-mode
stochastic depth a block's branch layers sit inside its `..._droppath` layer (a DropPathBranch);
`leaf_layers` finds them by name either way.
"""

import functools
import math

import keras

from tfreg import choices
from tfreg.models.layers import FusedBatchNormalization, Mish, WSConv2D
from tfreg.regularizers.dropout import Dropout
from tfreg.regularizers.drop_path import DropPath, DropPathBranch



def conv_initializer():
    """torchvision's ResNet init, kaiming_normal_(mode="fan_out"). A new object per layer: a Keras
    initializer draws its seed when constructed, so one shared instance would give every
    same-shaped kernel the same values, and one built at import would ignore --seed."""
    return keras.initializers.VarianceScaling(2.0, "fan_out", "untruncated_normal")


KERAS_ACTIVATION_NAMES = {"swish": "silu"}  # every other choice has Keras's own name


class Slots:
    def __init__(self, m, num_stages, sync_batch_norm=False, jit_compile=False):
        choices.check("norm", m.norm, choices.NORMS)
        choices.check("activation", m.activation, choices.ACTIVATIONS)
        self.m = m
        stages = m.norm_stages  # None = every stage
        self.norm_stages = set() if m.norm == "none" else (
            set(range(1, num_stages + 1)) if stages is None else set(stages))
        self.sync_batch_norm = sync_batch_norm
        self.jit_compile = jit_compile
        conv_cls = WSConv2D if m.weight_standardization else keras.layers.Conv2D
        self._conv = functools.partial(conv_cls, padding="same")

    def width(self, channels):
        return max(1, int(round(channels * self.m.width_multiplier)))

    def conv(self, x, filters, kernel, stride, stage, name):
        return self._conv(filters, kernel, strides=stride, use_bias=stage not in self.norm_stages,
                          kernel_initializer=conv_initializer(), name=name)(x)

    def norm(self, x, stage, name, zero_init=False):
        if stage not in self.norm_stages:
            return x
        m, channels = self.m, x.shape[-1]
        gamma = "zeros" if zero_init else "ones"
        if m.norm == "batch":
            kind = FusedBatchNormalization if m.batch_norm_kernel == "fused" else \
                keras.layers.BatchNormalization
            layer = kind(
                momentum=m.bn_momentum, epsilon=m.norm_epsilon, gamma_initializer=gamma,
                synchronized=self.sync_batch_norm, name=name)
        else:
            groups = {"group": math.gcd(m.norm_groups, channels), "layer": 1,
                      "instance": channels}[m.norm]
            layer = keras.layers.GroupNormalization(groups=groups, epsilon=m.norm_epsilon,
                                                    gamma_initializer=gamma, name=name)
        return layer(x)

    def act(self, x, name):
        if self.m.activation == "mish":  # not keras's: see tfreg.models.layers.Mish
            return Mish(name=name)(x)
        return keras.layers.Activation(
            KERAS_ACTIVATION_NAMES.get(self.m.activation, self.m.activation), name=name)(x)

    def dropout(self, x, rate, name):
        return Dropout(rate, name=name)(x) if rate > 0 else x

    def block_dropout(self, x, position, name):
        rates = self.m.block_dropout_rates
        return self.dropout(x, rates[position], name) if position < len(rates) else x

    def stage_dropout(self, x, stage):
        rates = self.m.dropout_rates
        return self.dropout(x, rates[stage - 1], f"stage{stage}_drop") if stage <= len(rates) else x

    def residual_branch(self, x, branch, rate, name):
        """branch(x) with stochastic depth at `rate` (layer `name`). Batch mode wraps the branch's
        layers (built on their own Input, names unchanged) in a DropPathBranch so a dropped branch
        is not computed; sample mode drops the computed output."""
        if rate == 0:
            return branch(x)
        if self.m.drop_path_mode == "sample":
            return DropPath(rate, "sample", name=name)(branch(x))
        inputs = keras.Input(x.shape[1:], dtype=x.dtype, name=f"{name}_input")
        sub = keras.Model(inputs, branch(inputs), name=f"{name}_branch")
        return DropPathBranch(sub, rate, conditional=not self.jit_compile, name=name)(x)


def classifier(x, num_classes, slots, stage_outputs):
    """Head: pool (last stage, or every stage and concatenate), dropout, logits, softmax."""
    if slots.m.head == "multiscale":
        pooled = [keras.layers.GlobalAveragePooling2D(name=f"head_pool{s}")(o)
                  for s, o in enumerate(stage_outputs, 1)]
        x = keras.layers.Concatenate(name="head_concat")(pooled)
    else:
        x = keras.layers.GlobalAveragePooling2D(name="head_pool")(x)
    x = slots.dropout(x, slots.m.head_dropout_rate, "head_drop")
    bound = 1.0 / math.sqrt(x.shape[-1])  # PyTorch nn.Linear's default init
    logits = keras.layers.Dense(
        num_classes, name="logits",
        kernel_initializer=keras.initializers.VarianceScaling(1 / 3, "fan_in", "uniform"),
        bias_initializer=keras.initializers.RandomUniform(-bound, bound))(x)
    return keras.layers.Activation("softmax", dtype="float32", name="probs")(logits)


def leaf_layers(net):
    """{name: layer} of every layer that holds no other layer (inputs aside), nested ones included
    (the branch layers inside batch-mode DropPathBranch layers), in network order."""
    return {layer.name: layer for layer in net._flatten_layers(include_self=False)
            if not isinstance(layer, keras.layers.InputLayer)
            and not any(True for _ in layer._flatten_layers(include_self=False))}
