"""One model's scores (label checks, accuracy, confusion, per-class metrics, summary) on small synthetic labels
with known answers."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pandas as pd
import pytest
from conftest import one_hot
from sklearn.metrics import classification_report, confusion_matrix, precision_recall_fscore_support

from fashion_lib import scores
from fashion_lib.config import CLASS_NAMES, NUM_CLASSES, SHIRT


@pytest.fixture()
def labels() -> tuple[np.ndarray, np.ndarray]:
    """200 seeded true labels (every class present) and predictions about 70% correct."""
    rng = np.random.default_rng(7)
    y_true = np.concatenate([np.arange(NUM_CLASSES), rng.integers(0, NUM_CLASSES, 190)])
    y_pred = np.where(rng.random(200) < 0.7, y_true, rng.integers(0, NUM_CLASSES, 200))
    return y_true, y_pred


def test_accuracy_known_answer() -> None:
    assert scores.accuracy([0, 1, 2, 3], [0, 1, 9, 3]) == pytest.approx(0.75)


def test_confusion_matrix_frame_matches_sklearn(labels: tuple[np.ndarray, np.ndarray]) -> None:
    y_true, y_pred = labels
    frame = scores.confusion_matrix_frame(y_true, y_pred)
    assert list(frame.index) == list(CLASS_NAMES) and list(frame.columns) == list(CLASS_NAMES)
    assert (frame.index.name, frame.columns.name) == ("true", "predicted")
    np.testing.assert_array_equal(frame.to_numpy(), confusion_matrix(y_true, y_pred, labels=range(NUM_CLASSES)))


def test_confusion_matrix_frame_rows_are_true_classes() -> None:
    frame = scores.confusion_matrix_frame([SHIRT, SHIRT], [0, SHIRT])
    assert frame.loc["Shirt", "T-shirt/top"] == 1
    assert frame.loc["Shirt", "Shirt"] == 1
    assert frame.to_numpy().sum() == 2


def test_per_class_metrics_match_sklearn(labels: tuple[np.ndarray, np.ndarray]) -> None:
    y_true, y_pred = labels
    frame = scores.per_class_metrics(y_true, y_pred)
    assert list(frame.index) == list(CLASS_NAMES)
    assert list(frame.columns) == ["precision", "recall", "f1", "support", "accuracy"]
    report = classification_report(
        y_true, y_pred, labels=range(NUM_CLASSES), target_names=CLASS_NAMES, output_dict=True, zero_division=0
    )
    for name in CLASS_NAMES:
        assert frame.loc[name, "precision"] == pytest.approx(report[name]["precision"])
        assert frame.loc[name, "recall"] == pytest.approx(report[name]["recall"])
        assert frame.loc[name, "f1"] == pytest.approx(report[name]["f1-score"])
        assert frame.loc[name, "support"] == report[name]["support"]


def test_per_class_accuracy_is_fraction_of_class_correct() -> None:
    # Shirts: 4 examples, 3 right. T-shirts: 2 examples, both right (plus one shirt wrongly called a T-shirt).
    y_true = [SHIRT, SHIRT, SHIRT, SHIRT, 0, 0]
    y_pred = [SHIRT, SHIRT, SHIRT, 0, 0, 0]
    frame = scores.per_class_metrics(y_true, y_pred)
    assert frame.loc["Shirt", "accuracy"] == pytest.approx(0.75)
    assert frame.loc["T-shirt/top", "accuracy"] == pytest.approx(1.0)
    assert frame.loc["T-shirt/top", "precision"] == pytest.approx(2 / 3)
    np.testing.assert_allclose(frame["accuracy"], frame["recall"])


def test_per_class_metrics_never_predicted_class_is_zero_without_warnings() -> None:
    y_true = np.arange(NUM_CLASSES)
    y_pred = np.zeros(NUM_CLASSES, dtype=int)  # only class 0 is ever predicted
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        frame = scores.per_class_metrics(y_true, y_pred)
    assert frame.loc["Trouser", "precision"] == 0.0
    assert frame.loc["Trouser", "f1"] == 0.0
    _, _, _, support = precision_recall_fscore_support(y_true, y_pred, labels=range(NUM_CLASSES), zero_division=0)
    np.testing.assert_array_equal(frame["support"], support)


def test_summarise_is_json_ready() -> None:
    y_true = np.array([0, 1, SHIRT, SHIRT])
    probs = one_hot([0, 1, SHIRT, 0], confidence=0.8)
    summary = scores.summarise(y_true, probs)
    assert summary["test_accuracy"] == pytest.approx(0.75)
    assert set(summary["per_class"]) == set(CLASS_NAMES)
    assert summary["per_class"]["Shirt"]["accuracy"] == pytest.approx(0.5)
    assert summary["per_class"]["Shirt"]["support"] == 2
    assert json.loads(json.dumps(summary, allow_nan=False)) == summary
    assert pd.DataFrame(summary["per_class"]).T.loc["Shirt", "recall"] == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: scores.accuracy([0, 1], [0]), "must match"),
        (lambda: scores.accuracy([0, 10], [0, 1]), "outside 0-9"),
        (lambda: scores.accuracy([0, -1], [0, 1]), "outside 0-9"),
        (lambda: scores.accuracy([0.5, 1], [0, 1]), "whole class indices"),
        (lambda: scores.accuracy(one_hot([0, 1]), [0, 1]), "1-D"),
        (lambda: scores.accuracy([], []), "empty"),
        (lambda: scores.summarise([0], np.full((1, 9), 1 / 9)), r"shape \(n, 10\)"),
        (lambda: scores.summarise([0, 1], one_hot([0])), "must match"),
        (lambda: scores.summarise([0], np.full((1, 10), 3.0)), "not logits"),
    ],
)
def test_bad_input_raises_value_error(call, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()


def test_top_confusion_names_the_most_frequent_mistake():
    y_true = np.array([6, 6, 6, 0, 0, 2, 3])
    y_pred = np.array([0, 0, 6, 6, 0, 4, 3])
    assert scores.top_confusion(y_true, y_pred) == {"true": "Shirt", "predicted": "T-shirt/top", "count": 2}
