"""Optimizers with PyTorch semantics and the per-variable gradient transforms (AGC, l2 decay).

The transforms run in `update_step`, which Keras calls per variable after the cross-replica
gradient sum (`_backend_update_step` all-reduces first), and after loss-scale unscaling; Keras's
own `clipnorm` runs before the sum, on per-replica partial gradients, so it is not used.
Order per variable: AGC, then + wd * w (l2 mode), then the optimizer's update.

Each optimizer follows its torch.optim counterpart's update exactly (t = step, from 1):
- SGD: buf = mu buf + g; d = g + mu buf (Nesterov) or buf; w -= lr d. Keras's SGD folds the
  learning rate into the momentum buffer, which differs whenever the rate changes.
- Adam: m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
  w -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps). Keras adds eps to sqrt(v) before
  the bias correction, i.e. eps / sqrt(1 - b2^t) in torch's terms, 31.6x torch's at t = 1 with
  b2 = 0.999.
- AdamW: w -= lr wd w (Keras's decoupled `weight_decay`, applied before the update, as
  torch.optim.AdamW), then the Adam step.
- RMSprop (centered=False): s = alpha s + (1 - alpha) g^2; a = sqrt(s) + eps; with momentum
  buf = mu buf + g / a, w -= lr buf; without, w -= lr g / a. Keras puts eps inside the square root
  and folds the learning rate into the momentum buffer.
Keras's slot variables (momentums, velocities) are kept, so checkpoints save and restore them.
"""

import keras
from keras import ops

from tfreg.regularizers import agc, weight_decay


class _GradientTransforms:
    def set_gradient_transforms(self, agc_variables, agc_clip, agc_eps, l2_variables, l2):
        self._agc_keys = {self._var_key(v) for v in agc_variables} if agc_clip > 0 else set()
        self._l2_keys = {self._var_key(v) for v in l2_variables} if l2 > 0 else set()
        self._agc_clip, self._agc_eps, self._l2 = agc_clip, agc_eps, l2

    def update_step(self, gradient, variable, learning_rate):
        key = self._var_key(variable)
        if key in getattr(self, "_agc_keys", ()):
            gradient = agc.clip_gradient(gradient, variable, self._agc_clip, self._agc_eps)
        if key in getattr(self, "_l2_keys", ()):
            gradient = weight_decay.l2_gradient(gradient, variable, self._l2)
        return super().update_step(gradient, variable, learning_rate)


class TorchSGD(keras.optimizers.SGD):
    """keras SGD with torch.optim.SGD's update rule (dampening 0)."""

    def update_step(self, gradient, variable, learning_rate):
        lr = keras.ops.cast(learning_rate, variable.dtype)
        gradient = keras.ops.cast(gradient, variable.dtype)
        if self.momentum == 0:
            self.assign_sub(variable, lr * gradient)
            return
        buf = self.momentums[self._get_variable_index(variable)]
        new_buf = self.momentum * buf + gradient  # buf starts at 0, so the first buf is g as in torch
        self.assign(buf, new_buf)
        direction = gradient + self.momentum * new_buf if self.nesterov else new_buf
        self.assign_sub(variable, lr * direction)


class _TorchAdamStep:
    """torch.optim.Adam's update (amsgrad=False) on keras Adam's / AdamW's slots."""

    def update_step(self, gradient, variable, learning_rate):
        dtype = variable.dtype
        lr = ops.cast(learning_rate, dtype)
        gradient = ops.cast(gradient, dtype)
        step = ops.cast(self.iterations + 1, dtype)
        beta_1, beta_2 = ops.cast(self.beta_1, dtype), ops.cast(self.beta_2, dtype)
        index = self._get_variable_index(variable)
        m, v = self._momentums[index], self._velocities[index]
        self.assign(m, beta_1 * m + (1 - beta_1) * gradient)
        self.assign(v, beta_2 * v + (1 - beta_2) * ops.square(gradient))
        denom = ops.sqrt(v) / ops.sqrt(1 - ops.power(beta_2, step)) + self.epsilon
        self.assign_sub(variable, lr / (1 - ops.power(beta_1, step)) * m / denom)


class TorchAdam(_TorchAdamStep, keras.optimizers.Adam):
    pass


class TorchAdamW(_TorchAdamStep, keras.optimizers.AdamW):
    pass


class TorchRMSprop(keras.optimizers.RMSprop):
    """keras RMSprop with torch.optim.RMSprop's update rule (centered=False)."""

    def update_step(self, gradient, variable, learning_rate):
        lr = ops.cast(learning_rate, variable.dtype)
        gradient = ops.cast(gradient, variable.dtype)
        index = self._get_variable_index(variable)
        square_avg = self._velocities[index]
        self.assign(square_avg, self.rho * square_avg + (1 - self.rho) * ops.square(gradient))
        scaled = gradient / (ops.sqrt(square_avg) + self.epsilon)
        if self.momentum == 0:
            self.assign_sub(variable, lr * scaled)
            return
        buf = self._momentums[index]
        self.assign(buf, self.momentum * buf + scaled)
        self.assign_sub(variable, lr * buf)


class SGD(_GradientTransforms, TorchSGD):
    pass


class Adam(_GradientTransforms, TorchAdam):
    pass


class AdamW(_GradientTransforms, TorchAdamW):
    pass


class RMSprop(_GradientTransforms, TorchRMSprop):
    pass


def make_optimizer(t, schedule, trainable_variables):
    """The optimizer for --optimizer, with AGC and weight decay wired per variable."""
    decayed = weight_decay.decayed_variables(trainable_variables, t.weight_decay_exclude)
    decoupled = t.weight_decay if t.weight_decay_mode == "decoupled" and t.weight_decay > 0 else None
    common = {"learning_rate": schedule, "weight_decay": decoupled}
    if t.optimizer == "sgd":
        opt = SGD(momentum=t.momentum, nesterov=t.nesterov, **common)
    elif t.optimizer == "adam":
        opt = Adam(beta_1=t.beta_1, beta_2=t.beta_2, epsilon=t.optimizer_epsilon, **common)
    elif t.optimizer == "adamw":
        opt = AdamW(beta_1=t.beta_1, beta_2=t.beta_2, epsilon=t.optimizer_epsilon,
                    **{**common, "weight_decay": decoupled or 0.0})
    else:
        opt = RMSprop(rho=t.rmsprop_rho, momentum=t.momentum, epsilon=t.optimizer_epsilon, **common)
    if decoupled:
        spared = [v for v in trainable_variables if all(v is not d for d in decayed)]
        opt.exclude_from_weight_decay(var_list=spared)
    l2 = t.weight_decay if t.weight_decay_mode == "l2" else 0.0
    opt.set_gradient_transforms(agc.clipped_variables(trainable_variables, t.agc_stages),
                                t.agc_clip, t.agc_eps, decayed, l2)
    return opt
