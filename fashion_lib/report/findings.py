"""The report's findings in plain words, computed from a run's metrics: the landing page's and the PDF's first page.

Each finding is one short paragraph whose every number is read from `metrics.json` with its interval: which
model wins and by how much, whether an ensemble beats the better model, the class both models fail on, the
pixel baseline, how the seed report's claims fared, what the run used and how long its notebooks took.
`findings_html` renders them once, so that the landing page and the PDF say the same words.
"""

from __future__ import annotations

import html
import math
from collections import Counter
from dataclasses import dataclass
from typing import Any

from scipy import stats

from fashion_lib.analysis import replication

SCHEDULE_WORDS = {
    "cosine": "the cosine recipe (a short warm-up, then the learning rate falls along a cosine to zero over a fixed "
    "number of epochs)",
    "seed": "the seed report's schedule (a constant learning rate, then an exponential decay, with early stopping)",
}
SPACE_WORDS = {
    "seed": "the seed report's search space (its layer sizes, dropout rates and learning rates, trained with SGD)",
    "extended": "the extended search space (the seed's choices and more: other optimisers, lighter regularisation)",
    "whitened": "the whitened CNN's space (a frozen patch-whitening first layer, then blocks of two convolutions)",
}
NOTEBOOK_NAMES = {"01_explore": "data", "02_mlp": "MLP", "03_cnn": "CNN", "04_compare": "comparison"}


@dataclass(frozen=True)
class Finding:
    """One finding: a key, a short lead in bold, and the sentences that state it."""

    key: str
    lead: str
    text: str


def _percent(value: float) -> str:
    return f"{value:.2%}"


def _interval(lower: float, upper: float) -> str:
    return f"{lower:.2%}–{upper:.2%}"


def _points(value: float, *, signed: bool = True) -> str:
    """A difference of shares in percentage points, with a true minus sign: "+2.41", "−0.16"."""
    text = f"{abs(value) * 100:.2f}"
    if not signed:
        return text
    return ("−" if value < 0 else "+") + text if round(abs(value) * 100, 2) else text


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min" if seconds >= 60 else f"{seconds:.0f} s"


