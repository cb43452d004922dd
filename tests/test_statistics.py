"""Bootstrap intervals and McNemar's wording on synthetic predictors whose true accuracy is known."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import f1_score

from fashion_lib.analysis import statistics
from fashion_lib.config import CLASS_NAMES, NUM_CLASSES


def noisy_predictor(size: int, error_rate: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Labels and predictions wrong on each image with probability `error_rate` (always a different class)."""
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, NUM_CLASSES, size)
    wrong = rng.random(size) < error_rate
    y_pred = np.where(wrong, (y_true + rng.integers(1, NUM_CLASSES, size)) % NUM_CLASSES, y_true)
    return y_true, y_pred


def test_accuracy_interval_covers_the_true_accuracy_at_about_the_nominal_rate() -> None:
    # 40 independent test sets from a predictor with true accuracy 0.8: a 95% interval should miss rarely.
    covered = 0
    for seed in range(40):
        y_true, y_pred = noisy_predictor(2000, 0.2, seed)
        interval = statistics.bootstrap_accuracy(y_true, y_pred, resamples=500, seed=seed + 100)
        assert interval["lower"] <= interval["estimate"] <= interval["upper"]
        covered += interval["lower"] <= 0.8 <= interval["upper"]
    assert covered >= 34  # P(covered < 34) is below 1% when coverage is 95%.


def test_accuracy_interval_width_matches_the_binomial_standard_error() -> None:
    y_true, y_pred = noisy_predictor(10_000, 0.1, 3)
    interval = statistics.bootstrap_accuracy(y_true, y_pred, resamples=1000, seed=1)
    expected_half_width = 1.96 * np.sqrt(0.9 * 0.1 / 10_000)
    assert (interval["upper"] - interval["lower"]) / 2 == pytest.approx(expected_half_width, rel=0.15)


def test_bootstrap_is_reproducible_from_its_seed() -> None:
    y_true, y_pred = noisy_predictor(500, 0.3, 0)
    first = statistics.bootstrap_accuracy(y_true, y_pred, resamples=200, seed=5)
    assert statistics.bootstrap_accuracy(y_true, y_pred, resamples=200, seed=5) == first
    assert statistics.bootstrap_accuracy(y_true, y_pred, resamples=200, seed=6) != first


def test_per_class_f1_estimate_matches_scikit_learn_and_lies_in_its_interval() -> None:
    y_true, y_pred = noisy_predictor(3000, 0.25, 11)
    table = statistics.bootstrap_per_class_f1(y_true, y_pred, resamples=300, seed=2)
    assert list(table.index) == list(CLASS_NAMES)
    expected = f1_score(y_true, y_pred, average=None, labels=list(range(NUM_CLASSES)))
    np.testing.assert_allclose(table["estimate"], expected)
    assert (table["lower"] <= table["estimate"]).all() and (table["estimate"] <= table["upper"]).all()


def test_perfect_predictions_give_a_degenerate_interval() -> None:
    labels = np.arange(100) % NUM_CLASSES
    assert statistics.bootstrap_accuracy(labels, labels, resamples=50, seed=1) == {
        "estimate": 1.0,
        "lower": 1.0,
        "upper": 1.0,
    }
    assert (statistics.bootstrap_per_class_f1(labels, labels, resamples=50, seed=1) == 1.0).all().all()


def test_paired_difference_sees_a_real_gap_and_no_gap() -> None:
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, NUM_CLASSES, 5000)
    better = y_true.copy()
    worse = y_true.copy()
    worse[:500] = (worse[:500] + 1) % NUM_CLASSES  # exactly 10 points worse, on known images
    gap = statistics.paired_bootstrap_difference(y_true, better, worse, resamples=500, seed=3)
    assert gap["estimate"] == pytest.approx(0.1)
    assert 0.08 < gap["lower"] < 0.1 < gap["upper"] < 0.12
    assert gap["share_a_better"] == 1.0
    same = statistics.paired_bootstrap_difference(y_true, worse, worse, resamples=100, seed=3)
    assert same == {"estimate": 0.0, "lower": 0.0, "upper": 0.0, "share_a_better": 0.0}


def test_describe_mcnemar_states_the_split_and_the_verdict() -> None:
    clear = statistics.describe_mcnemar({"only_a_wrong": 90, "only_b_wrong": 10, "mcnemar_p_value": 1e-17})
    assert "100 test images" in clear and "MLP is the one wrong 90 times" in clear and "really differ" in clear
    unclear = statistics.describe_mcnemar({"only_a_wrong": 11, "only_b_wrong": 10, "mcnemar_p_value": 1.0})
    assert "cannot tell" in unclear
    assert "exactly the same images" in statistics.describe_mcnemar(
        {"only_a_wrong": 0, "only_b_wrong": 0, "mcnemar_p_value": 1.0}
    )


@pytest.mark.parametrize(
    ("keywords", "message"),
    [
        ({"resamples": 0}, "resamples must be a positive integer"),
        ({"resamples": 10, "confidence": 1.5}, "confidence must lie strictly between 0 and 1"),
    ],
)
def test_bad_settings_raise_value_error(keywords: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        statistics.bootstrap_accuracy([0, 1], [0, 1], seed=1, **keywords)


def test_describe_mcnemar_rejects_a_dict_of_something_else() -> None:
    with pytest.raises(ValueError, match="evaluation.compare_models"):
        statistics.describe_mcnemar({"kendall_tau": 0.5})
