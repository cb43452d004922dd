"""One seed drives a run: Python, NumPy, TensorFlow/Keras and op determinism."""

from __future__ import annotations

import os
import random

import numpy as np


def set_global_seed(seed: int, *, deterministic_ops: bool = True) -> None:
    """Seed every generator in use; with `deterministic_ops`, ask TensorFlow for deterministic kernels."""
    os.environ["PYTHONHASHSEED"] = str(seed)
    random.seed(seed)
    np.random.seed(seed)
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    if deterministic_ops:
        tf.config.experimental.enable_op_determinism()