def wilson_interval(share: float, count: int, *, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson's score interval of a share observed on `count` images."""
    if count < 1:
        raise ValueError(f"A share needs at least one image, got count={count}.")
    z = float(stats.norm.ppf(0.5 + confidence / 2))
    centre = (share + z * z / (2 * count)) / (1 + z * z / count)
    half = z * math.sqrt(share * (1 - share) / count + z * z / (4 * count * count)) / (1 + z * z / count)
    return max(0.0, centre - half), min(1.0, centre + half)


def _model_label(metrics: dict[str, Any], name: str) -> str:
    return metrics["models"][name].get("label", name.upper())


def winner(metrics: dict[str, Any]) -> Finding:
    """Which model is more accurate on the test set, by how much, with the paired bootstrap interval."""
    uncertainty = metrics["uncertainty"]
    confidence = f"{uncertainty['confidence']:.0%}"
    difference = uncertainty["accuracy_difference_cnn_minus_mlp"]
    test_images = metrics["data"]["test_images"]
    accuracy = {name: uncertainty["models"][name]["test_accuracy"] for name in ("mlp", "cnn")}
    shown = {
        name: f"{_percent(values['estimate'])} ({_interval(values['lower'], values['upper'])})"
        for name, values in accuracy.items()
    }
    if difference["lower"] > 0 or difference["upper"] < 0:
        better, worse = ("cnn", "mlp") if difference["estimate"] > 0 else ("mlp", "cnn")
        sign = 1 if better == "cnn" else -1
        lower, upper = sorted((sign * difference["lower"], sign * difference["upper"]))
        lead = f"The {_model_label(metrics, better)} wins"
        text = (
            f"It labels {shown[better]} of the {test_images:,} test images correctly, the "
            f"{_model_label(metrics, worse)} {shown[worse]}: {_points(abs(difference['estimate']), signed=False)} "
            f"points more ({confidence} interval {_points(lower)} to {_points(upper)} points, a paired bootstrap "
            "over the test images)."
        )
    else:
        lead = "Neither model wins"
        text = (
            f"The MLP labels {shown['mlp']} of the {test_images:,} test images correctly, the CNN {shown['cnn']}: "
            f"the CNN's difference of {_points(difference['estimate'])} points lies within its {confidence} interval "
            f"({_points(difference['lower'])} to {_points(difference['upper'])} points), which holds zero."
        )
    return Finding("winner", lead, text)


def ensembles(metrics: dict[str, Any]) -> Finding:
    """Whether any of the ensembles beats the better single model, with each difference's interval."""
    results = list(metrics["ensembles"].values())
    reference = _model_label(metrics, results[0]["reference_model"])
    confidence = f"{metrics['uncertainty']['confidence']:.0%}"

    def difference(result: dict[str, Any]) -> str:
        change = result["difference_vs_reference"]
        return (
            f"{result['label'].lower()} {_points(change['estimate'])} points "
            f"({_points(change['lower'])} to {_points(change['upper'])})"
        )

    better = [result for result in results if result["difference_vs_reference"]["lower"] > 0]
    others = [result for result in results if result not in better]
    introduction = (
        f"The {len(results)} ensembles (ways of combining the two models, each fitted on the validation split only) "
        f"against the {reference}, the model with the better validation accuracy, with {confidence} intervals: "
    )
    if better:
        names = " and ".join(result["label"].lower() for result in better)
        lead = f"{names[0].upper() + names[1:]} {'beats' if len(better) == 1 else 'beat'} the {reference}"
    else:
        lead = f"No ensemble beats the {reference}"
    parts = [difference(result) for result in better + others]
    return Finding("ensembles", lead, introduction + "; ".join(parts) + ".")


def _class_accuracy_interval(metrics: dict[str, Any], model: str, name: str) -> tuple[float, float, str]:
    """The share of a class's test images a model gets right, with an interval: the replication table's
    bootstrap where it has the class, else Wilson's score interval."""
    per_class = metrics["models"][model]["per_class"][name]
    for row in metrics.get("replication", {}).get("claims", []):
        ours = row["ours"]
        if (
            row["key"].startswith(f"{model}_")
            and row["key"].endswith("_accuracy")
            and ours.get("lower") is not None
            and ours.get("value") == per_class["accuracy"]
            and row["key"] != f"{model}_test_accuracy"
        ):
            return ours["lower"], ours["upper"], "bootstrap"
    lower, upper = wilson_interval(
        per_class["accuracy"], int(per_class["support"]), confidence=metrics["uncertainty"]["confidence"]
    )
    return lower, upper, "Wilson"


def hardest_class(metrics: dict[str, Any]) -> Finding:
    """The class each model gets wrong most often, and whether the two models share it."""
    worst = {}
    for model in ("mlp", "cnn"):
        per_class = metrics["models"][model]["per_class"]
        worst[model] = min(per_class, key=lambda name, scores=per_class: scores[name]["accuracy"])

    def share(model: str, name: str) -> str:
        values = metrics["models"][model]["per_class"][name]
        lower, upper, method = _class_accuracy_interval(metrics, model, name)
        method_words = "" if method == "bootstrap" else ", Wilson's interval"
        return f"{_percent(values['accuracy'])} ({_interval(lower, upper)}{method_words})"

    confidence = f"{metrics['uncertainty']['confidence']:.0%}"
    if worst["mlp"] == worst["cnn"]:
        name = worst["mlp"]
        support = int(metrics["models"]["mlp"]["per_class"][name]["support"])
        lead = f"Both models fail most on the class {name}"
        text = (
            f"Of its {support:,} test images the MLP labels {share('mlp', name)} correctly and the CNN "
            f"{share('cnn', name)} ({confidence} intervals), the lowest share of any class for both."
        )
    else:
        lead = "The two models fail most on different classes"
        text = (
            f"The MLP does worst on {worst['mlp']}, labelling {share('mlp', worst['mlp'])} of its test images "
            f"correctly; the CNN on {worst['cnn']}, {share('cnn', worst['cnn'])} ({confidence} intervals)."
        )
    return Finding("hardest_class", lead, text)


def baseline(metrics: dict[str, Any]) -> Finding:
    """The networks against a logistic regression on raw pixels, by their intervals."""
    pixels = metrics["baselines"]["logistic_regression"]
    interval = pixels["test_accuracy_interval"]
    standing = {}
    for model in ("mlp", "cnn"):
        values = metrics["uncertainty"]["models"][model]["test_accuracy"]
        if values["lower"] > interval["upper"]:
            standing[model] = "above"
        elif values["upper"] < interval["lower"]:
            standing[model] = "below"
        else:
            standing[model] = "level with"
    if set(standing.values()) == {"above"}:
        lead = "Both networks beat a linear model on raw pixels"
    elif "above" not in standing.values():
        lead = "Neither network beats a linear model on raw pixels"
    else:
        lead = "Only the {} beats a linear model on raw pixels".format(
            *(_model_label(metrics, model) for model, place in standing.items() if place == "above")
        )
    words = {"above": "lies above it", "below": "lies below it", "level with": "overlaps it"}
    text = (
        f"A logistic regression on the pixels, trained on {pixels['train_images']:,} images, labels "
        f"{_percent(pixels['test_accuracy'])} ({_interval(interval['lower'], interval['upper'])}) of the test images "
        f"correctly. The MLP's interval {words[standing['mlp']]}, the CNN's {words[standing['cnn']]}."
    )
    return Finding("baseline", lead, text)


def seed_claims(metrics: dict[str, Any]) -> Finding:
    """How the seed report's claims fared: the tally of verdicts and the two headline accuracies."""
    rows = metrics["replication"]["claims"]
    tally = Counter(row["verdict"] for row in rows)
    by_key = {row["key"]: row for row in rows}
    consistent = tally.get("consistent", 0)
    lead = f"{consistent} of the seed report's {len(rows)} claims hold in this run"
    rest = ", ".join(
        f"{count} {replication.VERDICT_PHRASES[verdict][count != 1]}"
        for verdict, count in tally.most_common()
        if verdict != replication.CONSISTENT
    )
    headline = "; ".join(
        f"{_model_label(metrics, model)} {by_key[f'{model}_test_accuracy']['seed_figure']} against "
        f"{by_key[f'{model}_test_accuracy']['ours']['text']}, {by_key[f'{model}_test_accuracy']['verdict']}"
        for model in ("mlp", "cnn")
    )
    text = (
        f"The others: {rest} (lower or higher: our interval lies wholly below or above the seed's figure). "
        f"Test accuracy, the seed's against ours: {headline}. Every claim, row by row, under “Does the seed "
        "report hold up?”."
    )
    return Finding("seed_claims", lead, text)


def run_used(metrics: dict[str, Any]) -> Finding:
    """What the run used: its profile, seed, search spaces, trials and final-training recipe, in words."""
    models = metrics["models"]
    spaces = {models[name].get("search_space") for name in ("mlp", "cnn")}
    schedules = {models[name]["recipe"]["schedule"] for name in ("mlp", "cnn")}
    if len(spaces) == 1:
        space = next(iter(spaces))
        searched = f"Both models were searched in {SPACE_WORDS.get(space, f'the {space} search space')}"
    else:
        searched = "The MLP was searched in {} and the CNN in {}".format(
            *(SPACE_WORDS.get(models[name]["search_space"], models[name]["search_space"]) for name in ("mlp", "cnn"))
        )
    trials = (
        f"{models['mlp']['trials']} trials each"
        if models["mlp"]["trials"] == models["cnn"]["trials"]
        else f"{models['mlp']['trials']} and {models['cnn']['trials']} trials (MLP, CNN)"
    )
    if len(schedules) == 1:
        schedule = next(iter(schedules))
        trained = f"then trained with {SCHEDULE_WORDS.get(schedule, schedule)}"
    else:
        trained = "then trained, the MLP with {}, the CNN with {}".format(
            *(SCHEDULE_WORDS.get(models[name]["recipe"]["schedule"], "") for name in ("mlp", "cnn"))
        )
    augmented = [
        f"the {_model_label(metrics, name)}'s training images were augmented ({models[name]['recipe']['augmentation']})"
        for name in ("mlp", "cnn")
        if models[name]["recipe"]["augmentation"] != "none"
    ]
    description = metrics.get("description", "")
    text = (
        f"Profile {metrics['profile']}{f' ({description})' if description else ''}, seed {metrics['seed']}. "
        f"{searched} with {trials}, {trained}" + (f"; {' and '.join(augmented)}" if augmented else "") + "."
    )
    return Finding("run_used", "What this run used", text)


def duration(metrics: dict[str, Any]) -> Finding:
    """How long the notebooks that computed these results took, and the largest kernel's memory."""
    notebooks = metrics["cache"]["notebooks"]
    seconds = {name: notebooks[name]["seconds"] for name in notebooks}
    parts = ", ".join(f"{NOTEBOOK_NAMES.get(name, name)} {_minutes(value)}" for name, value in seconds.items())
    # The time of the executions that computed the results, reused ones included, so that a rerun which
    # reuses every notebook (and copies the PDF) states the same finding as the PDF.
    text = (
        f"The {len(seconds)} notebooks computed these results in {_minutes(sum(seconds.values()))} ({parts}); "
        f"the largest notebook kernel used {metrics['peak_memory_mib']:,.0f} MiB of memory."
    )
    return Finding("duration", "How long it took", text)


# Each finding and the sections of the metrics it reads: a run without them (stand-in notebooks, a run cut
# short of 04_compare) states only the findings it has the numbers for.
FINDINGS = (
    (winner, ("models.mlp", "models.cnn", "uncertainty", "data.test_images")),
    (ensembles, ("models", "ensembles", "uncertainty")),
    (hardest_class, ("models.mlp.per_class", "models.cnn.per_class", "uncertainty")),
    (baseline, ("models", "baselines.logistic_regression", "uncertainty")),
    (seed_claims, ("models", "replication.claims")),
    (run_used, ("models.mlp.recipe", "models.cnn.recipe", "profile", "seed")),
    (duration, ("cache.notebooks", "peak_memory_mib")),
)


def _has(metrics: dict[str, Any], section: str) -> bool:
    node: Any = metrics
    for key in section.split("."):
        if not isinstance(node, dict) or key not in node:
            return False
        node = node[key]
    return True


def compute(metrics: dict[str, Any]) -> list[Finding]:
    """The findings of a finished run, in reading order: those whose numbers the run's metrics hold."""
    return [finding(metrics) for finding, sections in FINDINGS if all(_has(metrics, section) for section in sections)]


def findings_html(findings: list[Finding]) -> str:
    """The findings as an HTML list, the same on the landing page and on the PDF's first page."""
    if not findings:
        return '<p class="findings">This run recorded no results to state.</p>'
    items = "\n".join(
        f'<li data-finding="{html.escape(finding.key)}"><strong>{html.escape(finding.lead)}.</strong> '
        f"{html.escape(finding.text)}</li>"
        for finding in findings
    )
    return f'<ol class="findings">\n{items}\n</ol>'
