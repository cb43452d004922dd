"""Model comparison, misclassified images, voting and ensembles on small synthetic labels with known answers."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import one_hot
from scipy import stats
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.ensemble import VotingClassifier

from fashion_lib import scores
from fashion_lib.analysis import evaluation
from fashion_lib.config import NUM_CLASSES, SHIRT


def test_misclassified_indices_in_order() -> None:
    y_true = np.array([SHIRT, 0, SHIRT, SHIRT, SHIRT])
    y_pred = np.array([0, 0, SHIRT, 2, 4])
    np.testing.assert_array_equal(evaluation.misclassified_indices(y_true, y_pred, SHIRT), [0, 3, 4])
    assert evaluation.misclassified_indices(y_true, y_pred, 0).size == 0


def test_corrected_indices() -> None:
    y_true = np.array([SHIRT, SHIRT, 0, SHIRT, 1])
    mlp = np.array([0, SHIRT, 2, 4, 0])
    cnn = np.array([SHIRT, 0, 0, SHIRT, 1])
    np.testing.assert_array_equal(evaluation.corrected_indices(y_true, mlp, cnn), [0, 2, 3, 4])
    np.testing.assert_array_equal(evaluation.corrected_indices(y_true, mlp, cnn, class_index=SHIRT), [0, 3])
    np.testing.assert_array_equal(evaluation.corrected_indices(y_true, cnn, mlp), [1])


def test_compare_models_counts_and_mcnemar() -> None:
    y_true = np.zeros(20, dtype=int)
    a = np.zeros(20, dtype=int)
    b = np.zeros(20, dtype=int)
    a[:2] = 1  # both wrong on 0, 1
    b[:2] = 2
    a[2:10] = 3  # only a wrong on 2..9 (8 examples)
    b[10:11] = 4  # only b wrong on 10 (1 example)
    result = evaluation.compare_models(y_true, a, b)
    assert (result["both_wrong"], result["only_a_wrong"], result["only_b_wrong"]) == (2, 8, 1)
    assert result["agreement"] == pytest.approx(9 / 20)  # equal only on 11..19
    assert result["mcnemar_p_value"] == pytest.approx(stats.binomtest(8, 9, 0.5).pvalue)
    assert result["mcnemar_p_value"] == pytest.approx(20 / 512)  # 2 * (C(9,8) + C(9,9)) / 2**9
    tau = stats.kendalltau(a, b)
    assert result["kendall_tau"] == pytest.approx(tau.statistic)
    assert result["kendall_p_value"] == pytest.approx(tau.pvalue)
    json.dumps(result)  # plain Python types only


def test_compare_models_without_discordant_pairs_has_p_value_one() -> None:
    y_true = np.array([0, 1, 2, 3])
    same = np.array([0, 1, 5, 3])
    result = evaluation.compare_models(y_true, same, same)
    assert result["mcnemar_p_value"] == 1.0
    assert result["agreement"] == 1.0


def test_compare_models_constant_predictions_give_undefined_tau() -> None:
    result = evaluation.compare_models([0, 1, 2], [0, 0, 0], [0, 1, 2])
    assert result["kendall_tau"] is None
    json.dumps(result, allow_nan=False)


def test_hard_vote_majority() -> None:
    votes = evaluation.hard_vote([np.array([1, 2, 3]), np.array([1, 5, 3]), np.array([4, 5, 3])])
    np.testing.assert_array_equal(votes, [1, 5, 3])


class FixedPredictions(ClassifierMixin, BaseEstimator):
    """A "classifier" that returns given labels for the row indices it receives as X."""

    def __init__(self, labels: tuple[int, ...] = ()) -> None:
        self.labels = labels

    def fit(self, X: np.ndarray, y: np.ndarray) -> FixedPredictions:
        self.classes_ = np.unique(y)
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(self.labels)[X[:, 0].astype(int)]


def test_hard_vote_tie_goes_to_smallest_index_like_sklearn() -> None:
    predictions = [np.array([7, 2, 9, 5]), np.array([3, 8, 9, 1]), np.array([3, 0, 4, 6])]
    np.testing.assert_array_equal(evaluation.hard_vote(predictions), [3, 0, 9, 1])
    np.testing.assert_array_equal(evaluation.hard_vote(predictions[:2]), [3, 2, 9, 1])
    for models in (predictions, predictions[:2]):
        voting = VotingClassifier(
            [(f"model{i}", FixedPredictions(tuple(pred))) for i, pred in enumerate(models)], voting="hard"
        )
        # Fitting on every class keeps VotingClassifier's label encoding the identity.
        rows = np.arange(len(models[0]))[:, None]
        voting.fit(np.zeros((NUM_CLASSES, 1)), np.arange(NUM_CLASSES))
        np.testing.assert_array_equal(evaluation.hard_vote(models), voting.predict(rows))


def test_hard_vote_tie_goes_to_most_probable_class() -> None:
    predictions = [np.array([7, 2]), np.array([3, 8])]
    probabilities = [one_hot([7, 2], confidence=0.6), one_hot([3, 8], confidence=0.9)]
    np.testing.assert_array_equal(evaluation.hard_vote(predictions, probabilities=probabilities), [3, 8])


def test_hard_vote_probabilities_do_not_override_a_majority() -> None:
    predictions = [np.array([1]), np.array([1]), np.array([4])]
    probabilities = [one_hot([1], 0.4), one_hot([1], 0.4), one_hot([4], 1.0)]
    np.testing.assert_array_equal(evaluation.hard_vote(predictions, probabilities=probabilities), [1])


def test_soft_vote_weighted_mean() -> None:
    a = one_hot([0, 1], confidence=0.9)
    b = one_hot([1, 1], confidence=0.6)
    np.testing.assert_allclose(evaluation.soft_vote([a, b]), (a + b) / 2)
    weighted = evaluation.soft_vote([a, b], weights=[1, 3])
    np.testing.assert_allclose(weighted, (a + 3 * b) / 4)
    np.testing.assert_array_equal(weighted.argmax(axis=1), [1, 1])
    np.testing.assert_allclose(weighted.sum(axis=1), 1.0)


@pytest.mark.parametrize(
    ("weights", "message"),
    [([1.0], "one weight per model"), ([1.0, -1.0], "non-negative"), ([0.0, 0.0], "not all zero")],
)
def test_soft_vote_rejects_bad_weights(weights: list[float], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        evaluation.soft_vote([one_hot([0]), one_hot([1])], weights=weights)


def test_soft_vote_rejects_shape_mismatch() -> None:
    with pytest.raises(ValueError, match="same shape"):
        evaluation.soft_vote([one_hot([0, 1]), one_hot([1])])


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: evaluation.misclassified_indices([0], [0], 10), "class_index"),
        (lambda: evaluation.hard_vote([np.array([0, 1]), np.array([0])]), "same length"),
        (lambda: evaluation.hard_vote([np.array([0])], probabilities=[]), "one per model"),
    ],
)
def test_bad_input_raises_value_error(call, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()


def informative_probabilities(y_true: np.ndarray, accuracy: float, seed: int) -> np.ndarray:
    """Probabilities right (0.6 on the true class) on about `accuracy` of the images, else 0.6 on another class."""
    rng = np.random.default_rng(seed)
    wrong = rng.random(len(y_true)) >= accuracy
    predicted = np.where(wrong, (y_true + rng.integers(1, NUM_CLASSES, len(y_true))) % NUM_CLASSES, y_true)
    return one_hot(predicted, confidence=0.6)


@pytest.mark.parametrize("function", [evaluation.choose_vote_weights, evaluation.fit_stacking])
def test_ensemble_fitting_takes_validation_data_only(function) -> None:
    import inspect

    parameters = inspect.signature(function).parameters
    assert list(parameters)[:2] == ["validation_labels", "validation_probabilities"]
    assert not any("test" in name for name in parameters)


def test_vote_weights_go_to_the_model_that_is_right_on_validation() -> None:
    y_val = np.random.default_rng(0).integers(0, NUM_CLASSES, 1000)
    good, useless = informative_probabilities(y_val, 0.9, 1), informative_probabilities(y_val, 0.1, 2)
    weights, table = evaluation.choose_vote_weights(y_val, [useless, good], step=0.1)
    np.testing.assert_allclose(weights.sum(), 1.0)
    assert weights[1] > weights[0]
    assert len(table) == 11 and {"weight_0", "weight_1", "validation_accuracy", "validation_log_loss"} <= set(table)
    assert table["validation_accuracy"].max() == pytest.approx(
        scores.accuracy(y_val, evaluation.soft_vote([useless, good], weights).argmax(axis=1))
    )


def test_vote_weights_prefer_equal_weights_when_nothing_tells_them_apart() -> None:
    y_val = np.arange(100) % NUM_CLASSES
    same = one_hot(y_val, confidence=0.7)
    weights, _ = evaluation.choose_vote_weights(y_val, [same, same], step=0.25)
    np.testing.assert_allclose(weights, [0.5, 0.5])


def test_vote_weights_cover_the_simplex_for_three_models() -> None:
    y_val = np.arange(50) % NUM_CLASSES
    probs = one_hot(y_val, confidence=0.5)
    _, table = evaluation.choose_vote_weights(y_val, [probs, probs, probs], step=0.5)
    # (1,0,0) (0.5,0.5,0) (0.5,0,0.5) (0,1,0) (0,0.5,0.5) (0,0,1)
    assert len(table) == 6
    np.testing.assert_allclose(table[["weight_0", "weight_1", "weight_2"]].sum(axis=1), 1.0)


def test_stacking_learns_which_model_to_trust_and_generalises() -> None:
    rng = np.random.default_rng(3)
    y_val, y_new = rng.integers(0, NUM_CLASSES, 2000), rng.integers(0, NUM_CLASSES, 2000)
    stack = evaluation.fit_stacking(
        y_val, [informative_probabilities(y_val, 0.3, 4), informative_probabilities(y_val, 0.85, 5)], seed=1
    )
    new_probs = [informative_probabilities(y_new, 0.3, 6), informative_probabilities(y_new, 0.85, 7)]
    stacked = evaluation.stacking_probabilities(stack, new_probs)
    assert stacked.shape == (2000, NUM_CLASSES)
    np.testing.assert_allclose(stacked.sum(axis=1), 1.0)
    assert scores.accuracy(y_new, stacked.argmax(axis=1)) > 0.8
    with pytest.raises(ValueError, match="fitted on 2 models"):
        evaluation.stacking_probabilities(stack, new_probs[:1])


def test_stacking_needs_every_class_in_the_validation_split() -> None:
    y_val = np.arange(100) % 5
    with pytest.raises(ValueError, match="stratified split"):
        evaluation.fit_stacking(y_val, [one_hot(y_val, 0.7), one_hot(y_val, 0.7)], seed=1)


def test_class_changes_counts_fixed_and_broken_images_of_one_class() -> None:
    y_true = np.array([SHIRT, SHIRT, SHIRT, SHIRT, 0])
    reference = np.array([SHIRT, 0, 0, SHIRT, 1])
    new = np.array([SHIRT, SHIRT, 0, 2, 0])
    assert evaluation.class_changes(y_true, reference, new, SHIRT) == {"fixed": 1, "broken": 1}


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: evaluation.choose_vote_weights([0], [one_hot([0])]), "at least two models"),
        (lambda: evaluation.choose_vote_weights([0, 1], [one_hot([0, 1]), one_hot([0])]), "same validation images"),
        (lambda: evaluation.choose_vote_weights([0], [one_hot([0]), one_hot([0])], step=0.3), "divide 1"),
    ],
)
def test_bad_ensemble_input_raises_value_error(call, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()


def test_evaluate_ensembles_scores_the_four_ensembles_against_the_better_validation_model() -> None:
    rng = np.random.default_rng(11)
    y_val, y_test = rng.integers(0, NUM_CLASSES, 600), rng.integers(0, NUM_CLASSES, 800)
    validation = {"mlp": informative_probabilities(y_val, 0.6, 1), "cnn": informative_probabilities(y_val, 0.8, 2)}
    test = {"mlp": informative_probabilities(y_test, 0.6, 3), "cnn": informative_probabilities(y_test, 0.8, 4)}
    result = evaluation.evaluate_ensembles(y_test, y_val, test, validation, vote_weight_step=0.1, resamples=50, seed=1)
    assert list(result["results"]) == ["hard_vote", "soft_vote", "weighted_soft_vote", "stacking"]
    assert result["reference"] == "cnn"
    assert result["validation_accuracy"]["cnn"] > result["validation_accuracy"]["mlp"]
    soft = result["results"]["soft_vote"]
    expected = evaluation.soft_vote(list(test.values())).argmax(axis=1)
    assert soft["test_accuracy"] == pytest.approx(scores.accuracy(y_test, expected))
    gap = soft["test_accuracy"] - scores.accuracy(y_test, test["cnn"].argmax(axis=1))
    assert soft["difference_vs_reference"]["estimate"] == pytest.approx(gap)
    assert soft["test_accuracy_interval"]["lower"] <= soft["test_accuracy"] <= soft["test_accuracy_interval"]["upper"]
    weights = result["results"]["weighted_soft_vote"]["weights"]
    assert set(weights) == {"mlp", "cnn"} and sum(weights.values()) == pytest.approx(1.0)
    assert set(result["per_class"]) == {"Hard vote", "Soft vote", "Weighted soft vote", "Stacking"}
    json.dumps(result["results"])  # recorded in metrics.json as it is
    table = evaluation.ensemble_table(result["results"])
    assert list(table.index) == ["Hard vote", "Soft vote", "Weighted soft vote", "Stacking"]
    assert "change vs CNN" in table


def test_evaluate_ensembles_needs_the_same_models_on_both_splits() -> None:
    probabilities = one_hot(np.arange(20) % NUM_CLASSES)
    with pytest.raises(ValueError, match="same models in the same order"):
        evaluation.evaluate_ensembles(
            np.arange(20) % NUM_CLASSES,
            np.arange(20) % NUM_CLASSES,
            {"mlp": probabilities, "cnn": probabilities},
            {"cnn": probabilities, "mlp": probabilities},
            seed=1,
        )
