"""Our figures for the seed report's claims, gathered from a run: one finding per claim, ready to be judged.

The findings come from the two models' test probabilities (accuracies with bootstrap intervals, best and
worst classes, Kendall's τ, the votes), their final trainings' curves, the seed-space search trials, the
data's labels, and, for the claims the probabilities decide, every training seed the two models share
(`seed_verdicts`, with its verdicts in words). Every function takes plain arrays and tables and returns
JSON-ready dicts shaped by `claims.finding`.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from fashion_lib import config, scores
from fashion_lib.analysis import evaluation, statistics
from fashion_lib.analysis.replication.claims import (
    CLAIMS_BY_KEY,
    PERIOD_EPOCHS,
    SHIRT_NAME,
    finding,
    judge,
    not_comparable,
)


def _format_range(found: dict[str, Any], style: str) -> str:
    def show(value: float) -> str:
        return f"{value:.2%}" if style == "percent" else f"{value:.3f}" if style == "ratio" else f"{value:,.0f}"

    if found["lower"] == found["upper"]:
        return show(found["value"])
    return f"{show(found['value'])} ({show(found['lower'])}–{show(found['upper'])})"


def per_class_accuracy_intervals(
    y_true: Any, y_pred: Any, *, resamples: int = 1000, confidence: float = 0.95, seed: int
) -> pd.DataFrame:
    """Each class's share of its test images classified right, with a bootstrap interval over that class's images.

    Returns a frame indexed by class name with columns estimate, lower, upper.
    """
    true, pred = scores.as_label_pair(y_true, y_pred)
    rows = {}
    for index, name in enumerate(config.CLASS_NAMES):
        mask = true == index
        if not mask.any():
            raise ValueError(f"No test image of class {name!r}: per-class accuracy needs every class present.")
        rows[name] = statistics.bootstrap_accuracy(
            true[mask], pred[mask], resamples=resamples, confidence=confidence, seed=seed
        )
    return pd.DataFrame.from_dict(rows, orient="index")[statistics.INTERVAL_COLUMNS]


def bootstrap_kendall_tau(
    pred_a: Any, pred_b: Any, *, resamples: int = 1000, confidence: float = 0.95, seed: int
) -> dict[str, float | None]:
    """Kendall's τ between two models' predicted labels with a percentile-bootstrap interval over test images."""
    a, b = scores.as_label_pair(pred_a, pred_b, "pred_b")
    estimate = float(stats.kendalltau(a, b).statistic)
    if math.isnan(estimate):
        return {"estimate": None, "lower": None, "upper": None}
    indices = statistics.bootstrap_indices(len(a), resamples=resamples, seed=seed)
    samples = np.array([stats.kendalltau(a[rows], b[rows]).statistic for rows in indices])
    lower, upper = statistics.percentile_interval(samples[~np.isnan(samples)], confidence=confidence)
    return {"estimate": estimate, "lower": lower, "upper": upper}


def _epoch_list(epochs: Sequence[int]) -> str:
    """Epoch numbers with runs shortened: "epoch 1", "epochs 1, 3 and 5–7"."""
    runs: list[list[int]] = []
    for epoch in epochs:
        if runs and epoch == runs[-1][-1] + 1:
            runs[-1].append(int(epoch))
        else:
            runs.append([int(epoch)])
    parts = [f"{run[0]}" if len(run) == 1 else f"{run[0]}–{run[-1]}" for run in runs]
    names = ", ".join(parts[:-1]) + " and " + parts[-1] if len(parts) > 1 else parts[0]
    return ("epoch " if len(epochs) == 1 else "epochs ") + names


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" + ("" if number == 1 else "s")


def _between(vote: float, first: float, second: float) -> bool:
    return min(first, second) < vote < max(first, second)


def prediction_findings(
    y_true: Any,
    mlp_probabilities: Any,
    cnn_probabilities: Any,
    *,
    resamples: int = 1000,
    confidence: float = 0.95,
    seed: int,
) -> dict[str, dict[str, Any]]:
    """Our findings for every claim that the two models' test probabilities decide (accuracies, classes, votes)."""
    true = scores.as_labels(y_true, "y_true")
    bootstrap = {"resamples": resamples, "confidence": confidence, "seed": seed}
    probabilities = {"mlp": mlp_probabilities, "cnn": cnn_probabilities}
    predictions = {
        name: scores.as_probabilities(array, f"{name}_probabilities").argmax(axis=1)
        for name, array in probabilities.items()
    }
    found: dict[str, dict[str, Any]] = {}
    accuracy = {}
    per_class = {}
    for name, pred in predictions.items():
        interval = statistics.bootstrap_accuracy(true, pred, **bootstrap)
        accuracy[name] = interval["estimate"]
        found[f"{name}_test_accuracy"] = finding(
            interval["estimate"], "", lower=interval["lower"], upper=interval["upper"]
        )
        per_class[name] = per_class_accuracy_intervals(true, pred, **bootstrap)
        classes = per_class[name]["estimate"]
        for kind, chosen in (("worst", classes.idxmin()), ("best", classes.idxmax())):
            found[f"{name}_{kind}_class"] = finding(chosen, f"{chosen} ({classes[chosen]:.1%})")
        for key, class_name in (
            ("shirt", SHIRT_NAME),
            ("trouser", "Trouser"),
            ("bag", "Bag"),
            ("tshirt", "T-shirt/top"),
        ):
            row = per_class[name].loc[class_name]
            found[f"{name}_{key}_accuracy"] = finding(row["estimate"], "", lower=row["lower"], upper=row["upper"])
    found.update(class_comparison(per_class["mlp"]["estimate"], per_class["cnn"]["estimate"]))
    tau = bootstrap_kendall_tau(predictions["mlp"], predictions["cnn"], **bootstrap)
    found["kendall_tau"] = (
        finding(tau["estimate"], "", lower=tau["lower"], upper=tau["upper"])
        if tau["estimate"] is not None
        else not_comparable("τ is undefined: a model predicts a single class")
    )
    arrays = list(probabilities.values())
    votes = {
        "hard_vote": evaluation.hard_vote(list(predictions.values()), probabilities=arrays),
        "soft_vote": evaluation.soft_vote(arrays).argmax(axis=1),
    }
    for key, voted in votes.items():
        vote_accuracy = scores.accuracy(true, voted)
        found[f"{key}_between"] = finding(
            _between(vote_accuracy, accuracy["mlp"], accuracy["cnn"]),
            f"{vote_accuracy:.2%} (MLP {accuracy['mlp']:.2%}, CNN {accuracy['cnn']:.2%})",
            vote_accuracy=vote_accuracy,
        )
    for key, found_value in found.items():
        if not found_value["text"]:
            style = "ratio" if key == "kendall_tau" else "percent"
            found_value["text"] = _format_range(found_value, style)
    # Every class's share right was measured for both models; the seed quotes only some of them.
    return {key: value for key, value in found.items() if key in CLAIMS_BY_KEY}


