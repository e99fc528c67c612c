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
Every class is registered for Keras serialization (package "tfreg"), so a model compiled with one
reloads with `keras.saving.load_model`; the per-variable transforms that tfreg wires with
`set_gradient_transforms` are not part of the saved config.

`AdaptiveGradientClipping` wraps any Keras optimizer for `fit` (public: tfreg.optimizers).
"""

import keras
import tensorflow as tf
from keras import ops

from tfreg.regularizers import agc, weight_decay


class _GradientTransforms:
    """tfreg's per-variable transforms (AGC, l2 weight decay) in the update, after the
    cross-replica sum; off until `set_gradient_transforms` names the variables."""

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


@keras.saving.register_keras_serializable(package="tfreg")
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


@keras.saving.register_keras_serializable(package="tfreg")
class TorchAdam(_TorchAdamStep, keras.optimizers.Adam):
    """keras Adam with torch.optim.Adam's update rule (eps after the bias correction)."""


@keras.saving.register_keras_serializable(package="tfreg")
class TorchAdamW(_TorchAdamStep, keras.optimizers.AdamW):
    """keras AdamW with torch.optim.AdamW's update rule."""


@keras.saving.register_keras_serializable(package="tfreg")
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


_ARGS = """
    The constructor takes `keras.optimizers.{keras}`'s arguments, with the same defaults.

    Args:
        learning_rate: a float or a `keras.optimizers.schedules.LearningRateSchedule`.
{args}        weight_decay: decoupled decay (w -= lr * wd * w before the step), or None. PyTorch's
            coupled `weight_decay` (+ wd * w in the gradient) is `keras.regularizers.L2(wd / 2)`
            on the weights instead.
        **kwargs: `keras.optimizers.Optimizer` arguments (clipnorm, name, ...).
"""


@keras.saving.register_keras_serializable(package="tfreg")
class SGD(_GradientTransforms, TorchSGD):
    __doc__ = """SGD with torch.optim.SGD's update: buf = momentum * buf + g; w -= lr * buf (or
    lr * (g + momentum * buf) with nesterov); Keras's SGD folds the learning rate into the buffer,
    which differs whenever the rate changes.
""" + _ARGS.format(keras="SGD", args="""\
        momentum: momentum factor mu (0: plain SGD).
        nesterov: Nesterov momentum, as torch's.
""")


@keras.saving.register_keras_serializable(package="tfreg")
class Adam(_GradientTransforms, TorchAdam):
    __doc__ = """Adam with torch.optim.Adam's update: eps is added after the bias correction of
    sqrt(v) (Keras adds it before, 31.6x torch's eps at step 1 with beta_2 = 0.999).
""" + _ARGS.format(keras="Adam", args="""\
        beta_1: decay of the first moment.
        beta_2: decay of the second moment.
        epsilon: torch's eps.
""")


@keras.saving.register_keras_serializable(package="tfreg")
class AdamW(_GradientTransforms, TorchAdamW):
    __doc__ = """AdamW with torch.optim.AdamW's update: w -= lr * wd * w, then the torch Adam step.
""" + _ARGS.format(keras="AdamW", args="""\
        beta_1: decay of the first moment.
        beta_2: decay of the second moment.
        epsilon: torch's eps.
""").replace("decoupled decay (w -= lr * wd * w before the step), or None.",
             "decoupled decay (w -= lr * wd * w before the step); Keras's default 0.004.")


@keras.saving.register_keras_serializable(package="tfreg")
class RMSprop(_GradientTransforms, TorchRMSprop):
    __doc__ = """RMSprop with torch.optim.RMSprop's update (centered=False): eps outside the square
    root, and the learning rate outside the momentum buffer.
""" + _ARGS.format(keras="RMSprop", args="""\
        rho: decay of the squared-gradient average (torch's alpha).
        momentum: momentum factor (0: none).
        epsilon: torch's eps.
""")


