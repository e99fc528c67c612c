"""VGG-A (VGG-11, Simonyan & Zisserman 2015) for small images, with or without norm (--norm).

Five stages of 3x3 convolutions (64 | 128 | 256, 256 | 512, 512 | 512, 512), each conv followed by
its norm slot and activation, each stage ending in a 2x2 max-pool (padding "same", so 28x28 inputs
work too). Classifier: global average pool and one dense layer, as the common CIFAR adaptations.
"""

import keras

from tfreg.models.slots import classifier
from tfreg.models.specs import VGG11_STAGES



def build(x, slots, num_classes):
    stage_outputs = []
    for stage, convs in enumerate(VGG11_STAGES, 1):
        for i, channels in enumerate(convs, 1):
            name = f"stage{stage}_conv{i}"
            x = slots.conv(x, slots.width(channels), 3, 1, stage, name)
            x = slots.norm(x, stage, f"stage{stage}_norm{i}")
            x = slots.block_dropout(x, 0, f"stage{stage}_drop{i}")
            x = slots.act(x, f"stage{stage}_act{i}")
        x = keras.layers.MaxPooling2D(2, padding="same", name=f"stage{stage}_pool")(x)
        x = slots.stage_dropout(x, stage)
        stage_outputs.append(x)
    return classifier(x, num_classes, slots, stage_outputs)
