"""Stochastic depth (Huang et al. 2016, "Deep Networks with Stochastic Depth", ECCV).

A residual branch is dropped with probability p_l. Per-block rates (`block_rates`), L blocks,
p_L = --drop_path_rate:
- paper: p_l = l / L * p_L for l = 1..L (the paper's linear decay rule; the first block gets
  p_L / L);
- timm: 0 at the first block, linear to p_L at the last (timm's make_blocks).
--drop_path_rule=auto takes the paper's rule in batch mode and timm's in sample mode.

Two conventions, never both scalings:
- batch (the paper): one Bernoulli draw per mini-batch, the same on every replica (the mini-batch
  is the global batch); no rescaling in training; at test time the branch is multiplied by its
  survival probability 1 - p_l. `DropPathBranch` holds the branch's layers and runs them inside a
  tf.cond only when the draw keeps it: a dropped branch costs no compute and moves no BatchNorm
  statistic, as in the paper. (With several replicas in sync, TensorFlow allows no cross-replica
  sum inside a tf.cond: the branch is computed, and its BatchNorm and seed updates are rolled
  back when dropped; the same result without the saving.) A dropped branch's weights get a zero
  gradient, so momentum and weight decay still act on them; PyTorch code that skips the branch
  leaves their grad None, and torch.optim then skips them.
- sample (timm `drop_path`, `DropPath` below): one draw per example; kept branches scaled by
  1 / (1 - p_l) in training; identity at test time. Every branch is computed.
`DropPath` defaults to sample mode, as timm's `DropPath` (public: tfreg.layers.DropPath); tfreg's
models pass the mode they use explicitly (tfreg.models.slots). Every saved DropPath config names
its mode, so a model saved when the default was batch reloads unchanged.
Site: model graph, on each block's residual branch before the addition.
Flags: --drop_path_rate, --drop_path_mode, --drop_path_rule.
"""

import keras
import tensorflow as tf

try:  # private: Keras has no public "inside a StatelessScope?" (tests/test_keras_internals.py)
    from keras.src.backend import in_stateless_scope
except ImportError:  # pragma: no cover - a Keras without it: always the masked path (same result)
    def in_stateless_scope():
        return True

from tfreg import choices
from tfreg.choices import DROP_PATH_MODES as MODES
from tfreg.regularizers._random import replica_seed


def resolve_rule(rule, mode):
    """The per-block rule --drop_path_rule names: auto = paper in batch mode, timm in sample mode."""
    choices.check("drop_path_rule", rule, choices.DROP_PATH_RULES)
    choices.check("drop_path_mode", mode, MODES)
    if rule == "auto":
        return "paper" if mode == "batch" else "timm"
    return rule


def block_rates(final_rate, num_blocks, rule):
    """Per-block drop probabilities, first block to last, computed once for a whole network.

    Args:
        final_rate: the last block's drop probability p_L.
        num_blocks: L, the number of residual blocks.
        rule: "paper" (p_l = l / L * p_L, l = 1..L) or "timm" (0 at the first block, linear to
            p_L at the last).

    Returns:
        A list of L floats.
    """
    choices.check("drop_path rule", rule, ("paper", "timm"))
    if rule == "paper":
        return [final_rate * l / num_blocks for l in range(1, num_blocks + 1)]
    if num_blocks == 1:
        return [final_rate]
    return [final_rate * b / (num_blocks - 1) for b in range(num_blocks)]


def _replicas_in_sync():
    context = tf.distribute.get_replica_context()
    return context.num_replicas_in_sync if context is not None else 1


def _batch_seed(seed_generator):
    # One draw for the global batch: every replica reads the same generator state.
    return tf.cast(seed_generator.next(), tf.int64)


def drop_path(x, rate, mode="sample", seed=None, training=False):
    """Stochastic depth on an already computed branch output: the pure function form of `DropPath`.

    Args:
        x: the residual branch's output, [batch, ...].
        rate: drop probability in [0, 1).
        mode: "sample" (timm: one draw per example, kept ones scaled by 1 / (1 - rate), identity
            at inference) or "batch" (the paper: one draw for the whole batch, no scaling in
            training, times 1 - rate at inference).
        seed: shape-[2] integer seed of the stateless draw; required when `training`.
        training: whether to draw (True) or apply the inference rule (False).

    Returns:
        A tensor of x's shape and dtype.
    """
    keep = 1.0 - rate
    if not training:
        return x * tf.cast(keep, x.dtype) if mode == "batch" else x
    shape = [1] * len(x.shape) if mode == "batch" else [tf.shape(x)[0]] + [1] * (len(x.shape) - 1)
    mask = tf.cast(tf.random.stateless_uniform(shape, seed) < keep, x.dtype)
    return x * mask if mode == "batch" else x * mask / tf.cast(keep, x.dtype)


def _check_rate(rate):
    if not 0 <= rate < 1:
        raise ValueError(f"DropPath rate must be in [0, 1), received rate={rate}")


