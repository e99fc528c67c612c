"""The plain-Keras contender: ResNets written as a Keras user writes them (keras.applications
style: functional, Conv2D + BatchNormalization + ReLU, projection shortcuts), with nothing from
tfreg. Same layer structure and trainable-parameter count as tfreg's networks (the benchmark
checks the count): convolutions without bias before batch norm, CIFAR stem (3x3, stride 1, no
pooling), bottleneck stride on the 3x3 convolution (torchvision, tfreg), batch-norm momentum 0.9
and epsilon 1e-5, per-channel input normalization inside the model, a float32 softmax as the
Keras mixed-precision guide asks.

resnet20 is the 3-stage CIFAR ResNet with parameter-free option-A shortcuts (the quickstart's
network, for the time-to-accuracy suite).
"""

import keras
import numpy as np
from keras import layers

# name: (block, blocks per stage, stage widths, option-A shortcuts)
ARCHS = {
    "resnet18": ("basic", (2, 2, 2, 2), (64, 128, 256, 512), False),
    "resnet50": ("bottleneck", (3, 4, 6, 3), (64, 128, 256, 512), False),
    "resnet20": ("basic", (3, 3, 3), (16, 32, 64), True),
}


def conv_bn(x, filters, kernel, stride, name, relu=True, l2=0.0):
    reg = keras.regularizers.L2(l2) if l2 else None
    x = layers.Conv2D(filters, kernel, strides=stride, padding="same", use_bias=False,
                      kernel_initializer="he_normal", kernel_regularizer=reg, name=f"{name}_conv")(x)
    x = layers.BatchNormalization(momentum=0.9, epsilon=1e-5, gamma_regularizer=reg,
                                  beta_regularizer=reg, name=f"{name}_bn")(x)
    return layers.Activation("relu", name=f"{name}_relu")(x) if relu else x


def pad_shortcut(x, filters, stride, name):
    """Option A: subsample, zero-pad the channels."""
    extra = filters - x.shape[-1]

    def f(t):
        t = t[:, ::stride, ::stride, :]
        return keras.ops.pad(t, [[0, 0], [0, 0], [0, 0], [extra // 2, extra - extra // 2]])

    return layers.Lambda(f, name=f"{name}_pad")(x)


def basic_block(x, filters, stride, name, option_a, l2):
    shortcut = x
    if stride != 1 or x.shape[-1] != filters:
        shortcut = (pad_shortcut(x, filters, stride, name) if option_a else
                    conv_bn(x, filters, 1, stride, f"{name}_0", relu=False, l2=l2))
    y = conv_bn(x, filters, 3, stride, f"{name}_1", l2=l2)
    y = conv_bn(y, filters, 3, 1, f"{name}_2", relu=False, l2=l2)
    y = layers.Add(name=f"{name}_add")([shortcut, y])
    return layers.Activation("relu", name=f"{name}_out")(y)


def bottleneck_block(x, filters, stride, name, option_a, l2):
    shortcut = x
    if stride != 1 or x.shape[-1] != 4 * filters:
        shortcut = conv_bn(x, 4 * filters, 1, stride, f"{name}_0", relu=False, l2=l2)
    y = conv_bn(x, filters, 1, 1, f"{name}_1", l2=l2)
    y = conv_bn(y, filters, 3, stride, f"{name}_2", l2=l2)
    y = conv_bn(y, 4 * filters, 1, 1, f"{name}_3", relu=False, l2=l2)
    y = layers.Add(name=f"{name}_add")([shortcut, y])
    return layers.Activation("relu", name=f"{name}_out")(y)


def resnet(name, input_shape=(32, 32, 3), classes=10, width_multiplier=1.0, mean=None,
           variance=None, l2=0.0):
    """Functional ResNet, raw [0, 255] images -> probabilities. l2: kernel/gamma/beta/bias
    regularizer factor (Keras's L2(l) has gradient 2*l*w: pass half the weight decay)."""
    block, depths, widths, option_a = ARCHS[name]
    widths = [max(1, int(round(w * width_multiplier))) for w in widths]
    apply_block = basic_block if block == "basic" else bottleneck_block
    inputs = keras.Input(input_shape)
    channels = input_shape[-1]
    mean = np.zeros(channels) if mean is None else mean
    variance = np.ones(channels) if variance is None else variance
    x = layers.Normalization(mean=mean, variance=variance, name="normalize")(inputs)
    x = conv_bn(x, widths[0], 3, 1, "stem", l2=l2)
    for stage, (depth, width) in enumerate(zip(depths, widths), 1):
        for b in range(depth):
            stride = 2 if (b == 0 and stage > 1) else 1
            x = apply_block(x, width, stride, f"stage{stage}_block{b + 1}", option_a, l2)
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    reg = keras.regularizers.L2(l2) if l2 else None
    x = layers.Dense(classes, kernel_regularizer=reg, bias_regularizer=reg, name="logits")(x)
    outputs = layers.Activation("softmax", dtype="float32", name="probs")(x)
    return keras.Model(inputs, outputs, name=name)


def multiply_adds(model):
    """Multiply-adds of one image's forward pass through every Conv2D and Dense layer, nested ones
    included (batch-mode stochastic depth keeps a block's branch in a sub-model): the full
    network's work, also where a dropped branch is skipped."""
    total = 0
    for layer in model._flatten_layers(include_self=False):
        if isinstance(layer, keras.layers.Conv2D):
            _, h, w, c_out = layer.output.shape
            kh, kw, c_in, _ = layer.kernel.shape
            total += h * w * c_out * kh * kw * c_in
        elif isinstance(layer, keras.layers.Dense):
            total += int(np.prod(layer.kernel.shape))
    return int(total)


def count_params(model):
    return int(sum(np.prod(v.shape) for v in model.trainable_variables))
