"""Evaluation beyond one model's scores: the misclassified images the galleries show, model comparison,
voting, stacking and the ensembles scored against the better single model.

Labels are 1-D integer arrays of class indices 0-9 (see `config.CLASS_NAMES`); probabilities are
(n, 10) arrays of softmax outputs. Every function returns plain Python numbers, NumPy arrays or
pandas DataFrames, so that notebooks and `metrics.json` are fed from the same computation. The scores
of a single model (accuracy, per-class metrics, confusion) are fashion_lib.scores'.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

from fashion_lib import config
from fashion_lib.analysis import statistics
from fashion_lib.scores import accuracy, as_label_pair, as_labels, as_probabilities, per_class_metrics


def _check_class_index(class_index: int) -> int:
    """`class_index` as an int in 0-9, or ValueError."""
    if isinstance(class_index, bool) or not isinstance(class_index, int | np.integer):
        raise ValueError(f"class_index must be an integer class index, got {class_index!r}.")
    if not 0 <= class_index < config.NUM_CLASSES:
        raise ValueError(f"class_index {class_index} is outside 0-{config.NUM_CLASSES - 1}.")
    return int(class_index)


def misclassified_indices(y_true: Any, y_pred: Any, class_index: int) -> np.ndarray:
    """Indices, in order, of examples of true class `class_index` that were predicted wrongly."""
    true, pred = as_label_pair(y_true, y_pred)
    class_index = _check_class_index(class_index)
    return np.flatnonzero((true == class_index) & (pred != true))


def corrected_indices(
    y_true: Any,
    pred_wrong_model: Any,
    pred_right_model: Any,
    class_index: int | None = None,
) -> np.ndarray:
    """Indices, in order, where the first model is wrong and the second right (optionally of one true class)."""
    true, wrong = as_label_pair(y_true, pred_wrong_model, "pred_wrong_model")
    _, right = as_label_pair(true, pred_right_model, "pred_right_model")
    mask = (wrong != true) & (right == true)
    if class_index is not None:
        mask &= true == _check_class_index(class_index)
    return np.flatnonzero(mask)


def compare_models(y_true: Any, pred_a: Any, pred_b: Any) -> dict[str, Any]:
    """How two models' predictions relate: Kendall tau, agreement, error overlap and McNemar's exact test.

    `kendall_tau`/`kendall_p_value` are scipy's Kendall tau between the two models' predicted
    labels, as the seed report computed them. Class indices are nominal, so tau depends on the
    arbitrary class order; `agreement` and McNemar's test are the order-free measures. Tau is None
    when it is undefined (one model predicts a single class).

    `mcnemar_p_value` is McNemar's exact test: a two-sided binomial test of `only_a_wrong` against
    `only_b_wrong` with p = 1/2; it is 1.0 when the models never disagree on correctness.
    """
    true, a = as_label_pair(y_true, pred_a, "pred_a")
    _, b = as_label_pair(true, pred_b, "pred_b")
    a_wrong = a != true
    b_wrong = b != true
    only_a_wrong = int(np.sum(a_wrong & ~b_wrong))
    only_b_wrong = int(np.sum(b_wrong & ~a_wrong))
    discordant = only_a_wrong + only_b_wrong
    mcnemar_p = 1.0 if discordant == 0 else float(stats.binomtest(only_a_wrong, discordant, 0.5).pvalue)
    tau_result = stats.kendalltau(a, b)
    tau, tau_p = float(tau_result.statistic), float(tau_result.pvalue)
    return {
        "kendall_tau": None if math.isnan(tau) else tau,
        "kendall_p_value": None if math.isnan(tau_p) else tau_p,
        "agreement": float(np.mean(a == b)),
        "accuracy_a": float(np.mean(~a_wrong)),
        "accuracy_b": float(np.mean(~b_wrong)),
        "both_wrong": int(np.sum(a_wrong & b_wrong)),
        "only_a_wrong": only_a_wrong,
        "only_b_wrong": only_b_wrong,
        "mcnemar_p_value": mcnemar_p,
    }


def hard_vote(
    predictions: Sequence[Any],
    *,
    probabilities: Sequence[Any] | None = None,
) -> np.ndarray:
    """Majority vote of several models' predicted labels.

    Ties: when several classes share the most votes, the tie goes to the tied class with the
    highest summed probability if `probabilities` (one (n, 10) array per model) are given, else to
    the smallest class index, which is what scikit-learn's `VotingClassifier(voting="hard")` does.
    With two models every disagreement is a tie, so without probabilities the vote is the smaller
    of the two labels, and with them it is the label of the more confident model: a two-model hard
    vote is therefore not a real majority vote.

    Returns:
        The voted labels, an int64 array of length n.
    """
    if len(predictions) == 0:
        raise ValueError("hard_vote needs at least one model's predictions.")
    labels = [as_labels(pred, f"predictions[{i}]") for i, pred in enumerate(predictions)]
    lengths = {len(pred) for pred in labels}
    if len(lengths) != 1:
        raise ValueError(f"All predictions must have the same length, got lengths {[len(p) for p in labels]}.")
    n = labels[0].shape[0]
    votes = np.zeros((n, config.NUM_CLASSES), dtype=np.int64)
    rows = np.arange(n)
    for pred in labels:
        np.add.at(votes, (rows, pred), 1)
    if probabilities is None:
        # argmax returns the first maximum, i.e. the smallest tied class index.
        return np.argmax(votes, axis=1).astype(np.int64)
    if len(probabilities) != len(labels):
        raise ValueError(
            f"Got {len(labels)} prediction arrays but {len(probabilities)} probability arrays: give one per model."
        )
    summed = np.zeros((n, config.NUM_CLASSES))
    for i, probs in enumerate(probabilities):
        array = as_probabilities(probs, f"probabilities[{i}]")
        if len(array) != n:
            raise ValueError(f"probabilities[{i}] has {len(array)} rows but the predictions have {n}.")
        summed += array
    tied = votes == votes.max(axis=1, keepdims=True)
    return np.argmax(np.where(tied, summed, -np.inf), axis=1).astype(np.int64)


def soft_vote(probabilities: Sequence[Any], weights: Sequence[float] | None = None) -> np.ndarray:
    """Weighted mean of several models' class probabilities; argmax(axis=1) of the result gives labels."""
    if len(probabilities) == 0:
        raise ValueError("soft_vote needs at least one model's probabilities.")
    arrays = [as_probabilities(probs, f"probabilities[{i}]") for i, probs in enumerate(probabilities)]
    shapes = [array.shape for array in arrays]
    if len(set(shapes)) != 1:
        raise ValueError(f"All probability arrays must have the same shape, got {shapes}.")
    if weights is None:
        weight_array = np.ones(len(arrays))
    else:
        weight_array = np.asarray(weights, dtype=np.float64)
        if weight_array.shape != (len(arrays),):
            raise ValueError(f"Got {weight_array.size} weights for {len(arrays)} models: give one weight per model.")
        if not np.all(np.isfinite(weight_array)) or np.any(weight_array < 0) or weight_array.sum() <= 0:
            raise ValueError(f"weights must be finite, non-negative and not all zero, got {list(weights)}.")
    return np.average(np.stack(arrays), axis=0, weights=weight_array)


