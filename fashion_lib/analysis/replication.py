"""The replication table: every quantitative claim of the seed report, our figure beside it, and a verdict.

Each claim is judged by the rule of its kind (`RULES`, stated once under the table): a number (the seed's
"88.1%") by whether its rounding range and our interval overlap; a statement (which class is worst) by
whether our figures say the same; a band ("stays between 0.87 and 0.89") by the share of epochs inside it;
a period ("in the first epochs") by the share of that period's epochs where it holds; and a figure the
seed's text misstates (a per-class count given as a total) is labelled as the seed's misstatement.
Every function here takes plain arrays and tables and returns JSON-ready dicts, so that the table in
04_compare, the one on the landing page and metrics.json come from one computation.
"""

from __future__ import annotations

import html
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from fashion_lib import config, scores
from fashion_lib.analysis import evaluation, statistics

CONSISTENT, HIGHER, LOWER, DIFFERENT, NOT_COMPARABLE = "consistent", "higher", "lower", "different", "not comparable"
MISSTATEMENT = "seed's misstatement"
VERDICTS = (CONSISTENT, HIGHER, LOWER, DIFFERENT, MISSTATEMENT, NOT_COMPARABLE)
RECIPES = {"seed": "seed method", "extended": "extended"}
# The kinds of claim, each judged by its own rule.
NUMBER, STATEMENT, BAND, PERIOD, MISSTATED = "number", "statement", "band", "first epochs", "misstatement"
# "The first epochs" of a training curve are epochs 1 to PERIOD_EPOCHS; "later" is every epoch after them.
PERIOD_EPOCHS = 5
# A period claim holds when it holds in more than this share of the period's epochs.
PERIOD_MAJORITY = 0.5
# A curve "stays" within a band when at least this share of the epochs it covers lie inside the band.
BAND_SHARE = 0.9
RULES = {
    NUMBER: "The seed's figure stands for the range its rounding covers (88.1% for 88.05–88.15%, “about 70%” "
    "for 69.5–70.5%, “around epoch 40” for epochs 35–45); ours is its {confidence:.0%} bootstrap interval over "
    "the test images where one exists, otherwise the single figure. Consistent when the two overlap; higher or "
    "lower when ours lies wholly above or below the seed's.",
    STATEMENT: "Consistent when our figures make the same statement (the same class, the same yes or no); "
    "different when they do not.",
    BAND: f"A claim that a curve stays within a band (the seed's bounds widened by their rounding) is consistent "
    f"when at least {BAND_SHARE:.0%} of the epochs it covers lie inside the band, different otherwise; "
    f"“later” means from epoch {PERIOD_EPOCHS + 1} on.",
    PERIOD: f"A claim about the first epochs is judged on epochs 1–{PERIOD_EPOCHS}: consistent when it holds in "
    f"more than half of them, different otherwise.",
    MISSTATED: "Where the seed's text misstates its own data (a per-class count written as a total), the row is "
    "labelled the seed's misstatement when our figure is the one the seed's own figures imply, and judged as a "
    "number otherwise.",
    NOT_COMPARABLE: "This run lacks what the claim needs (search trials from another space, a "
    "training too short to show it).",
}
SHIRT_NAME = config.CLASS_NAMES[config.SHIRT]


@dataclass(frozen=True)
class Claim:
    """One claim of the seed report: a number (`seed_range`) or a statement (`seed_statement`), never both."""

    key: str
    claim: str
    seed_figure: str
    subject: str  # "mlp", "cnn", "both" or "data": whose recipe produced our figure
    seed_range: tuple[float, float] | None = None
    seed_statement: Any = None
    note: str = ""
    # BAND, PERIOD or MISSTATED; empty for a plain NUMBER (seed_range) or STATEMENT (seed_statement).
    kind: str = ""
    # For a MISSTATED claim: the range the seed's own figures imply (60,000 for its "6000 images").
    corrected_range: tuple[float, float] | None = None

    @property
    def rule(self) -> str:
        """The kind of claim, which decides the rule it is judged by (a key of `RULES`)."""
        return self.kind or (NUMBER if self.seed_range is not None else STATEMENT)


