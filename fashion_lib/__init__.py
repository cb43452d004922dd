"""fashion_lib: data, models, tuning, training, evaluation and figures for the Fashion-MNIST report."""

import os

# TensorFlow's C++ log lines (CPU features, oneDNN, a benign graph-attribute mismatch that tf.data
# logs as an error) would otherwise land in every notebook page. This must be set before TensorFlow
# is first imported, and the notebooks import fashion_lib first.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

__version__ = "0.1.0"
