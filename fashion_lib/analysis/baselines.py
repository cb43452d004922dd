"""Reference points for the networks: a classical pixel classifier fitted in the run, and a quoted human figure."""

from __future__ import annotations

import time
import warnings
from typing import Any

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

# Quoted, not measured: the "Human Performance" row of the benchmark table in the Fashion-MNIST authors'
# README (zalandoresearch/fashion-mnist; Debian ships it as /usr/share/doc/dataset-fashion-mnist/README.md.gz):
# crowd-sourced labels by people with no fashion expertise on 1,000 randomly sampled test images,
# 3 labels per image, majority vote. It is a different sample and protocol from our test set.
HUMAN_ACCURACY = 0.835
HUMAN_ACCURACY_SOURCE = (
    "Fashion-MNIST authors' README, benchmark table, 'Human Performance': crowd-sourced, 1,000 random "
    "test images, 3 labels each, majority vote (quoted, not measured here)"
)


def fit_pixel_logistic_regression(
    train_x: Any, train_y: Any, *, max_iter: int = 100, regularisation: float = 1.0
) -> tuple[LogisticRegression, dict[str, Any]]:
    """A multinomial logistic regression on raw pixels (scaled to [0, 1]); returns it and fit facts.

    The facts are {"train_images", "fit_seconds", "iterations", "converged"}: with a small `max_iter`
    (to keep quick runs fast) lbfgs may stop before converging, which the report should say.
    """
    images = np.asarray(train_x, dtype=np.float32)
    labels = np.asarray(train_y)
    if images.ndim < 2 or len(images) != len(labels) or len(images) == 0:
        raise ValueError(
            f"train_x ({images.shape}) and train_y ({labels.shape}) must hold the same, non-zero number of images."
        )
    if max_iter < 1 or not regularisation > 0:
        raise ValueError(f"max_iter must be >= 1 and regularisation > 0, got {max_iter} and {regularisation}.")
    model = LogisticRegression(C=regularisation, max_iter=max_iter)
    start = time.perf_counter()
    with warnings.catch_warnings():
        # Not converging is recorded in the facts instead of printed as a warning in the report.
        warnings.simplefilter("ignore", category=ConvergenceWarning)
        model.fit(images.reshape(len(images), -1), labels)
    iterations = int(np.max(model.n_iter_))
    return model, {
        "train_images": len(images),
        "fit_seconds": time.perf_counter() - start,
        "iterations": iterations,
        "converged": iterations < max_iter,
    }


def predict_pixels(model: LogisticRegression, images: Any) -> np.ndarray:
    """Class probabilities of a pixel classifier for (n, 28, 28) images."""
    images = np.asarray(images, dtype=np.float32)
    return model.predict_proba(images.reshape(len(images), -1))
