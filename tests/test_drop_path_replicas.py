"""Batch-mode stochastic depth on two replicas (two logical CPU devices, so in a child process):
TensorFlow allows no cross-replica sum inside a tf.cond, so there the branch is computed and its
state rolled back when dropped; the training result must equal one device's, which skips it."""

import json
import os
import subprocess
import sys

import pytest

from conftest import ROOT

SCRIPT = r'''
import json
import tfreg
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import numpy as np
from tfreg.config import make_config
from tfreg.data import pipeline
from tfreg.data.prepare import prepare
from tfreg.train import assemble, runtime

def train(strategy):
    cfg = make_config(dataset="synthetic", model="resnet20", width_multiplier=0.25, batch_size=32,
                      synthetic_train_examples=96, synthetic_test_examples=16, drop_path_rate=0.6,
                      agc_clip=0.01,
                      learning_rate=0.1, epochs=1, verbose=0, deterministic=True)
    runtime.setup_runtime(cfg)
    data = prepare(cfg)
    trainer, net = assemble.build(cfg, data, strategy, 3)
    history = trainer.fit(pipeline.train_dataset(data, cfg.augment, 32, 0, 0, 1, 3),
                          steps_per_epoch=3, verbose=0).history
    return history["loss"][-1], {v.path: v.numpy() for v in net.weights}

loss1, w1 = train(tf.distribute.OneDeviceStrategy("/cpu:0"))
loss2, w2 = train(tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]))
print("RESULT " + json.dumps({"loss": [loss1, loss2],
      "max_weight_diff": max(float(np.max(np.abs(w1[k] - w2[k]))) for k in w1)}))
'''


@pytest.mark.slow
def test_two_replicas_match_one_device_with_batch_drop_path():
    env = dict(os.environ, PYTHONPATH=ROOT)
    result = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                            env=env, timeout=600)
    lines = [l for l in result.stdout.splitlines() if l.startswith("RESULT ")]
    assert lines, result.stderr[-3000:]
    out = json.loads(lines[0][len("RESULT "):])
    # AGC (clip 0.01) keeps the steps small, so reduction-order rounding stays small too (as in
    # test_distributed.py)
    assert abs(out["loss"][0] - out["loss"][1]) < 1e-4
    assert out["max_weight_diff"] < 1e-4  # BN moving statistics included