def class_comparison(mlp_accuracy: pd.Series, cnn_accuracy: pd.Series) -> dict[str, dict[str, Any]]:
    """Whether the CNN's per-class share right is strictly above the MLP's on every class, and where not."""
    gain = (cnn_accuracy - mlp_accuracy).reindex(list(config.CLASS_NAMES))
    if gain.isna().any():
        raise ValueError("Both per-class accuracy series must cover all ten classes, indexed by class name.")
    behind = gain[gain <= 0]
    text = f"CNN higher on {int((gain > 0).sum())} of {len(gain)} classes"
    if len(behind):
        text += "; not on " + ", ".join(f"{name} ({change * 100:+.1f} points)" for name, change in behind.items())
    return {
        "cnn_better_on_every_class": finding(
            bool(behind.empty), text, classes_not_better=list(behind.index), gain=gain.round(6).to_dict()
        )
    }


def curve_findings(mlp_history: pd.DataFrame, cnn_history: pd.DataFrame) -> dict[str, dict[str, Any]]:
    """Our findings on the seed's training-curve claims, from the two final trainings' histories."""
    for name, history in (("mlp_history", mlp_history), ("cnn_history", cnn_history)):
        missing = {"accuracy", "val_accuracy"} - set(history.columns)
        if missing or history.empty:
            raise ValueError(
                f"{name} needs one row per epoch with accuracy and val_accuracy (lacks {sorted(missing)})."
            )
    found = {}
    above = (mlp_history["val_accuracy"] > mlp_history["accuracy"]).to_numpy()
    epochs = len(above)
    above_epochs = f"above in {_epoch_list(np.flatnonzero(above) + 1)} of {epochs}" if above.any() else "never above"
    found["mlp_validation_above_training_early"] = (
        finding(
            float(above[:PERIOD_EPOCHS].mean()),
            f"above in {int(above[:PERIOD_EPOCHS].sum())} of epochs 1–{PERIOD_EPOCHS}; in all {above_epochs}",
            holds=int(above[:PERIOD_EPOCHS].sum()),
            epochs=PERIOD_EPOCHS,
        )
        if epochs >= PERIOD_EPOCHS
        else not_comparable(f"the training ran {_count(epochs, 'epoch')}, fewer than the {PERIOD_EPOCHS} judged")
    )
    later = mlp_history["val_accuracy"].to_numpy()[PERIOD_EPOCHS:]
    low, high = CLAIMS_BY_KEY["mlp_validation_range_later"].seed_range
    inside = int(((later >= low) & (later <= high)).sum())
    outside = [
        f"{int(count)} {side}"
        for count, side in (((later > high).sum(), "above"), ((later < low).sum(), "below"))
        if count
    ]
    found["mlp_validation_range_later"] = (
        finding(
            inside / len(later),
            f"{inside} of {len(later)} epochs ({PERIOD_EPOCHS + 1}–{epochs}) inside {low:.3f}–{high:.3f}"
            + (f", {' and '.join(outside)}" if outside else "")
            + f"; lowest {later.min():.3f}, highest {later.max():.3f}",
            lower=float(later.min()),
            upper=float(later.max()),
            inside=inside,
            epochs=len(later),
        )
        if len(later)
        else not_comparable(f"the training ran {_count(epochs, 'epoch')}: none after epoch {PERIOD_EPOCHS}")
    )
    validation = cnn_history["val_accuracy"].to_numpy()
    best = int(np.argmax(validation))
    last = len(validation) - 1
    seed_low = CLAIMS_BY_KEY["cnn_best_epoch"].seed_range[0]
    # A training that ended before the seed's range cannot show where a longer one would peak.
    found["cnn_best_epoch"] = (
        not_comparable(f"training ended at epoch {last + 1}, before the seed's range")
        if last + 1 < seed_low
        else finding(best + 1, f"epoch {best + 1} of {last + 1} ({validation[best]:.2%})")
    )
    gap = (cnn_history["accuracy"] - cnn_history["val_accuracy"]).to_numpy()
    found["cnn_overfits_after_best"] = (
        finding(
            bool(gap[last] > gap[best]),
            f"training − validation gap {gap[best] * 100:+.1f} points at the best epoch, "
            f"{gap[last] * 100:+.1f} at the last ({_count(last - best, 'epoch')} later)",
        )
        if last > best
        else not_comparable("no epoch after the best was trained")
    )
    return found


