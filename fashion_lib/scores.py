"""Scores of one model's predictions, used by every stage: label and probability checks, accuracy,
per-class metrics, the confusion matrix and its most frequent mistake, and the summary `metrics.json` records.

Labels are 1-D integer arrays of class indices 0-9 (see `config.CLASS_NAMES`); probabilities are
(n, 10) arrays of softmax outputs. Every function returns plain Python numbers, NumPy arrays or
pandas DataFrames, so that notebooks and `metrics.json` are fed from the same computation. Comparisons
of models, voting and ensembles build on these in fashion_lib.analysis.evaluation.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import precision_recall_fscore_support

from fashion_lib import config
from fashion_lib.storage import to_builtin

# Softmax rows sum to 1 up to float32 rounding; anything further off is logits or garbage.
_PROBABILITY_SUM_TOLERANCE = 1e-3


def as_labels(labels: Any, name: str) -> np.ndarray:
    """`labels` as a 1-D int64 array of class indices, or ValueError saying what is wrong."""
    array = np.asarray(labels)
    if array.ndim != 1:
        raise ValueError(
            f"{name} must be a 1-D array of class indices, got shape {array.shape}. "
            "If these are probabilities, take argmax(axis=1) first."
        )
    if array.dtype.kind == "f":
        # Integral floats (e.g. labels that passed through pandas) are accepted; fractions are not.
        if not np.all(np.isfinite(array)) or not np.all(array == np.round(array)):
            raise ValueError(f"{name} must hold whole class indices, got non-integer values.")
    elif array.dtype.kind not in "iu":
        raise ValueError(f"{name} must hold integer class indices, got dtype {array.dtype}.")
    array = array.astype(np.int64)
    if array.size and (array.min() < 0 or array.max() >= config.NUM_CLASSES):
        bad = int(np.flatnonzero((array < 0) | (array >= config.NUM_CLASSES))[0])
        raise ValueError(f"{name} holds label {int(array[bad])} at index {bad}, outside 0-{config.NUM_CLASSES - 1}.")
    return array


def as_label_pair(y_true: Any, y_pred: Any, pred_name: str = "y_pred") -> tuple[np.ndarray, np.ndarray]:
    """Validated true and predicted labels of equal, non-zero length."""
    true = as_labels(y_true, "y_true")
    pred = as_labels(y_pred, pred_name)
    if len(true) != len(pred):
        raise ValueError(f"y_true has {len(true)} labels but {pred_name} has {len(pred)}: they must match.")
    if len(true) == 0:
        raise ValueError("y_true is empty: there is nothing to evaluate.")
    return true, pred


def as_probabilities(probabilities: Any, name: str) -> np.ndarray:
    """`probabilities` as an (n, 10) float64 array of softmax rows, or ValueError."""
    array = np.asarray(probabilities, dtype=np.float64)
    if array.ndim != 2 or array.shape[1] != config.NUM_CLASSES:
        raise ValueError(
            f"{name} must have shape (n, {config.NUM_CLASSES}) (one probability per class), got {array.shape}."
        )
    if not np.all(np.isfinite(array)) or np.any(array < 0):
        raise ValueError(f"{name} holds negative or non-finite values: pass softmax probabilities, not logits.")
    sums = array.sum(axis=1)
    if array.size and not np.allclose(sums, 1.0, atol=_PROBABILITY_SUM_TOLERANCE):
        worst = int(np.argmax(np.abs(sums - 1.0)))
        raise ValueError(
            f"{name} row {worst} sums to {sums[worst]:.4f}, not 1: pass softmax probabilities, not logits."
        )
    return array


def accuracy(y_true: Any, y_pred: Any) -> float:
    """Fraction of examples whose predicted label equals the true label."""
    true, pred = as_label_pair(y_true, y_pred)
    return float(np.mean(true == pred))


def confusion_matrix_frame(y_true: Any, y_pred: Any) -> pd.DataFrame:
    """Counts of (true, predicted) pairs: rows are true class names, columns predicted class names."""
    true, pred = as_label_pair(y_true, y_pred)
    # bincount over the flattened (true, pred) cell index keeps all 10x10 cells, even empty ones.
    counts = np.bincount(true * config.NUM_CLASSES + pred, minlength=config.NUM_CLASSES**2)
    return pd.DataFrame(
        counts.reshape(config.NUM_CLASSES, config.NUM_CLASSES),
        index=pd.Index(config.CLASS_NAMES, name="true"),
        columns=pd.Index(config.CLASS_NAMES, name="predicted"),
    )


def per_class_metrics(y_true: Any, y_pred: Any) -> pd.DataFrame:
    """Precision, recall, F1, support and accuracy per class, indexed by class name.

    A class's `accuracy` is the fraction of that class's examples classified correctly, which is
    what the seed report calls a class's accuracy ("shirts at 76%"). It equals the class's recall;
    it is kept as its own column so that the report can use the seed's word. Precision of a class
    that is never predicted, and recall of a class with no examples, are 0 (zero_division=0).
    """
    true, pred = as_label_pair(y_true, y_pred)
    labels = list(range(config.NUM_CLASSES))
    precision, recall, f1, support = precision_recall_fscore_support(true, pred, labels=labels, zero_division=0)
    correct = np.bincount(true[true == pred], minlength=config.NUM_CLASSES)
    # A class absent from y_true has no accuracy to speak of; 0 matches recall under zero_division=0.
    class_accuracy = np.divide(correct, support, out=np.zeros(config.NUM_CLASSES), where=support > 0)
    return pd.DataFrame(
        {
            "precision": precision.astype(float),
            "recall": recall.astype(float),
            "f1": f1.astype(float),
            "support": support.astype(int),
            "accuracy": class_accuracy,
        },
        index=pd.Index(config.CLASS_NAMES, name="class"),
    )


def top_confusion(y_true: Any, y_pred: Any) -> dict[str, Any]:
    """The most frequent mistake: its true class, the class predicted instead, and how often."""
    confusion = confusion_matrix_frame(y_true, y_pred).to_numpy().copy()
    np.fill_diagonal(confusion, 0)
    true, predicted = np.unravel_index(int(np.argmax(confusion)), confusion.shape)
    return {
        "true": config.CLASS_NAMES[true],
        "predicted": config.CLASS_NAMES[predicted],
        "count": int(confusion[true, predicted]),
    }


def summarise(y_true: Any, probabilities: Any) -> dict[str, Any]:
    """Test accuracy and per-class metrics of one model's probabilities, as a JSON-ready dict."""
    probs = as_probabilities(probabilities, "probabilities")
    true = as_labels(y_true, "y_true")
    if len(true) != len(probs):
        raise ValueError(f"y_true has {len(true)} labels but probabilities has {len(probs)} rows: they must match.")
    pred = probs.argmax(axis=1)
    per_class = per_class_metrics(true, pred)
    return {
        "test_accuracy": accuracy(true, pred),
        "per_class": {
            name: {column: to_builtin(value) for column, value in row.items()}
            for name, row in per_class.to_dict(orient="index").items()
        },
    }
