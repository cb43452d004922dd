"""Calibration: does a model's confidence match how often it is right? ECE, reliability data, temperature scaling.

Confidence is the largest class probability of an image. The expected calibration error (ECE) splits
confidences into `bins` equal-width bins over [0, 1] (bin i holds confidences in (i/bins, (i+1)/bins],
the first bin also holds 0) and averages, weighted by each bin's share of images, the gap between the
bin's accuracy and its mean confidence: ECE = sum_b (n_b / n) * |accuracy_b - confidence_b|. Equal-width
bins are the usual choice (Guo et al., 2017), so figures are comparable with published ones.

Temperature scaling divides a model's logits by one number T fitted on the validation split by
minimising the negative log-likelihood; it changes confidences but never the predicted class. Only
probabilities are saved, and log-probabilities are the logits up to a per-image constant that softmax
ignores, so T is applied to log-probabilities.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, special

from fashion_lib.scores import as_labels, as_probabilities

DEFAULT_BINS = 15
# Probabilities of exactly 0 would give infinite log-probabilities; float32 softmax reaches ~1e-38.
_PROBABILITY_FLOOR = 1e-12
# Temperatures outside this range mean the probabilities carry no usable information.
_LOG_TEMPERATURE_BOUNDS = (np.log(0.05), np.log(20.0))


def _labels_and_probabilities(y_true: Any, probabilities: Any) -> tuple[np.ndarray, np.ndarray]:
    true = as_labels(y_true, "y_true")
    probs = as_probabilities(probabilities, "probabilities")
    if len(true) != len(probs) or len(true) == 0:
        raise ValueError(
            f"y_true has {len(true)} labels and probabilities {len(probs)} rows: they must match and not be empty."
        )
    return true, probs


def reliability_table(y_true: Any, probabilities: Any, *, bins: int = DEFAULT_BINS) -> pd.DataFrame:
    """One row per equal-width confidence bin: lower, upper, count, confidence (mean) and accuracy (NaN if empty)."""
    if isinstance(bins, bool) or not isinstance(bins, int | np.integer) or bins < 1:
        raise ValueError(f"bins must be a positive integer (e.g. {DEFAULT_BINS}), got {bins!r}.")
    true, probs = _labels_and_probabilities(y_true, probabilities)
    confidence = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == true).astype(np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    # right=True puts c in (edges[i], edges[i+1]] into bin i, and c = 0 into bin 0, against the same edges
    # the table reports (ceil(c * bins) would misplace values such as 0.3 by float rounding).
    which = np.digitize(confidence, edges[1:-1], right=True)
    count = np.bincount(which, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_confidence = np.bincount(which, weights=confidence, minlength=bins) / count
        accuracy = np.bincount(which, weights=correct, minlength=bins) / count
    return pd.DataFrame(
        {"lower": edges[:-1], "upper": edges[1:], "count": count, "confidence": mean_confidence, "accuracy": accuracy}
    )


def expected_calibration_error(y_true: Any, probabilities: Any, *, bins: int = DEFAULT_BINS) -> float:
    """ECE with `bins` equal-width confidence bins (see the module docstring); 0 is perfectly calibrated."""
    return table_calibration_error(reliability_table(y_true, probabilities, bins=bins))


def table_calibration_error(table: pd.DataFrame) -> float:
    """The ECE of a `reliability_table`: its bins' accuracy-confidence gaps, weighted by their shares of images."""
    filled = table[table["count"] > 0]
    weights = filled["count"] / filled["count"].sum()
    return float(np.sum(weights * np.abs(filled["accuracy"] - filled["confidence"])))


def apply_temperature(probabilities: Any, temperature: float) -> np.ndarray:
    """Probabilities after dividing the logits by `temperature` (> 1 softens, < 1 sharpens)."""
    if not np.isfinite(temperature) or temperature <= 0:
        raise ValueError(f"temperature must be a positive number, got {temperature!r}.")
    probs = as_probabilities(probabilities, "probabilities")
    return special.softmax(np.log(np.maximum(probs, _PROBABILITY_FLOOR)) / temperature, axis=1)


def negative_log_likelihood(y_true: Any, probabilities: Any) -> float:
    """Mean negative log-probability of the true class (cross-entropy), lower is better."""
    true, probs = _labels_and_probabilities(y_true, probabilities)
    return float(-np.mean(np.log(np.maximum(probs[np.arange(len(true)), true], _PROBABILITY_FLOOR))))


def fit_temperature(validation_labels: Any, validation_probabilities: Any) -> float:
    """The temperature minimising the validation split's negative log-likelihood.

    Takes validation data only: fitting on the test set would make the after-scaling test ECE meaningless.
    """
    true, probs = _labels_and_probabilities(validation_labels, validation_probabilities)
    log_probs = np.log(np.maximum(probs, _PROBABILITY_FLOOR))
    rows = np.arange(len(true))

    def loss(log_temperature: float) -> float:
        # Optimising log T keeps T positive and makes the search symmetric in sharpening and softening.
        scaled = log_probs / np.exp(log_temperature)
        return float(np.mean(special.logsumexp(scaled, axis=1) - scaled[rows, true]))

    result = optimize.minimize_scalar(loss, bounds=_LOG_TEMPERATURE_BOUNDS, method="bounded")
    return float(np.exp(result.x))


def calibration_summary(
    validation_labels: Any,
    validation_probabilities: Any,
    test_labels: Any,
    test_probabilities: Any,
    *,
    bins: int = DEFAULT_BINS,
) -> dict[str, float]:
    """Temperature fitted on validation, and test ECE and NLL before and after it, as a JSON-ready dict."""
    temperature = fit_temperature(validation_labels, validation_probabilities)
    scaled = apply_temperature(test_probabilities, temperature)
    return {
        "temperature": temperature,
        "bins": int(bins),
        "ece_before": expected_calibration_error(test_labels, test_probabilities, bins=bins),
        "ece_after": expected_calibration_error(test_labels, scaled, bins=bins),
        "nll_before": negative_log_likelihood(test_labels, test_probabilities),
        "nll_after": negative_log_likelihood(test_labels, scaled),
    }
