"""Per-call stateless seeds that differ across replicas.

Keras 3 layers draw from one SeedGenerator state per layer; under a distribution strategy every
replica would then draw the same mask. Folding the replica id into the seed gives each replica its
own mask while keeping the draws reproducible from the layer's seed.
"""

import tensorflow as tf


def replica_seed(seed_generator):
    seed = tf.cast(seed_generator.next(), tf.int64)
    context = tf.distribute.get_replica_context()
    replica = context.replica_id_in_sync_group if context is not None else 0
    return tf.random.experimental.stateless_fold_in(seed, tf.cast(replica, tf.int64))
