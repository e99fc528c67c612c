"""--mixed_precision: compute in float16 / bfloat16 with float32 variables; under float16 Keras
wraps our optimizer in a LossScaleOptimizer, which unscales before our AGC / l2 update."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tfreg.flags import make_config
from tfreg.data import pipeline
from tfreg.data.prepare import prepare
from tfreg.train import assemble, runtime, optimizers


@pytest.mark.parametrize("precision", ["float16", "bfloat16"])
def test_mixed_precision_trains_with_float32_variables(precision):
    cfg = make_config(dataset="synthetic", model="resnet8", width_multiplier=0.25, batch_size=32,
                      synthetic_train_examples=64, synthetic_test_examples=16, agc_clip=0.05,
                      weight_decay=5e-4, mixed_precision=precision, verbose=0)
    try:
        runtime.setup_runtime(cfg)
        data = prepare(cfg)
        trainer, net = assemble.build(cfg, data, tf.distribute.get_strategy(), 2)
        history = trainer.fit(pipeline.train_dataset(data, cfg.augment, 32, 0, 0, 1, 2),
                              steps_per_epoch=2, verbose=0, shuffle=False).history
        conv = net.get_layer("stage1_block1_conv1")
        assert conv.compute_dtype == precision and conv.kernel.dtype == "float32"
        assert net.output.dtype == "float32"
        assert np.isfinite(history["loss"][-1])
        if precision == "float16":
            assert isinstance(trainer.optimizer, keras.optimizers.LossScaleOptimizer)
            assert isinstance(trainer.optimizer.inner_optimizer, optimizers.SGD)
            assert trainer.optimizer.inner_optimizer._agc_keys
    finally:
        keras.mixed_precision.set_global_policy("float32")
