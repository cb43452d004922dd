"""Training on several devices: the distribution strategy and the global batch size."""

from __future__ import annotations

import tensorflow as tf


def training_strategy(force_mirrored: bool = False) -> tf.distribute.Strategy:
    """MirroredStrategy over every GPU when there are several (or over every device when asked), else the default.

    Without GPUs, `force_mirrored` mirrors over the CPU devices TensorFlow sees (one, unless logical devices
    were configured). Build and compile the model inside `strategy.scope()`.
    """
    gpus = tf.config.list_logical_devices("GPU")
    if len(gpus) > 1 or force_mirrored:
        devices = gpus or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy(devices=[device.name for device in devices])
    return tf.distribute.get_strategy()


def global_batch_size(per_replica_batch_size: int, strategy: tf.distribute.Strategy) -> int:
    """The batch size to give Keras: each replica's batch times the number of replicas in sync."""
    if per_replica_batch_size < 1:
        raise ValueError(f"The batch size per replica must be at least 1, got {per_replica_batch_size}.")
    return int(per_replica_batch_size) * int(strategy.num_replicas_in_sync)