def _rounded_range(figure: str, *, percent: bool = True) -> tuple[float, float]:
    """The range a figure as written covers: "88.1" (%) is 0.8805-0.8815, "70" is 0.695-0.705, "0.89" 0.885-0.895."""
    decimals = len(figure.partition(".")[2])
    half = 0.5 * 10.0**-decimals
    scale = 0.01 if percent else 1.0
    return (round((float(figure) - half) * scale, 10), round((float(figure) + half) * scale, 10))


CLAIMS: tuple[Claim, ...] = (
    Claim("data_train_per_class", "Training images per class", "6,000", "data", seed_range=(6000, 6000)),
    Claim("data_test_per_class", "Test images per class", "1,000", "data", seed_range=(1000, 1000)),
    Claim("data_balanced", "The classes are balanced", "yes", "data", seed_statement=True),
    Claim(
        "data_training_images_text",
        "“6000 images for the training” (the text's total)",
        "6,000",
        "data",
        seed_range=(6000, 6000),
        kind=MISSTATED,
        corrected_range=(60000, 60000),
        note="The seed's own Figure 2 counts 6,000 training images per class, 60,000 in all: its 6000 is the "
        "per-class count.",
    ),
    Claim(
        "data_evaluation_images_text",
        "“1000 for the final evaluation” (the text's total)",
        "1,000",
        "data",
        seed_range=(1000, 1000),
        kind=MISSTATED,
        corrected_range=(10000, 10000),
        note="The seed's own Figure 2 counts 1,000 test images per class, 10,000 in all: its 1000 is the "
        "per-class count.",
    ),
    Claim(
        "mlp_test_accuracy",
        "MLP test accuracy (the seed's text says “training accuracy”)",
        "88.1%",
        "mlp",
        seed_range=_rounded_range("88.1"),
        note="Read as the test accuracy: the seed's conclusion sets 88.1% beside the CNN's 92.6% and the per-class "
        "shares of its confusion matrix on unseen data; “training” is its text's slip.",
    ),
    Claim("cnn_test_accuracy", "CNN test accuracy", "92.6%", "cnn", seed_range=_rounded_range("92.6")),
    Claim("mlp_worst_class", "MLP's worst class", SHIRT_NAME, "mlp", seed_statement=SHIRT_NAME),
    Claim("mlp_shirt_accuracy", "MLP's shirts right", "about 70%", "mlp", seed_range=_rounded_range("70")),
    Claim("cnn_worst_class", "CNN's worst class", SHIRT_NAME, "cnn", seed_statement=SHIRT_NAME),
    Claim("cnn_shirt_accuracy", "CNN's shirts right", "76%", "cnn", seed_range=_rounded_range("76")),
    Claim("mlp_best_class", "MLP's best class", "Trouser", "mlp", seed_statement="Trouser"),
    Claim("mlp_trouser_accuracy", "MLP's trousers right", "about 98%", "mlp", seed_range=_rounded_range("98")),
    Claim("cnn_best_class", "CNN's best class", "Bag", "cnn", seed_statement="Bag"),
    Claim("cnn_bag_accuracy", "CNN's bags right", "99%", "cnn", seed_range=_rounded_range("99")),
    Claim("mlp_tshirt_accuracy", "MLP's T-shirts/tops right", "78%", "mlp", seed_range=_rounded_range("78")),
    Claim("cnn_tshirt_accuracy", "CNN's T-shirts/tops right", "87%", "cnn", seed_range=_rounded_range("87")),
    Claim(
        "cnn_better_on_every_class",
        "The CNN beats the MLP on every class",
        "yes",
        "both",
        seed_statement=True,
        note="A class counts when the CNN's share right is strictly higher (point estimates).",
    ),
    Claim(
        "kendall_tau",
        "Kendall's τ of the two models' predictions",
        "0.89",
        "both",
        seed_range=_rounded_range("0.89", percent=False),
    ),
    Claim(
        "hard_vote_between",
        "A hard vote of the two lands between them",
        "yes",
        "both",
        seed_statement=True,
        note="Between: above the weaker model's test accuracy and below the stronger's.",
    ),
    Claim(
        "soft_vote_between",
        "A soft vote of the two lands between them",
        "yes",
        "both",
        seed_statement=True,
        note="Between: above the weaker model's test accuracy and below the stronger's.",
    ),
    Claim(
        "mlp_validation_above_training_early",
        "MLP: validation above training accuracy in the first epochs",
        "yes",
        "mlp",
        seed_statement=True,
        kind=PERIOD,
    ),
    Claim(
        "mlp_validation_range_later",
        "MLP: validation accuracy later stays between 0.87 and 0.89",
        "0.87–0.89",
        "mlp",
        seed_range=(0.865, 0.895),
        kind=BAND,
        note="The band as the seed's rounding allows: 0.865–0.895.",
    ),
    # "Around the 40th epoch" is read to the nearest ten epochs.
    Claim("cnn_best_epoch", "CNN: best validation accuracy around epoch 40", "around 40", "cnn", seed_range=(35, 45)),
    Claim(
        "cnn_overfits_after_best",
        "CNN: overfitting after the best epoch",
        "yes",
        "cnn",
        seed_statement=True,
        note="Overfitting: the training-minus-validation accuracy gap at the last epoch exceeds the gap at the best.",
    ),
    Claim(
        "mlp_learning_rate_0.01_wins",
        "MLP search trials: learning rate 0.01 beats 0.001",
        "yes",
        "mlp",
        seed_statement=True,
        note="Mean best-epoch validation accuracy of the completed trials at each rate.",
    ),
    Claim(
        "cnn_learning_rate_0.01_wins",
        "CNN search trials: learning rate 0.01 beats 0.001",
        "yes",
        "cnn",
        seed_statement=True,
        note="Mean best-epoch validation accuracy of the completed trials at each rate.",
    ),
    Claim(
        "mlp_more_units_help",
        "MLP search trials: more units help, but little",
        "yes",
        "mlp",
        seed_statement=True,
        note="Mean trial score at the widest against the narrowest first layer; the seed gives no size for "
        "“little”, so only the direction is judged and the gap is shown.",
    ),
)
CLAIMS_BY_KEY = {claim.key: claim for claim in CLAIMS}