def _validation_arrays(validation_labels: Any, validation_probabilities: Sequence[Any]) -> tuple[np.ndarray, list]:
    """Validated validation labels and one (n, 10) probability array per model, all of the same length."""
    if len(validation_probabilities) < 2:
        raise ValueError("An ensemble needs the validation probabilities of at least two models.")
    true = as_labels(validation_labels, "validation_labels")
    arrays = [as_probabilities(p, f"validation_probabilities[{i}]") for i, p in enumerate(validation_probabilities)]
    if any(len(array) != len(true) for array in arrays) or len(true) == 0:
        raise ValueError(
            f"validation_labels has {len(true)} labels but the probability arrays have "
            f"{[len(a) for a in arrays]} rows: give every model's probabilities on the same validation images."
        )
    return true, arrays


def choose_vote_weights(
    validation_labels: Any, validation_probabilities: Sequence[Any], *, step: float = 0.05
) -> tuple[np.ndarray, pd.DataFrame]:
    """Soft-vote weights chosen on the validation split: the grid point with the best validation accuracy.

    The weights run over a grid on the simplex (non-negative, summing to 1, multiples of `step`); ties in
    accuracy go to the lower validation log-loss, then to the weights nearest to equal. The signature
    takes validation data only, so the test set cannot influence the choice.

    Returns:
        The chosen weights (one per model, summing to 1) and the grid as a DataFrame with one
        `weight_<i>` column per model, `validation_accuracy` and `validation_log_loss`.
    """
    true, arrays = _validation_arrays(validation_labels, validation_probabilities)
    if not 0 < step <= 0.5 or not math.isclose(1 / step, round(1 / step), abs_tol=1e-9):
        raise ValueError(f"step must divide 1 into whole parts (e.g. 0.05 or 0.1), got {step}.")
    parts = round(1 / step)
    grid = [
        combination
        for combination in itertools.product(range(parts + 1), repeat=len(arrays) - 1)
        if sum(combination) <= parts
    ]
    stacked = np.stack(arrays)
    rows = []
    for combination in grid:
        weights = np.array([*combination, parts - sum(combination)], dtype=np.float64) / parts
        mixed = np.tensordot(weights, stacked, axes=1)
        correct_probability = np.maximum(mixed[np.arange(len(true)), true], 1e-12)
        rows.append(
            {f"weight_{i}": w for i, w in enumerate(weights)}
            | {
                "validation_accuracy": float(np.mean(mixed.argmax(axis=1) == true)),
                "validation_log_loss": float(-np.mean(np.log(correct_probability))),
                "distance_from_equal": float(np.abs(weights - 1 / len(arrays)).sum()),
            }
        )
    table = pd.DataFrame(rows)
    best = table.sort_values(
        ["validation_accuracy", "validation_log_loss", "distance_from_equal"], ascending=[False, True, True]
    ).index[0]
    weights = table.loc[best, [f"weight_{i}" for i in range(len(arrays))]].to_numpy(dtype=np.float64)
    return weights, table.drop(columns="distance_from_equal")