@keras.saving.register_keras_serializable(package="tfreg")
class AdaptiveGradientClipping(keras.optimizers.Optimizer):
    """Adaptive gradient clipping (Brock et al. 2021) around any Keras optimizer.

    Each unit's gradient is clipped to `clip` times its weight norm (tfreg.regularizers.agc), then
    the wrapped optimizer applies it. Under a strategy with several replicas the clip acts on the
    summed (global-batch) gradient, as in the paper and in tfreg's own runs. TensorFlow backend.

        optimizer = tfreg.optimizers.AdaptiveGradientClipping(
            keras.optimizers.SGD(0.1, momentum=0.9), clip=0.01,
            exclude=model.get_layer("head").trainable_variables)

    Args:
        optimizer: the Keras optimizer that applies the clipped gradients (an instance, or a name
            or config that `keras.optimizers.get` accepts).
        clip: the largest allowed ratio ||G|| / max(||W||, eps) per unit (the paper's lambda).
        eps: floor of the weight norm.
        exclude: variables (or their `.path` strings) left unclipped: the classifier's, as in the
            paper. Matched by variable path, which the saved config keeps.
        name: the optimizer's name.
    """

    def __init__(self, optimizer, clip=0.01, eps=1e-3, exclude=(), name=None):
        if not clip > 0:
            raise ValueError(f"AdaptiveGradientClipping clip must be > 0, received clip={clip}")
        if not eps > 0:
            raise ValueError(f"AdaptiveGradientClipping eps must be > 0, received eps={eps}")
        super().__init__(learning_rate=0.0, name=name or "adaptive_gradient_clipping")
        self.inner_optimizer = keras.optimizers.get(optimizer)
        self.clip, self.eps = clip, eps
        self.exclude = sorted(agc.variable_paths(exclude))

    def build(self, var_list):
        self.inner_optimizer.build(var_list)
        super().build(var_list)

    @property
    def variables(self):
        return super().variables + self.inner_optimizer.variables

    def apply(self, grads, trainable_variables=None):
        if trainable_variables is None:
            raise ValueError("AdaptiveGradientClipping.apply needs the trainable_variables, "
                             "received None")
        grads, trainable_variables = list(grads), list(trainable_variables)
        if not self.built:
            self.build(trainable_variables)
        context = tf.distribute.get_replica_context()
        replicas = context.num_replicas_in_sync if context is not None else 1
        present = [i for i, g in enumerate(grads) if g is not None]
        if replicas > 1 and present:
            # Clip the global gradient: sum it here, then hand each replica 1 / replicas of the
            # clipped sum, which the inner optimizer's own cross-replica sum restores.
            summed = context.all_reduce(tf.distribute.ReduceOp.SUM, [grads[i] for i in present])
            for i, g in zip(present, summed):
                grads[i] = g
        clipped = agc.clip_gradients(grads, trainable_variables, self.clip, self.eps, self.exclude)
        if replicas > 1:
            clipped = [g if g is None else g / replicas for g in clipped]
        self.inner_optimizer.apply(clipped, trainable_variables)

    def stateless_apply(self, optimizer_variables, grads, trainable_variables):
        raise NotImplementedError("AdaptiveGradientClipping runs on the TensorFlow backend")

    @property
    def learning_rate(self):
        return self.inner_optimizer.learning_rate

    @learning_rate.setter
    def learning_rate(self, learning_rate):
        self.inner_optimizer.learning_rate = learning_rate

    @property
    def iterations(self):
        return self.inner_optimizer.iterations

    def scale_loss(self, loss):
        return self.inner_optimizer.scale_loss(loss)

    def finalize_variable_values(self, var_list):
        self.inner_optimizer.finalize_variable_values(var_list)

    def get_config(self):
        return {"name": self.name,
                "optimizer": keras.saving.serialize_keras_object(self.inner_optimizer),
                "clip": self.clip, "eps": self.eps, "exclude": list(self.exclude)}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        config["optimizer"] = keras.saving.deserialize_keras_object(
            config["optimizer"], custom_objects=custom_objects)
        return cls(**config)


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