def finding(
    value: Any, text: str, *, lower: float | None = None, upper: float | None = None, **evidence: Any
) -> dict[str, Any]:
    """Our figure for one claim: its value, its range (lower, upper) when it is a number, and how it reads."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float | int) and not isinstance(value, bool):
        lower = float(value) if lower is None else float(lower)
        upper = float(value) if upper is None else float(upper)
    return {"value": value, "lower": lower, "upper": upper, "text": text} | evidence


def not_comparable(text: str) -> dict[str, Any]:
    """A finding that cannot be judged, with the reason as its text."""
    return {"value": None, "lower": None, "upper": None, "text": text}


def judge(claim: Claim, found: dict[str, Any]) -> str:
    """The verdict on one claim from our finding, by the rule of its kind (`RULES`)."""
    if found.get("value") is None:
        return NOT_COMPARABLE
    if claim.rule == BAND:
        # A share, compared with a margin for the rounding of a ratio such as 9/10.
        return CONSISTENT if found["inside"] / found["epochs"] >= BAND_SHARE - 1e-9 else DIFFERENT
    if claim.rule == PERIOD:
        holds = found["holds"] / found["epochs"] > PERIOD_MAJORITY
        return CONSISTENT if holds == claim.seed_statement else DIFFERENT
    if claim.seed_range is None:
        return CONSISTENT if found["value"] == claim.seed_statement else DIFFERENT
    if found["lower"] is None or found["upper"] is None:
        return NOT_COMPARABLE
    ours = (found["lower"], found["upper"])
    if _overlap(ours, claim.seed_range):
        return CONSISTENT
    if claim.rule == MISSTATED and _overlap(ours, claim.corrected_range):
        return MISSTATEMENT
    return HIGHER if ours[0] > claim.seed_range[1] else LOWER


def _overlap(ours: tuple[float, float], theirs: Sequence[float] | None) -> bool:
    return theirs is not None and ours[0] <= theirs[1] and ours[1] >= theirs[0]


def verdict_of_row(row: dict[str, Any]) -> str:
    """The verdict recomputed from a recorded row of the table (what metrics.json holds), by the same rule."""
    claim = Claim(
        key=row["key"],
        claim=row["claim"],
        seed_figure=row["seed_figure"],
        subject=row["subject"],
        seed_range=tuple(row["seed_range"]) if row.get("seed_range") is not None else None,
        seed_statement=row.get("seed_statement"),
        kind=row["rule"] if row["rule"] in (BAND, PERIOD, MISSTATED) else "",
        corrected_range=tuple(row["corrected_range"]) if row.get("corrected_range") is not None else None,
    )
    return judge(claim, row["ours"])


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


def recipe(subject: str, spaces: dict[str, str | None], schedules: dict[str, str | None] | None = None) -> str:
    """Which method produced our figure: the seed's (its search space) or the extended one, per model, and
    ", cosine recipe" where the final training used fashion_lib.training.recipe's warm-up + cosine schedule."""
    if subject == "data":
        return "the data"
    names = ("mlp", "cnn") if subject == "both" else (subject,)
    labels = {
        name: RECIPES.get(spaces.get(name) or "", "unknown")
        + (", cosine recipe" if (schedules or {}).get(name) == "cosine" else "")
        for name in names
    }
    if len(set(labels.values())) == 1:
        return next(iter(labels.values()))
    return ", ".join(f"{name.upper()} {label}" for name, label in labels.items())