def _stacking_features(probabilities: Sequence[np.ndarray]) -> np.ndarray:
    # Log-probabilities are the models' logits up to a per-image constant: a linear model combines them well.
    return np.hstack([np.log(np.maximum(array, 1e-12)) for array in probabilities])


def fit_stacking(
    validation_labels: Any, validation_probabilities: Sequence[Any], *, seed: int, regularisation: float = 1.0
) -> Pipeline:
    """A stacking ensemble: logistic regression on the models' standardised validation log-probabilities.

    Takes validation data only. The base models chose their best epoch on this same split, so their
    validation probabilities are slightly optimistic; the test set stays untouched for the verdict.
    """
    true, arrays = _validation_arrays(validation_labels, validation_probabilities)
    if not regularisation > 0:
        raise ValueError(f"regularisation (scikit-learn's C) must be positive, got {regularisation}.")
    # Log-probabilities of confident models span tens of units; standardising them lets lbfgs converge
    # in a few dozen iterations instead of running into its limit.
    model = make_pipeline(StandardScaler(), LogisticRegression(C=regularisation, max_iter=1000, random_state=seed))
    model.fit(_stacking_features(arrays), true)
    # A class missing from the validation labels would shift the columns of predict_proba.
    if len(model.classes_) != config.NUM_CLASSES:
        raise ValueError(
            f"The validation labels hold only classes {model.classes_.tolist()}: stacking needs all "
            f"{config.NUM_CLASSES} classes in the validation split (use a stratified split)."
        )
    return model


def stacking_probabilities(model: Pipeline, probabilities: Sequence[Any]) -> np.ndarray:
    """Class probabilities of a fitted stacking ensemble for the models' `probabilities` (same model order)."""
    arrays = [as_probabilities(p, f"probabilities[{i}]") for i, p in enumerate(probabilities)]
    expected = model.n_features_in_ // config.NUM_CLASSES
    if len(arrays) != expected or len({len(a) for a in arrays}) != 1:
        raise ValueError(
            f"The stacking model was fitted on {expected} models; give {expected} probability arrays of equal length."
        )
    return model.predict_proba(_stacking_features(arrays))


def class_changes(y_true: Any, reference_pred: Any, new_pred: Any, class_index: int) -> dict[str, int]:
    """Of one true class: how many `new_pred` fixes (reference wrong, new right) and breaks (the reverse)."""
    class_index = _check_class_index(class_index)
    true, reference = as_label_pair(y_true, reference_pred, "reference_pred")
    _, new = as_label_pair(true, new_pred, "new_pred")
    of_class = true == class_index
    return {
        "fixed": int(np.sum(of_class & (reference != true) & (new == true))),
        "broken": int(np.sum(of_class & (reference == true) & (new != true))),
    }


