"""One seed drives a run: Python, NumPy, TensorFlow/Keras and op determinism.

Python's string hashing (PYTHONHASHSEED) is not set here: it is fixed when the interpreter starts, and
setting it from inside a running process has no effect. A process whose results must not depend on the
order of a set of strings has to be started with it set.
"""

from __future__ import annotations

import random

import numpy as np


def set_global_seed(seed: int, *, deterministic_ops: bool = True) -> None:
    """Seed every generator in use; with `deterministic_ops`, ask TensorFlow for deterministic kernels."""
    random.seed(seed)
    np.random.seed(seed)
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    if deterministic_ops:
        tf.config.experimental.enable_op_determinism()