def budget(model_name: str, summary: dict[str, Any]) -> str:
    """The budget that produced a model's figures, in words, from its `models.<name>` metrics: the search's
    trials, their epochs and images, and the final trainings' seeds and epochs."""
    trials = summary.get("trials")
    epochs = summary.get("epochs_per_trial")
    images = summary.get("search_images")
    search = (
        f"{trials} search trial{'s' if trials != 1 else ''}"
        + (f" of {epochs} epoch{'s' if epochs != 1 else ''}" if epochs else " of an unrecorded length")
        + (f" on {images:,} images" if images else "")
    )
    trained = [int(run["epochs_trained"]) for run in summary.get("seed_runs", [])]
    final = (
        f"{len(trained)} final training{'s' if len(trained) != 1 else ''} of "
        + (f"{trained[0]}" if len(set(trained)) == 1 else f"{min(trained)}–{max(trained)}")
        + " epochs"
        if trained
        else "final training unrecorded"
    )
    return f"{model_name.upper()} budget: {search}; {final}."


def replication_table(
    findings: dict[str, dict[str, Any]],
    *,
    spaces: dict[str, str | None],
    across_seeds: dict[str, dict[str, Any]] | None = None,
    replicate_rows: Sequence[dict[str, Any]] | None = None,
    schedules: dict[str, str | None] | None = None,
    budgets: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """One JSON-ready row per claim of `CLAIMS`, in order: the seed's figure, ours, the recipe and the verdict.

    Args:
        findings: our finding for every claim key (from the *_findings functions here).
        spaces: {"mlp": search space, "cnn": search space} of this run.
        across_seeds: `seed_verdicts`' result, for the claims it covers.
        replicate_rows: the rows of the seed-method run (profile replicate), quoted beside ours by key, with
            that run's budget and spread over training seeds where it recorded them.
        schedules: {"mlp": final-training schedule, "cnn": ...} of this run (fashion_lib.config.SCHEDULES).
        budgets: {"mlp": `budget(...)`, "cnn": ...}: each single-model row records its model's as "budget".
    """
    missing = [claim.key for claim in CLAIMS if claim.key not in findings]
    if missing:
        raise ValueError(f"No finding for the claims {missing}: compute every claim before building the table.")
    quoted = {row["key"]: row for row in replicate_rows or []}
    rows = []
    for claim in CLAIMS:
        found = findings[claim.key]
        row = {
            "key": claim.key,
            "claim": claim.claim,
            "seed_figure": claim.seed_figure,
            "subject": claim.subject,
            "seed_range": list(claim.seed_range) if claim.seed_range is not None else None,
            "seed_statement": claim.seed_statement,
            "rule": claim.rule,
            "corrected_range": list(claim.corrected_range) if claim.corrected_range is not None else None,
            "ours": found,
            "recipe": recipe(claim.subject, spaces, schedules),
            "verdict": judge(claim, found),
            "note": claim.note,
        }
        if budgets and claim.subject in budgets:
            row["budget"] = budgets[claim.subject]
        if across_seeds and claim.key in across_seeds:
            row["across_seeds"] = across_seeds[claim.key]
        if claim.key in quoted:
            source = quoted[claim.key]
            row["replicate_run"] = {"ours": source["ours"]["text"], "verdict": source["verdict"]}
            if "across_seeds" in source:
                row["replicate_run"]["across_seeds"] = source["across_seeds"]["summary"]
            if "budget" in source:
                row["replicate_run"]["budget"] = source["budget"]
        rows.append(row)
    return rows


def shared_recipe(rows: Sequence[dict[str, Any]]) -> str | None:
    """The recipe of every row about a model when they all share one (the table then says it once), else None."""
    recipes = {row["recipe"] for row in rows if row["subject"] != "data"}
    return next(iter(recipes)) if len(recipes) == 1 else None


def recipe_sentence(rows: Sequence[dict[str, Any]]) -> str:
    """The sentence that says a recipe shared by every model row once ("" when the rows differ)."""
    shared = shared_recipe(rows)
    if shared is None:
        return ""
    data_rows = sum(row["subject"] == "data" for row in rows)
    exception = f", except the {data_rows} rows on the data, which count images" if data_rows else ""
    return f"Our figure in every row comes from the same recipe, “{shared}” (the method above){exception}."


def _quoted_text(quoted: dict[str, Any]) -> str:
    """A quoted seed-method row: its figure, verdict, spread over training seeds and budget where recorded."""
    details = [quoted["verdict"]] + [quoted[key] for key in ("across_seeds", "budget") if quoted.get(key)]
    return f"{quoted['ours']} ({'; '.join(details)})"


def table_frame(rows: Sequence[dict[str, Any]], *, replicate_label: str = "") -> pd.DataFrame:
    """The rows as a DataFrame for display: claim, seed, ours, recipe, rule, verdict, training seeds, note.

    The "recipe" column appears only when the model rows differ in it (`recipe_sentence` says a shared one),
    the "training seeds" column only when some claim was judged on more than one training seed, and the
    `replicate_label` column (the seed-method run's figures) only when a label is given. A row's note ends
    with the budget that produced its model's figures, where the row records one.
    """
    several_seeds = any(len(row.get("across_seeds", {}).get("seeds", [])) > 1 for row in rows)
    per_row_recipe = shared_recipe(rows) is None
    records = []
    for row in rows:
        record = {"claim": row["claim"], "seed report": row["seed_figure"], "ours": row["ours"]["text"]}
        if per_row_recipe:
            record["recipe"] = row["recipe"]
        record |= {"rule": row["rule"], "verdict": row["verdict"]}
        if several_seeds:
            record["training seeds"] = row.get("across_seeds", {}).get("summary", "—")
        if replicate_label:
            quoted = row.get("replicate_run")
            record[replicate_label] = _quoted_text(quoted) if quoted else "—"
        record["note"] = " ".join(part for part in (row["note"], row.get("budget", "")) if part)
        records.append(record)
    return pd.DataFrame(records)


SPACE_WORDS = {
    "seed": "searched in the seed report's own space",
    "extended": "searched in the extended space (more optimisers, wider ranges)",
}
SCHEDULE_WORDS = {
    "seed": "trained with the seed's schedule (a constant rate, then exponential decay) and early stopping",
    "cosine": "trained with a warm-up and a cosine to zero over a fixed number of epochs, without early stopping",
}


def method_sentence(spaces: dict[str, str | None], schedules: dict[str, str | None] | None = None) -> str:
    """How this run searched and trained each model, in words, the models that share a method named together."""
    by_method: dict[str, list[str]] = {}
    for name, space in spaces.items():
        schedule = (schedules or {}).get(name)
        method = SPACE_WORDS.get(space or "", "searched in an unrecorded space")
        method += " and " + SCHEDULE_WORDS.get(schedule or "", "trained with an unrecorded schedule")
        by_method.setdefault(method, []).append(name.upper())
    return " ".join(
        f"The {' and the '.join(names)} {'was' if len(names) == 1 else 'were'} {method}."
        for method, names in by_method.items()
    )


def rules(confidence: float) -> dict[str, str]:
    """Each kind of claim's rule in words (the table's legend), the confidence level filled in."""
    return {kind: text.format(confidence=confidence) for kind, text in RULES.items()}


VERDICT_PHRASES = {
    CONSISTENT: ("is consistent with this run", "are consistent with this run"),
    HIGHER: ("is higher here", "are higher here"),
    LOWER: ("is lower here", "are lower here"),
    DIFFERENT: ("is different here", "are different here"),
    MISSTATEMENT: ("is the seed's own misstatement", "are the seed's own misstatements"),
    NOT_COMPARABLE: ("is not comparable", "are not comparable"),
}


def tally(rows: Sequence[dict[str, Any]]) -> str:
    """The verdicts counted in a sentence: "Of the 28 claims, 15 are consistent with this run, 1 is higher here…"."""
    counts = Counter(row["verdict"] for row in rows)
    parts = [f"{counts[v]} {VERDICT_PHRASES[v][counts[v] != 1]}" for v in VERDICTS if counts[v]]
    listed = ", ".join(parts[:-1]) + " and " + parts[-1] if len(parts) > 1 else parts[0]
    return f"Of the seed report's {len(rows)} claim{'' if len(rows) == 1 else 's'}, {listed}."


def section_html(metrics: dict[str, Any]) -> str:
    """The landing page's replication section from a run's metrics ("" when the run recorded no table)."""
    replication = metrics.get("replication")
    if not replication:
        return ""
    quoted = replication.get("replicate_run")
    replicate_label = f"Seed-method run ({quoted['date']})" if quoted else ""
    frame = table_frame(replication["claims"], replicate_label=replicate_label)
    header = "".join(f'<th scope="col">{html.escape(str(column))}</th>' for column in frame.columns)
    body = "\n".join(
        f'<tr data-claim="{html.escape(row["key"])}" data-verdict="{html.escape(row["verdict"])}">'
        + "".join(f"<td>{html.escape(str(value))}</td>" for value in record)
        + "</tr>"
        for row, record in zip(replication["claims"], frame.itertuples(index=False), strict=True)
    )
    legend = "\n".join(
        f"<li><strong>{html.escape(kind)}</strong>: {html.escape(text)}</li>"
        for kind, text in replication["rules"].items()
    )
    source = (
        f"<p>The column “{html.escape(replicate_label)}” quotes the run of profile "
        f"<code>{html.escape(quoted['profile'])}</code> (the seed's own method), read from "
        f"<code>{html.escape(quoted['source'])}</code>.</p>"
        if quoted
        else ""
    )
    shared = recipe_sentence(replication["claims"])
    return f"""<h2 id="replication">Does the seed report hold up?</h2>
<p>{html.escape(replication["method"])}</p>
{f"<p>{html.escape(shared)}</p>" if shared else ""}
<p>{html.escape(tally(replication["claims"]))}</p>
{source}
<table id="replication-table">
<caption>The seed report's claims against this run</caption>
<thead><tr>{header}</tr></thead>
<tbody>
{body}
</tbody>
</table>
<p>How each verdict is reached, by the kind of claim in the column “rule”:</p>
<ul id="replication-rules">
{legend}
</ul>
"""