def _seed_space_trials(trials: pd.DataFrame | None, space: str | None, column: str) -> pd.DataFrame | dict[str, Any]:
    """The completed trials of a seed-space search that have `column`, or a not-comparable finding saying why not."""
    if space != "seed":
        return not_comparable(f"the search ran in the {space or 'unknown'} space, not the seed's")
    if trials is None or column not in trials or "score" not in trials:
        return not_comparable("the search's trials are not available")
    scores = pd.to_numeric(trials["score"], errors="coerce")
    return trials.assign(score=scores)[scores.notna() & trials[column].notna()]


def learning_rate_finding(trials: pd.DataFrame | None, space: str | None) -> dict[str, Any]:
    """Whether the seed-space search trials at learning rate 0.01 scored higher, on average, than those at 0.001."""
    done = _seed_space_trials(trials, space, "learning_rate")
    if isinstance(done, dict):
        return done
    groups = {rate: done.loc[np.isclose(done["learning_rate"].astype(float), rate), "score"] for rate in (0.01, 0.001)}
    missing = [rate for rate, scores in groups.items() if scores.empty]
    if missing:
        return not_comparable(f"no completed trial at learning rate {', '.join(f'{rate:g}' for rate in missing)}")
    means = {rate: float(scores.mean()) for rate, scores in groups.items()}
    return finding(
        means[0.01] > means[0.001],
        "; ".join(f"{rate:g}: mean {means[rate]:.2%} over {_count(len(groups[rate]), 'trial')}" for rate in groups),
        means={str(rate): mean for rate, mean in means.items()},
    )


def units_finding(trials: pd.DataFrame | None, space: str | None) -> dict[str, Any]:
    """Whether the seed-space MLP trials with the widest first layer scored higher, on average, than the narrowest."""
    done = _seed_space_trials(trials, space, "units_0")
    if isinstance(done, dict):
        return done
    means = done.groupby(done["units_0"].astype(int))["score"].agg(["mean", "size"])
    if len(means) < 2:
        return not_comparable("every completed trial has the same first-layer width")
    narrow, wide = means.index.min(), means.index.max()
    gap = means.loc[wide, "mean"] - means.loc[narrow, "mean"]
    return finding(
        bool(gap > 0),
        f"{wide} units: mean {means.loc[wide, 'mean']:.2%} ({_count(means.loc[wide, 'size'], 'trial')}); "
        f"{narrow}: {means.loc[narrow, 'mean']:.2%} ({means.loc[narrow, 'size']}); {gap * 100:+.1f} points",
        gap=float(gap),
    )


