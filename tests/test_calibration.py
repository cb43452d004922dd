"""ECE, reliability tables and temperature scaling on constructed models with known answers."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import special

from fashion_lib.analysis import calibration
from fashion_lib.config import NUM_CLASSES


def constant_confidence(size: int, confidence: float, correct: int) -> tuple[np.ndarray, np.ndarray]:
    """`size` images predicted as class 0 with probability `confidence`; the first `correct` truly are class 0."""
    probs = np.full((size, NUM_CLASSES), (1 - confidence) / (NUM_CLASSES - 1))
    probs[:, 0] = confidence
    y_true = np.where(np.arange(size) < correct, 0, 1)
    return y_true, probs


def test_ece_is_zero_for_a_perfectly_calibrated_model() -> None:
    # 80% confident everywhere and right on exactly 80% of the images; 50% confident and right on half.
    y_a, p_a = constant_confidence(1000, 0.8, 800)
    y_b, p_b = constant_confidence(400, 0.5, 200)
    ece = calibration.expected_calibration_error(np.concatenate([y_a, y_b]), np.vstack([p_a, p_b]))
    assert ece == pytest.approx(0.0, abs=1e-12)


def test_ece_of_a_constructed_overconfident_model() -> None:
    # Bin of 0.9 with 60% right (gap 0.3, 3/4 of images) and bin of 0.5 with 50% right (gap 0, 1/4).
    y_a, p_a = constant_confidence(300, 0.9, 180)
    y_b, p_b = constant_confidence(100, 0.5, 50)
    ece = calibration.expected_calibration_error(np.concatenate([y_a, y_b]), np.vstack([p_a, p_b]))
    assert ece == pytest.approx(0.75 * 0.3)


def test_reliability_table_uses_equal_width_bins_closed_on_the_right() -> None:
    y_true, probs = constant_confidence(10, 0.6, 10)  # 0.6 is the upper edge of bin (0.5, 0.6] with 10 bins
    table = calibration.reliability_table(y_true, probs, bins=10)
    assert len(table) == 10 and table["count"].sum() == 10
    assert table.loc[5, "count"] == 10 and table.loc[5, "upper"] == pytest.approx(0.6)
    assert table["accuracy"].isna().sum() == 9


def test_temperature_scaling_recovers_a_known_temperature() -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(0.0, 2.0, size=(20_000, NUM_CLASSES))
    true_probs = special.softmax(logits, axis=1)
    y_true = np.array([rng.choice(NUM_CLASSES, p=row) for row in true_probs])
    overconfident = special.softmax(logits * 2.5, axis=1)  # what a model with temperature 1/2.5 would say
    temperature = calibration.fit_temperature(y_true, overconfident)
    assert temperature == pytest.approx(2.5, rel=0.05)
    before = calibration.expected_calibration_error(y_true, overconfident)
    after = calibration.expected_calibration_error(y_true, calibration.apply_temperature(overconfident, temperature))
    assert after < before / 3


def test_temperature_never_changes_the_predicted_class() -> None:
    probs = special.softmax(np.random.default_rng(1).normal(size=(50, NUM_CLASSES)), axis=1)
    for temperature in (0.3, 1.0, 4.0):
        scaled = calibration.apply_temperature(probs, temperature)
        np.testing.assert_array_equal(scaled.argmax(axis=1), probs.argmax(axis=1))
    np.testing.assert_allclose(calibration.apply_temperature(probs, 1.0), probs, atol=1e-9)


def test_calibration_summary_fits_on_validation_and_reports_test() -> None:
    y_val, p_val = constant_confidence(200, 0.99, 150)
    y_test, p_test = constant_confidence(200, 0.99, 150)
    summary = calibration.calibration_summary(y_val, p_val, y_test, p_test, bins=10)
    assert set(summary) == {"temperature", "bins", "ece_before", "ece_after", "nll_before", "nll_after"}
    assert summary["temperature"] > 1  # overconfident: softened
    assert summary["ece_after"] < summary["ece_before"] and summary["nll_after"] < summary["nll_before"]


@pytest.mark.parametrize("confidence", [0.3, 0.6, 0.7])
def test_a_confidence_on_a_bin_edge_goes_to_the_bin_below(confidence: float) -> None:
    y_true, probs = constant_confidence(4, confidence, 4)
    table = calibration.reliability_table(y_true, probs, bins=10)
    assert table.loc[round(confidence * 10) - 1, "count"] == 4


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: calibration.reliability_table([0], np.eye(NUM_CLASSES)[:1], bins=0), "bins must be a positive"),
        (lambda: calibration.apply_temperature(np.eye(NUM_CLASSES), 0.0), "temperature must be a positive"),
        (lambda: calibration.fit_temperature([0, 1], np.eye(NUM_CLASSES)[:1]), "must match"),
        (lambda: calibration.expected_calibration_error([0], np.ones((1, NUM_CLASSES))), "not logits"),
    ],
)
def test_bad_input_raises_value_error(call, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()