def evaluate_ensembles(
    test_labels: Any,
    validation_labels: Any,
    test_probabilities: dict[str, Any],
    validation_probabilities: dict[str, Any],
    *,
    vote_weight_step: float = 0.05,
    resamples: int = 1000,
    confidence: float = 0.95,
    seed: int,
) -> dict[str, Any]:
    """Four ensembles of the models (hard vote, soft vote, weighted soft vote, stacking) scored on the test set.

    Anything an ensemble chooses (the vote weights, the stacking model) is chosen on the validation split;
    each is then compared, on the same bootstrap resamples of the test set, with the single model that has
    the better validation accuracy (the "reference"), overall and on shirts.

    Args:
        test_labels, validation_labels: true labels of the two splits.
        test_probabilities, validation_probabilities: {model name: (n, 10) probabilities}, same names and order.
        vote_weight_step: grid step of the weighted soft vote's weights.
        resamples, confidence, seed: the bootstrap's settings (see fashion_lib.analysis.statistics).

    Returns:
        {"results": {key: JSON-ready dict, as recorded under `ensembles.<key>`}, "per_class": {label: per-class
        metrics frame}, "reference": the reference model's name, "validation_accuracy": {name: accuracy},
        "weights": the chosen weights, "weight_grid": the grid of weights tried}.
    """
    if list(test_probabilities) != list(validation_probabilities):
        raise ValueError(
            f"test_probabilities has models {list(test_probabilities)} but validation_probabilities has "
            f"{list(validation_probabilities)}: give the same models in the same order."
        )
    names = list(test_probabilities)
    true = as_labels(test_labels, "test_labels")
    validation_true = as_labels(validation_labels, "validation_labels")
    bootstrap = {"resamples": resamples, "confidence": confidence, "seed": seed}
    test_arrays = [as_probabilities(test_probabilities[name], f"test_probabilities[{name!r}]") for name in names]
    validation_arrays = list(validation_probabilities.values())
    predictions = {name: array.argmax(axis=1) for name, array in zip(names, test_arrays, strict=True)}
    validation_accuracy = {
        name: accuracy(validation_true, as_probabilities(array, f"validation_probabilities[{name!r}]").argmax(axis=1))
        for name, array in validation_probabilities.items()
    }
    reference = max(validation_accuracy, key=validation_accuracy.get)
    weights, weight_grid = choose_vote_weights(validation_true, validation_arrays, step=vote_weight_step)
    stacker = fit_stacking(validation_true, validation_arrays, seed=seed)
    voted = {
        "hard_vote": ("Hard vote", hard_vote(list(predictions.values()), probabilities=test_arrays)),
        "soft_vote": ("Soft vote", soft_vote(test_arrays).argmax(axis=1)),
        "weighted_soft_vote": ("Weighted soft vote", soft_vote(test_arrays, weights=weights).argmax(axis=1)),
        "stacking": ("Stacking", stacking_probabilities(stacker, test_arrays).argmax(axis=1)),
    }
    per_class: dict[str, pd.DataFrame] = {}
    results: dict[str, dict[str, Any]] = {}
    for key, (label, labels) in voted.items():
        per_class[label] = per_class_metrics(true, labels)
        results[key] = {
            "label": label,
            "test_accuracy": accuracy(true, labels),
            "test_accuracy_interval": statistics.bootstrap_accuracy(true, labels, **bootstrap),
            "shirt_accuracy": float(per_class[label].loc[config.CLASS_NAMES[config.SHIRT], "accuracy"]),
            "reference_model": reference,
            "difference_vs_reference": statistics.paired_bootstrap_difference(
                true, labels, predictions[reference], **bootstrap
            ),
            "shirts_vs_reference": class_changes(true, predictions[reference], labels, config.SHIRT),
        }
    results["weighted_soft_vote"]["weights"] = dict(zip(names, weights.tolist(), strict=True))
    return {
        "results": results,
        "per_class": per_class,
        "reference": reference,
        "validation_accuracy": validation_accuracy,
        "weights": weights,
        "weight_grid": weight_grid,
    }


def ensemble_table(results: dict[str, dict[str, Any]]) -> pd.DataFrame:
    """One row per ensemble of `evaluate_ensembles`' results: accuracy, change against the reference, shirts."""
    return pd.DataFrame(
        {
            result["label"]: {
                "test accuracy": result["test_accuracy"],
                f"change vs {result['reference_model'].upper()}": result["difference_vs_reference"]["estimate"],
                "interval from": result["difference_vs_reference"]["lower"],
                "interval to": result["difference_vs_reference"]["upper"],
                "shirt accuracy": result["shirt_accuracy"],
                "shirts fixed": result["shirts_vs_reference"]["fixed"],
                "shirts broken": result["shirts_vs_reference"]["broken"],
            }
            for result in results.values()
        }
    ).T