@keras.saving.register_keras_serializable(package="tfreg")
class DropPath(keras.layers.Layer):
    """Stochastic depth on an already computed residual branch (timm's `DropPath` by default).

    Put it on the branch, before the addition: `x + DropPath(0.1)(branch(x))`. The default follows
    timm: one draw per example, kept examples scaled by 1 / (1 - rate), identity at inference.
    `mode="batch"` is the paper's convention (Huang et al. 2016): one draw for the whole batch,
    no scaling in training, the branch times 1 - rate at inference (to skip a dropped branch's
    compute as well, wrap its layers in `DropPathBranch`). Masks differ across replicas in sample
    mode; the batch draw is shared by every replica.

    Args:
        rate: drop probability in [0, 1); 0 returns the input.
        mode: "sample" (default, timm) or "batch" (the paper).
        seed: integer seed of the layer's `keras.random.SeedGenerator`, or None.
        **kwargs: `keras.layers.Layer` arguments (name, dtype, ...).

    Call arguments:
        x: the branch output.
        training: True draws; False (default) applies the inference rule.
    """

    def __init__(self, rate, mode="sample", seed=None, **kwargs):
        super().__init__(**kwargs)
        _check_rate(rate)
        if mode not in MODES:
            raise ValueError(f"DropPath mode must be one of {MODES}, received mode={mode!r}")
        self.rate = rate
        self.mode = mode
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, x, training=False):
        if self.rate == 0:
            return x
        seed = None
        if training:
            seed = _batch_seed(self.seed_generator) if self.mode == "batch" else replica_seed(self.seed_generator)
        return drop_path(x, self.rate, self.mode, seed, training)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "mode": self.mode, "seed": self.seed}


@keras.saving.register_keras_serializable(package="tfreg")
class DropPathBranch(keras.layers.Layer):
    """Batch-mode stochastic depth around a residual branch: `branch` (a functional sub-model whose
    layers keep their own names, e.g. stage2_block1_conv1) runs in training only when the batch's
    draw keeps it; otherwise the output is zeros of the branch's shape. At test time the branch
    output times 1 - rate. With several replicas in sync, under Keras's stateless_call, or with
    conditional=False, the branch is computed and its effects undone when dropped (`_masked`): the
    same result, no saving. tfreg builds it with conditional=False under --jit_compile: XLA's
    dynamic padder rejects the gradient of the tf.cond whose batch dimension is dynamic (seen with
    the fused batch-norm kernel in the branch).

    Args:
        branch: a `keras.Model` from the block input to the branch output (before the addition).
        rate: drop probability in [0, 1).
        seed: integer seed of the layer's `keras.random.SeedGenerator`, or None.
        conditional: run the branch inside a tf.cond when kept (True), or compute it always and
            mask it (False; the same result).
        **kwargs: `keras.layers.Layer` arguments (name, dtype, ...).

    Call arguments:
        x: the block input.
        training: True draws; False (default) returns branch(x) * (1 - rate).
    """

    def __init__(self, branch, rate, seed=None, conditional=True, **kwargs):
        super().__init__(**kwargs)
        _check_rate(rate)
        self.branch = branch
        self.rate = rate
        self.seed = seed
        self.conditional = conditional
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, x, training=False):
        keep = 1.0 - self.rate
        if not training:
            return self.branch(x, training=False) * tf.cast(keep, self.compute_dtype)
        kept = tf.random.stateless_uniform([], _batch_seed(self.seed_generator)) < keep
        if not self.conditional or in_stateless_scope() or _replicas_in_sync() > 1:
            return self._masked(x, kept)
        out_shape = self.compute_output_shape(x.shape)

        def dropped():
            return tf.zeros(tf.concat([tf.shape(x)[:1], out_shape[1:]], 0), self.compute_dtype)

        return tf.cond(kept, lambda: tf.cast(self.branch(x, training=True), self.compute_dtype),
                       dropped)

    def _masked(self, x, kept):
        # Where no tf.cond may hold the branch (a cross-replica sum inside one is unsupported; under
        # stateless_call no variable may change inside one): compute it, zero it, and when dropped
        # roll back the state it moved (BatchNorm statistics, dropout seeds). Same result as the
        # tf.cond path, without the saving.
        state = self.branch.non_trainable_variables
        before = [tf.identity(v.value) for v in state]
        y = tf.cast(self.branch(x, training=True), self.compute_dtype)
        for v, old in zip(state, before):
            v.assign(tf.where(kept, v.value, old))
        return y * tf.cast(kept, y.dtype)

    def compute_output_shape(self, input_shape):
        return self.branch.compute_output_shape(input_shape)

    def get_config(self):
        return {**super().get_config(), "branch": keras.saving.serialize_keras_object(self.branch),
                "rate": self.rate, "seed": self.seed, "conditional": self.conditional}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["branch"] = keras.saving.deserialize_keras_object(config["branch"])
        return cls(**config)