def data_findings(train_labels: Any, test_labels: Any) -> dict[str, dict[str, Any]]:
    """Our findings on the data claims: images per class in each split, balance, and the text's totals."""
    counts = {
        split: np.bincount(scores.as_labels(labels, f"{split}_labels"), minlength=config.NUM_CLASSES)
        for split, labels in (("train", train_labels), ("test", test_labels))
    }
    found = {}
    for split, key in (("train", "data_train_per_class"), ("test", "data_test_per_class")):
        low, high = int(counts[split].min()), int(counts[split].max())
        found[key] = finding(
            int(np.median(counts[split])),
            f"{low:,}" if low == high else f"{low:,}–{high:,}",
            lower=low,
            upper=high,
        )
    balanced = all(split_counts.min() == split_counts.max() for split_counts in counts.values())
    found["data_balanced"] = finding(
        bool(balanced),
        ("yes: " if balanced else "no: ")
        + ", ".join(
            f"{found[key]['text']} {split} images"
            for split, key in (("train", "data_train_per_class"), ("test", "data_test_per_class"))
        )
        + " per class",
    )
    found["data_training_images_text"] = finding(int(counts["train"].sum()), f"{int(counts['train'].sum()):,}")
    found["data_evaluation_images_text"] = finding(int(counts["test"].sum()), f"{int(counts['test'].sum()):,}")
    return found


def seed_verdicts(
    y_true: Any,
    mlp_seeds: Sequence[int],
    mlp_probabilities: np.ndarray,
    cnn_seeds: Sequence[int],
    cnn_probabilities: np.ndarray,
    *,
    resamples: int = 1000,
    confidence: float = 0.95,
) -> dict[str, dict[str, Any]]:
    """For each claim the test probabilities decide: the verdict for each training seed the two models share.

    Models of the same training seed are paired (for τ and the votes); each pair is judged as the main
    models are, its bootstrap drawn with that seed.

    Returns:
        {claim key: {"seeds": [...], "verdicts": [...], "figures": [our figure per seed], "summary": plain words}}.
    """
    shared = [seed for seed in mlp_seeds if seed in set(cnn_seeds)]
    if not shared:
        raise ValueError(f"The MLP's training seeds {list(mlp_seeds)} and the CNN's {list(cnn_seeds)} share none.")
    mlp_index = {int(seed): index for index, seed in enumerate(mlp_seeds)}
    cnn_index = {int(seed): index for index, seed in enumerate(cnn_seeds)}
    per_seed: dict[str, list[str]] = {}
    figures: dict[str, list[str]] = {}
    values: dict[str, list[Any]] = {}
    for seed in shared:
        found = prediction_findings(
            y_true,
            mlp_probabilities[mlp_index[int(seed)]],
            cnn_probabilities[cnn_index[int(seed)]],
            resamples=resamples,
            confidence=confidence,
            seed=int(seed),
        )
        for key, value in found.items():
            per_seed.setdefault(key, []).append(judge(CLAIMS_BY_KEY[key], value))
            figures.setdefault(key, []).append(value["text"])
            values.setdefault(key, []).append(value["value"])
    return {
        key: {
            "seeds": [int(seed) for seed in shared],
            "verdicts": verdicts,
            "figures": figures[key],
            "summary": summarise_verdicts(verdicts) + seed_spread(values[key], ratio=key == "kendall_tau"),
        }
        for key, verdicts in per_seed.items()
    }


def seed_spread(values: Sequence[Any], *, ratio: bool = False) -> str:
    """ " (89.52–89.85%)": the range of a number claim's figures over several training seeds ("" otherwise)."""
    numbers = [value for value in values if isinstance(value, int | float) and not isinstance(value, bool)]
    if len(numbers) < 2 or len(numbers) != len(values):
        return ""
    low, high = min(numbers), max(numbers)
    if low == high:
        return f" ({low:.3f} each)" if ratio else f" ({low:.2%} each)"
    if ratio:
        return f" ({low:.3f}–{high:.3f})"
    return f" ({low * 100:.2f}–{high:.2%})"


def summarise_verdicts(verdicts: Sequence[str]) -> str:
    """Per-seed verdicts in words: "higher for all 3 training seeds", or the count of each."""
    if not verdicts:
        raise ValueError("No verdicts to summarise.")
    if len(verdicts) == 1:
        return f"{verdicts[0]} (one training seed)"
    counts = Counter(verdicts)
    if len(counts) == 1:
        return f"{verdicts[0]} for all {len(verdicts)} training seeds"
    return ", ".join(f"{verdict} {count}" for verdict, count in counts.most_common()) + f" of {len(verdicts)} seeds"
