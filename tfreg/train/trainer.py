"""The Keras model wrapper whose train_step carries label smoothing and the loss.

`Trainer` wraps the functional network (raw images -> probabilities) and trains on its logits.
Batches arrive with integer labels, or with soft targets when mixup or CutMix mixed them in tf.data
(tfreg.data.pipeline). Gradient transforms (AGC, l2 weight decay) live in the optimizer's
per-variable update, after the
cross-replica gradient sum (tfreg.train.optimizers). The loss of a step is the sum of per-example
losses over the global batch divided by its size, so reported values are global-batch means under
any number of replicas. Only the network is saved and exported.
"""

import keras
import tensorflow as tf

from tfreg.regularizers import label_smoothing


def per_example_loss(kind, targets, logits):
    if kind == "mse":
        probs = tf.nn.softmax(tf.cast(logits, tf.float32))
        return tf.reduce_mean(tf.square(probs - targets), axis=-1)
    return label_smoothing.cross_entropy(targets, logits)


class Trainer(keras.Model):
    def __init__(self, net, cfg, num_classes, **kwargs):
        super().__init__(name="trainer", **kwargs)
        self.net = net
        self.logits_net = keras.Model(net.inputs, net.get_layer("logits").output, name="logits_net")
        self.num_classes = num_classes
        self.train_cfg = cfg.train
        # Batch mixing draws in tf.data now; this generator stays so that checkpoints keep their
        # seed-state layout (tfreg.train.checkpoint.seed_generators) and older runs resume.
        self.mix_seed = keras.random.SeedGenerator(cfg.run.seed)
        self.loss_tracker = keras.metrics.Mean(name="loss")
        self.accuracy_tracker = keras.metrics.Mean(name="accuracy")
        self.grad_norm_tracker = keras.metrics.Mean(name="grad_norm")
        self.built = True  # the functional net is built; BackupAndRestore needs this before fit

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        # Keras traces a symbolic build from a real batch that it first reduces across replicas
        # in eager mode, which MultiWorkerMirroredStrategy cannot do (keras-team/keras#20585).
        # The network is already built; all a step needs beforehand is the optimizer's slot
        # variables, created under the strategy's scope. Built here on one device too: variables
        # created inside the first trace make tf.function trace the train step twice.
        if self.optimizer is None or self.optimizer.built:
            return
        with self.distribute_strategy.scope():
            self.optimizer.build(self.trainable_variables)

    @property
    def metrics(self):
        return [self.loss_tracker, self.accuracy_tracker, self.grad_norm_tracker]

    def call(self, x, training=False):
        return self.net(x, training=training)

    def targets(self, labels):
        """One-hot rows of integer labels; soft targets ([B, classes], mixed in tf.data) as
        they are."""
        if labels.shape.rank == 2 and labels.dtype.is_floating:
            return tf.cast(labels, tf.float32)
        return tf.one_hot(tf.cast(tf.reshape(labels, [-1]), tf.int32), self.num_classes)

    def loss_terms(self, targets, logits):
        t = self.train_cfg
        smoothed = label_smoothing.smooth_labels(targets, t.label_smoothing, t.label_smoothing_style)
        return per_example_loss(t.loss, smoothed, logits)

    def _global_count(self, local_count):
        context = tf.distribute.get_replica_context()
        if context is None or context.num_replicas_in_sync == 1:
            return local_count
        return context.all_reduce(tf.distribute.ReduceOp.SUM, local_count)

    def loss_and_gradients(self, images, targets, training=True, weights=None, scale_loss=False):
        """(loss, gradients, logits, per-example losses): the training loss (sum of per-example
        losses over the global batch / its size) and its gradients with respect to
        `self.trainable_variables`, as train_step computes them.

        weights=None differentiates the network's own variables (with training=True, BatchNorm
        statistics move as in any training call). A list of tensors, one per trainable variable,
        evaluates the network at those weights through Keras's stateless_call: no variable,
        BatchNorm statistic or seed changes (the loss-landscape probes of tfreg.analysis).
        scale_loss: gradients of the optimizer's scaled loss (mixed precision), for optimizer.apply.
        """
        variables = self.trainable_variables
        local = tf.cast(tf.shape(images)[0], tf.float32)
        with tf.GradientTape() as tape:
            if weights is None:
                logits = self.logits_net(images, training=training)
            else:
                tape.watch(weights)
                state = [v.value for v in self.logits_net.non_trainable_variables]
                logits, _ = self.logits_net.stateless_call(weights, state, images, training=training)
            losses = self.loss_terms(targets, logits)
            loss = tf.reduce_sum(losses) / self._global_count(local)
            scaled = self.optimizer.scale_loss(loss) if scale_loss else loss
        grads = tape.gradient(scaled, variables if weights is None else weights)
        return loss, grads, logits, losses

    def train_step(self, data):
        images, labels = data
        targets = self.targets(labels)
        loss, grads, logits, losses = self.loss_and_gradients(images, targets, scale_loss=True)
        grads, finite = self._overflow_together(grads)
        # Norm of the global gradient (summed over replicas, as the optimizer applies it) before
        # AGC, unscaled by the scale this step used (apply may halve it after an overflow).
        unscale = tf.math.divide_no_nan(loss, tf.cast(self.optimizer.scale_loss(loss), loss.dtype))
        grad_norm = tf.linalg.global_norm(self._summed_over_replicas(grads)) * unscale
        self.optimizer.apply(grads, self.trainable_variables)
        if finite is not None:
            # A float16 step skipped for an overflow still counts for the learning-rate schedule
            # (as a PyTorch scheduler stepped every iteration): Keras's LossScaleOptimizer leaves
            # the step counter the schedule reads where it was. (Adam's bias correction reads the
            # same counter, so after a skipped step it counts one step more than torch's Adam.)
            self.optimizer.inner_optimizer.iterations.assign_add(
                tf.cast(tf.logical_not(finite), self.optimizer.inner_optimizer.iterations.dtype))
        self.grad_norm_tracker.update_state(grad_norm)
        return self._update_loss_and_accuracy(targets, logits, losses, self.metrics)

    def _summed_over_replicas(self, grads):
        """The gradients summed over replicas, as the optimizer sums them before its update (for
        the logged norm: one more all-reduce of the gradients per step under several replicas,
        none on one device, where they are returned as they are)."""
        context = tf.distribute.get_replica_context()
        if context is None or context.num_replicas_in_sync == 1:
            return grads
        return context.all_reduce(tf.distribute.ReduceOp.SUM, [g for g in grads if g is not None])

    def _overflow_together(self, grads):
        """float16 (Keras's LossScaleOptimizer) under several replicas: when any replica's scaled
        gradients overflow, every replica's are made non-finite, so all skip the step and halve the
        scale together. Keras decides from replica 0's local gradients (it assumes they were
        summed already), so an overflow on another replica alone went into the weights; under XLA
        each replica decides alone, and one could enter the all-reduce without the others.
        Returns (gradients, whether every replica's are finite); (gradients, None) without loss
        scaling."""
        if not isinstance(self.optimizer, keras.optimizers.LossScaleOptimizer):
            return grads, None
        finite = tf.reduce_all([tf.reduce_all(tf.math.is_finite(g)) for g in grads if g is not None])
        context = tf.distribute.get_replica_context()
        if context is None or context.num_replicas_in_sync == 1:
            return grads, finite
        overflowed = context.all_reduce(tf.distribute.ReduceOp.SUM, 1.0 - tf.cast(finite, tf.float32))
        poison = tf.where(overflowed > 0, float("nan"), 0.0)
        return [g if g is None else g + tf.cast(poison, g.dtype) for g in grads], overflowed == 0

    def _update_loss_and_accuracy(self, targets, logits, losses, reported):
        """Accuracy is against the arg-max of the (possibly mixed) targets."""
        self.loss_tracker.update_state(losses)
        hits = tf.cast(tf.equal(tf.argmax(logits, -1), tf.argmax(targets, -1)), tf.float32)
        self.accuracy_tracker.update_state(hits)
        return self._step_logs({m.name: m.result() for m in reported})

    def _step_logs(self, logs):
        # Under MultiWorkerMirroredStrategy, Keras reduces step outputs with axis=0, which fails on
        # scalars (keras-team/keras#20585); shape [1] reduces. Epoch logs come from the metrics.
        if isinstance(self.distribute_strategy, tf.distribute.MultiWorkerMirroredStrategy):
            return {k: tf.reshape(v, [1]) for k, v in logs.items()}
        return logs

    def test_step(self, data):
        images, labels = data
        targets = self.targets(labels)
        logits = self.logits_net(images, training=False)
        return self._update_loss_and_accuracy(targets, logits, self.loss_terms(targets, logits),
                                              [self.loss_tracker, self.accuracy_tracker])
