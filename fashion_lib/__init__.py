"""fashion_lib: data, models, tuning, training, evaluation and figures for the Fashion-MNIST report."""

import os

# TensorFlow's C++ log lines (CPU features, oneDNN, a benign graph-attribute mismatch logged as an
# error by tf.data) would otherwise land in every notebook
# page; this must be set before TensorFlow is first imported, and fashion_lib is imported first.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

__version__ = "0.1.0"
