"""Honest uncertainty: seeded bootstrap confidence intervals and McNemar's test in plain words.

Every interval here is a percentile bootstrap over test images: the test set is resampled with
replacement `resamples` times, the statistic is recomputed on each resample, and the interval is
the middle `confidence` share of those values. Two models are compared on the *same* resamples
(a paired bootstrap), because their errors on one image are not independent.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from fashion_lib import config
from fashion_lib.scores import as_label_pair

INTERVAL_COLUMNS = ["estimate", "lower", "upper"]


def _check_settings(resamples: int, confidence: float) -> None:
    """ValueError unless `resamples` is a positive integer and `confidence` lies strictly in (0, 1)."""
    if isinstance(resamples, bool) or not isinstance(resamples, int | np.integer) or resamples < 1:
        raise ValueError(f"resamples must be a positive integer (e.g. 1000), got {resamples!r}.")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must lie strictly between 0 and 1 (e.g. 0.95), got {confidence!r}.")


def bootstrap_indices(size: int, *, resamples: int = 1000, seed: int) -> np.ndarray:
    """A (resamples, size) array of row indices drawn with replacement, reproducible from `seed`."""
    _check_settings(resamples, 0.5)
    if size < 1:
        raise ValueError(f"Cannot resample an empty set (size={size}): pass at least one example.")
    # int32 halves the memory of 1,000 x 10,000 indices; the test set is far below 2**31 rows.
    return np.random.default_rng(seed).integers(0, size, size=(resamples, size), dtype=np.int32)


def percentile_interval(samples: Any, *, confidence: float = 0.95) -> tuple[float, float]:
    """The percentile interval holding the middle `confidence` share of `samples`."""
    _check_settings(1, confidence)
    values = np.asarray(samples, dtype=np.float64)
    tail = (1.0 - confidence) / 2.0 * 100.0
    lower, upper = np.percentile(values, [tail, 100.0 - tail], axis=0)
    return float(lower), float(upper)


def bootstrap_accuracy(
    y_true: Any, y_pred: Any, *, resamples: int = 1000, confidence: float = 0.95, seed: int
) -> dict[str, float]:
    """Test accuracy with its percentile-bootstrap interval: {"estimate", "lower", "upper"}."""
    _check_settings(resamples, confidence)
    true, pred = as_label_pair(y_true, y_pred)
    correct = (true == pred).astype(np.float64)
    samples = correct[bootstrap_indices(len(true), resamples=resamples, seed=seed)].mean(axis=1)
    lower, upper = percentile_interval(samples, confidence=confidence)
    return {"estimate": float(correct.mean()), "lower": lower, "upper": upper}


def _f1_per_class(true: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """F1 of each class for each row of (resamples, n) label arrays; 0 where a class is absent and unpredicted."""
    rows = true.shape[0]
    # One bincount over (row, class) cells counts every resample at once.
    offsets = (np.arange(rows) * config.NUM_CLASSES)[:, None]
    size = rows * config.NUM_CLASSES

    def counts(cells: np.ndarray) -> np.ndarray:
        return np.bincount(cells.ravel(), minlength=size).reshape(rows, config.NUM_CLASSES)

    hits = np.where(true == pred, true + offsets, size)  # misses go to an overflow cell that is dropped
    true_positives = np.bincount(hits.ravel(), minlength=size + 1)[:size].reshape(rows, config.NUM_CLASSES)
    denominator = counts(true + offsets) + counts(pred + offsets)
    return np.divide(2.0 * true_positives, denominator, out=np.zeros(denominator.shape), where=denominator > 0)


def bootstrap_per_class_f1(
    y_true: Any, y_pred: Any, *, resamples: int = 1000, confidence: float = 0.95, seed: int
) -> pd.DataFrame:
    """Per-class F1 with percentile-bootstrap intervals: columns estimate, lower, upper, indexed by class name."""
    _check_settings(resamples, confidence)
    true, pred = as_label_pair(y_true, y_pred)
    indices = bootstrap_indices(len(true), resamples=resamples, seed=seed)
    samples = _f1_per_class(true[indices], pred[indices])
    estimate = _f1_per_class(true[None, :], pred[None, :])[0]
    tail = (1.0 - confidence) / 2.0 * 100.0
    lower, upper = np.percentile(samples, [tail, 100.0 - tail], axis=0)
    return pd.DataFrame(
        {"estimate": estimate, "lower": lower, "upper": upper}, index=pd.Index(config.CLASS_NAMES, name="class")
    )


def paired_bootstrap_difference(
    y_true: Any, pred_a: Any, pred_b: Any, *, resamples: int = 1000, confidence: float = 0.95, seed: int
) -> dict[str, float]:
    """Accuracy of model a minus model b, with a paired percentile-bootstrap interval.

    Returns {"estimate", "lower", "upper", "share_a_better"}: the last is the share of resamples in
    which model a is strictly more accurate, a plain-words companion to the interval.
    """
    _check_settings(resamples, confidence)
    true, a = as_label_pair(y_true, pred_a, "pred_a")
    _, b = as_label_pair(true, pred_b, "pred_b")
    # Per-image difference in correctness (-1, 0 or 1); resampling images keeps the two models paired.
    difference = (a == true).astype(np.float64) - (b == true).astype(np.float64)
    samples = difference[bootstrap_indices(len(true), resamples=resamples, seed=seed)].mean(axis=1)
    lower, upper = percentile_interval(samples, confidence=confidence)
    return {
        "estimate": float(difference.mean()),
        "lower": lower,
        "upper": upper,
        "share_a_better": float(np.mean(samples > 0)),
    }


def describe_mcnemar(
    comparison: dict[str, Any], *, names: tuple[str, str] = ("MLP", "CNN"), alpha: float = 0.05
) -> str:
    """McNemar's exact test, from `evaluation.compare_models`' result, as two plain sentences."""
    missing = {"only_a_wrong", "only_b_wrong", "mcnemar_p_value"} - set(comparison)
    if missing:
        raise ValueError(f"comparison lacks {sorted(missing)}: pass the dict evaluation.compare_models returns.")
    only_a, only_b, p_value = comparison["only_a_wrong"], comparison["only_b_wrong"], comparison["mcnemar_p_value"]
    discordant = only_a + only_b
    if discordant == 0:
        return (
            f"The {names[0]} and the {names[1]} are wrong on exactly the same images, "
            "so McNemar's test has nothing to weigh."
        )
    verdict = (
        f"so the two models' error rates really differ (p < {alpha:g})."
        if p_value < alpha
        else f"so the test cannot tell the two error rates apart (p ≥ {alpha:g})."
    )
    return (
        f"On the {discordant:,} test images where exactly one model is wrong, the {names[0]} is the one wrong "
        f"{only_a:,} times and the {names[1]} {only_b:,} times. If the two models were equally accurate, a split "
        f"at least this lopsided would happen with probability p = {p_value:.2g} (McNemar's exact test), {verdict}"
    )
