"""The seed report's claims and how each is judged: the verdict names, the kinds of claim and their rules.

Each claim is judged by the rule of its kind (`RULES`, stated once under the table): a number (the seed's
"88.1%") by whether its rounding range and our interval overlap; a statement (which class is worst) by
whether our figures say the same; a band ("stays between 0.87 and 0.89") by the share of epochs inside it;
a period ("in the first epochs") by the share of that period's epochs where it holds; and a figure the
seed's text misstates (a per-class count given as a total) is labelled as the seed's misstatement.
`CLAIMS` lists every claim, `finding` and `not_comparable` shape our figure for one, and `judge` (or
`verdict_of_row`, from a recorded row) gives its verdict.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from fashion_lib import config

CONSISTENT, HIGHER, LOWER, DIFFERENT, NOT_COMPARABLE = "consistent", "higher", "lower", "different", "not comparable"
MISSTATEMENT = "seed's misstatement"
VERDICTS = (CONSISTENT, HIGHER, LOWER, DIFFERENT, MISSTATEMENT, NOT_COMPARABLE)
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


def rules(confidence: float) -> dict[str, str]:
    """Each kind of claim's rule in words (the table's legend), the confidence level filled in."""
    return {kind: text.format(confidence=confidence) for kind, text in RULES.items()}
