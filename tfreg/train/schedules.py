"""Learning-rate schedules evaluated at every optimizer step (0-based step s).

Warmup (W steps): lr = base * (s + 1) / W. After it, with t = s - W and T = total - W:
constant: base; cosine: lr_min + (base - lr_min) (1 + cos(pi t / T)) / 2;
linear: base + (lr_min - base) t / T; step: base * factor^(number of boundaries <= s), the
boundaries being --lr_step_epochs times the steps per epoch.
Flags: --lr_schedule, --learning_rate, --lr_min, --lr_step_epochs, --lr_step_factor, --warmup_epochs.
"""

import math

import keras
import tensorflow as tf

from tfreg import choices


@keras.saving.register_keras_serializable(package="tfreg")
class Schedule(keras.optimizers.schedules.LearningRateSchedule):
    def __init__(self, kind, base_lr, total_steps, warmup_steps=0, lr_min=0.0,
                 boundaries=(), factor=0.1):
        self.kind = choices.check("schedule kind", kind, choices.LR_SCHEDULES)
        self.base_lr = float(base_lr)
        self.total_steps = int(total_steps)
        self.warmup_steps = int(warmup_steps)
        self.lr_min = float(lr_min)
        self.boundaries = tuple(int(b) for b in boundaries)
        self.factor = float(factor)

    def __call__(self, step):
        s = tf.cast(step, tf.float32)
        base, warm = self.base_lr, float(self.warmup_steps)
        t = s - warm
        span = float(max(self.total_steps - self.warmup_steps, 1))
        if self.kind == "constant":
            lr = tf.constant(base)
        elif self.kind == "cosine":
            lr = self.lr_min + (base - self.lr_min) * 0.5 * (1 + tf.cos(math.pi * tf.minimum(t, span) / span))
        elif self.kind == "linear":
            lr = base + (self.lr_min - base) * tf.minimum(t, span) / span
        else:  # step (the constructor refused every other kind)
            passed = tf.add_n([tf.cast(s >= b, tf.float32) for b in self.boundaries] or [0.0])
            lr = base * tf.pow(self.factor, passed)
        if self.warmup_steps:
            lr = tf.where(s < warm, base * (s + 1) / warm, lr)
        return lr

    def get_config(self):
        return {"kind": self.kind, "base_lr": self.base_lr, "total_steps": self.total_steps,
                "warmup_steps": self.warmup_steps, "lr_min": self.lr_min,
                "boundaries": list(self.boundaries), "factor": self.factor}


def from_config(t, steps_per_epoch):
    return Schedule(t.lr_schedule, t.learning_rate, t.epochs * steps_per_epoch,
                    int(round(t.warmup_epochs * steps_per_epoch)), t.lr_min,
                    [e * steps_per_epoch for e in t.lr_step_epochs], t.lr_step_factor)
