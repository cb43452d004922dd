"""fashion_lib: data, models, tuning, training, evaluation and figures for the Fashion-MNIST report."""

__version__ = "0.1.0"
