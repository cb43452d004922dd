"""The method as the report tells it: sentences built from what a run was given and what it did.

Every sentence that describes how a model was searched or trained comes from here, from the run's own
parameters and outcomes (the search space as declared, the trials that ran, the schedule, whether early
stopping fired, the images each step saw), so that no profile can make it false. The functions return
plain text with Markdown emphasis, for the notebooks' `Markdown(...)` cells.
"""

from __future__ import annotations

import inspect
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import keras_tuner
import numpy as np
import pandas as pd

from fashion_lib import config
from fashion_lib.models import builders, hypermodels
from fashion_lib.models.search_space import declare_search_space, default_values
from fashion_lib.training import recipe

OPTIMIZER_NAMES = {"sgd": "SGD", "adam": "Adam", "adamw": "AdamW"}
# What each hyperparameter is, in words; the per-layer ones (units_0, units_1, ...) by their stem.
LAYER_LABELS = {"units": "width in units", "l2": "L2 factor", "dropout": "dropout rate"}
LABELS = {
    "num_layers": "the number of hidden layers",
    "conv_blocks": "the number of convolutional blocks",
    "filters": "the first block's filters ({values}; doubled in each following block)",
    "convs_per_block": "the convolutions per block",
    "dropout": "the dropout rate after each block",
    "dense_units": "the units of a dense layer before the output ({values}; 0: none)",
    "dense_dropout": "that dense layer's dropout rate",
    "augment": "whether the model shifts and mirrors its training images",
    "optimizer": "the optimiser",
    "learning_rate": "the learning rate",
    "momentum": "SGD's momentum",
    "weight_decay": "AdamW's weight decay",
    "width": "the first block's filters ({values}; doubled in each of the three blocks)",
}
# How a conditional hyperparameter's condition reads, by the hyperparameter it depends on.
CONDITIONS = {
    "optimizer": "only with {values}",
    "filters": "only with {values} first-block filters",
    "dense_units": "only with a dense layer",
}
# Why a search stopped (fashion_lib.search.monitoring.STOP_REASONS' keys), for a reader.
STOP_REASONS = {
    "max_trials": "it had run every trial it was given",
    "time_budget": "its time budget was spent",
    "space_exhausted": "no configuration was left to try",
    "unknown": "of something it did not record (it was interrupted, or read from an older search)",
}
# The same, short, for a configuration's values ("layer 1: units 1,024, L2 0.001, dropout 0.244").
SHORT_LAYER_LABELS = {"units": "units", "l2": "L2", "dropout": "dropout"}
SHORT_LABELS = {
    "num_layers": "hidden layers",
    "conv_blocks": "blocks",
    "filters": "first-block filters",
    "convs_per_block": "convolutions per block",
    "dropout": "dropout after each block",
    "dense_units": "dense units",
    "dense_dropout": "dense dropout",
    "augment": "model shifts and mirrors",
    "optimizer": "optimiser",
    "learning_rate": "learning rate",
    "momentum": "momentum",
    "weight_decay": "weight decay",
    "width": "first-block filters",
}
_LAYER_NAME = re.compile(r"^(?P<stem>[a-z0-9]+)_(?P<layer>\d+)$")


def count(number: int, noun: str, plural: str | None = None) -> str:
    """ "1 trial", "3 trials", "1,000 images": a number with its noun in the right number."""
    return f"{number:,} {noun if number == 1 else plural or noun + 's'}"


def join(items: Sequence[str], conjunction: str = "and") -> str:
    """ "a", "a and b", "a, b and c"."""
    items = list(items)
    if len(items) <= 2:
        return f" {conjunction} ".join(items)
    return ", ".join(items[:-1]) + f" {conjunction} " + items[-1]


def format_value(value: Any) -> str:
    """A hyperparameter value as a reader wants it: optimiser names, yes/no, three significant digits."""
    if isinstance(value, str):
        return OPTIMIZER_NAMES.get(value, value)
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, int | np.integer) or float(value).is_integer():
        return f"{int(value):,}"
    return f"{float(value):.3g}"


def _values_text(parameter: Any) -> str:
    """A hyperparameter's possible values: "256, 512 or 1024", "1–3", "0.0003–0.03, log scale", "yes or no"."""
    kind = type(parameter).__name__
    settings = parameter.get_config()
    if kind == "Choice":
        return join([format_value(value) for value in settings["values"]], "or")
    if kind == "Boolean":
        return "yes or no"
    if kind == "Fixed":
        return format_value(settings["value"])
    text = f"{format_value(settings['min_value'])}–{format_value(settings['max_value'])}"
    return text + (", log scale" if settings.get("sampling") == "log" else "")


def _condition_text(parameter: Any) -> str:
    parts = [
        CONDITIONS[condition.name].format(values=join([format_value(v) for v in condition.values], "or"))
        for condition in parameter.conditions
        if condition.name in CONDITIONS
    ]
    return "; ".join(parts)


def _fixed_optimizer(model_name: str, space: str, searched: set[str]) -> str:
    """The sentence naming the optimiser when the space does not search it ("" when it does)."""
    if "optimizer" in searched:
        return ""
    hypermodel = hypermodels.make_hypermodel(model_name, space)
    arguments = hypermodel.builder_arguments(keras_tuner.HyperParameters())
    if space == config.WHITENED_SPACE:
        decay = arguments["weight_decay"]
        sentence = " Every trial trains with stochastic gradient descent (SGD) with Nesterov momentum 0.9"
        if decay:
            sentence += f" and weight decay {format_value(decay)} (each step shrinks the weights by the rate times it)"
        return sentence + "."
    builder = builders.build_mlp if model_name == "mlp" else builders.build_cnn
    name = OPTIMIZER_NAMES[arguments["optimizer"]]
    if arguments["optimizer"] != "sgd":
        return f" Every trial trains with {name}."
    if "momentum" in searched:
        return " Every trial trains with stochastic gradient descent (SGD) with momentum."
    momentum = arguments.get("momentum", inspect.signature(builder).parameters["momentum"].default)
    return " Every trial trains with stochastic gradient descent (SGD)" + (
        f" with momentum {format_value(momentum)}." if momentum else " without momentum."
    )


CNN_FAMILIES = {
    "seed": "Each block here is one convolution, batch normalisation and a 2×2 max pooling that halves the image's "
    "width and height while the number of filters doubles, followed by dropout. A softmax layer gives the category.",
    "extended": "Each block here is one convolution (two in some configurations), batch normalisation and a 2×2 max "
    "pooling that halves the image's width and height while the number of filters doubles, followed by dropout. A "
    "softmax layer, after an optional dense layer, gives the category.",
    config.WHITENED_SPACE: "This network's first layer is computed, not learned: a 2×2 convolution whose eight "
    "filters whiten the image's 2×2 patches (the principal directions of the training images' patches, scaled to "
    "unit variance, and their negatives), which makes the learned layers' work cheaper. Three blocks follow, each a "
    "3×3 convolution, a 2×2 max pooling, batch normalisation and GELU, then a second 3×3 convolution with batch "
    "normalisation and GELU; the number of filters doubles per block. A global max pooling and one dense layer, "
    "its output divided by 9, give the category (after the fastest-training CIFAR-10 networks, airbench).",
}


def describe_cnn_family(space: str) -> str:
    """What the CNNs of `space` are made of, block by block."""
    return CNN_FAMILIES[space]


def describe_search_space(model_name: str, space: str) -> str:
    """What the search of `model_name`'s `space` chooses, with each hyperparameter's values, as declared."""
    parameters = list(declare_search_space(hypermodels.make_hypermodel(model_name, space)).space)
    parts, layer_parts, seen_stems = [], [], set()
    for parameter in parameters:
        match = _LAYER_NAME.match(parameter.name)
        if match and match["stem"] in LAYER_LABELS:
            if match["stem"] not in seen_stems:
                seen_stems.add(match["stem"])
                layer_parts.append(f"{LAYER_LABELS[match['stem']]} ({_values_text(parameter)})")
            if not parts or parts[-1] != "LAYERS":
                parts.append("LAYERS")
            continue
        condition = _condition_text(parameter)
        values = _values_text(parameter) + (f"; {condition}" if condition else "")
        label = LABELS[parameter.name]
        parts.append(label.format(values=values) if "{values}" in label else f"{label} ({values})")
    layers = f"for each layer its {join(layer_parts)}" if layer_parts else ""
    parts = [layers if part == "LAYERS" else part for part in parts]
    sentence = f"The {model_name.upper()} search chooses {join(parts)}."
    if layer_parts:
        sentence += " A layer's values exist only in the trials that have that layer."
    return sentence + _fixed_optimizer(model_name, space, {parameter.name for parameter in parameters})


def describe_configuration(values: Mapping[str, Any]) -> str:
    """A configuration's values in words, rounded: "hidden layers 2; layer 1: units 1,024, L2 0, dropout 0.3; ...".

    Missing values (NaN: a layer or option the configuration does not have) are left out.
    """
    general, layers = [], {}
    for name, value in values.items():
        if value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA:
            continue
        match = _LAYER_NAME.match(name)
        if match and match["stem"] in LAYER_LABELS:
            layers.setdefault(int(match["layer"]), []).append(
                f"{SHORT_LAYER_LABELS[match['stem']]} {format_value(value)}"
            )
        else:
            general.append(f"{SHORT_LABELS.get(name, name.replace('_', ' '))} {format_value(value)}")
    layer_parts = [f"layer {index + 1}: {', '.join(parts)}" for index, parts in sorted(layers.items())]
    return "; ".join(general[:1] + layer_parts + general[1:])


def describe_reference(model_name: str, space: str) -> str:
    """The space's reference configuration (its declared defaults), which every search trains first."""
    values = default_values(declare_search_space(hypermodels.make_hypermodel(model_name, space)))
    return f"Every search of this space starts from its reference configuration: {describe_configuration(values)}."


def describe_search(
    model_name: str,
    *,
    trials: int,
    num_initial_points: int,
    epochs_per_trial: int,
    search_images: int | None,
    search_seconds: float | None,
    stop_reason: str,
    reused_from: str | None = None,
) -> str:
    """What the search did: trials run, how each was chosen, the images and epochs of each, why it stopped."""
    label = model_name.upper()
    if reused_from:
        return (
            f"This run did not search: its **{count(trials, 'trial')}** come from a finished search, read from "
            f"`{reused_from}`, which stopped because {STOP_REASONS[stop_reason]}."
        )
    random = max(0, min(trials, num_initial_points) - 1)
    guided = max(0, trials - num_initial_points)
    chosen = ["the reference configuration"]
    if random:
        chosen.append(f"{count(random, 'configuration')} drawn at random")
    if guided:
        chosen.append(f"{count(guided, 'configuration')} chosen by the Gaussian process")
    duration = f" in {search_seconds / 60:.1f} minutes" if search_seconds is not None else ""
    images = f" on {search_images:,} training images" if search_images else ""
    return (
        f"The search trained **{count(trials, label, label + 's')}**, {epochs_per_trial} epochs each{images}"
        f"{duration}: {join(chosen)}. It stopped because {STOP_REASONS[stop_reason]}."
    )


def describe_best_trial(trial_id: str, score: float, best_epoch: int, values: Mapping[str, Any]) -> str:
    """The search's best trial: its score, the epoch it was reached in, and its configuration in words."""
    return (
        f"The best, trial {trial_id}, reached **{score:.2%}** validation accuracy in epoch {int(best_epoch)}. "
        f"Its configuration: {describe_configuration(values)}."
    )


def _schedule_sentence(
    schedule: str,
    *,
    learning_rate: float,
    epochs: int,
    steps_per_epoch: int,
    constant_epochs: int,
    decay_rate: float,
    trained: int,
) -> str:
    rate = format_value(learning_rate)
    if schedule == "cosine":
        total = epochs * steps_per_epoch
        warmup = max(1, round(recipe.WARMUP_FRACTION * total))
        return (
            f"The learning rate rises linearly from 0 to the searched {rate} over the first "
            f"{count(warmup, 'step')} ({warmup / steps_per_epoch:.1f} epochs), then follows a cosine down to 0 at the "
            f"end of epoch {epochs}."
        )
    sentence = (
        f"The learning rate stays at the searched {rate} for the first {count(constant_epochs, 'epoch')}, then is "
        f"multiplied by exp(−{format_value(decay_rate)}) ≈ {math.exp(-decay_rate):.3f} in each further epoch"
    )
    return sentence + (
        "." if trained > constant_epochs else f"; this training ended before the decay began (epoch {trained})."
    )


def _stopping_sentence(schedule: str, *, epochs: int, patience: int, history: pd.DataFrame) -> str:
    validation = history["val_accuracy"].to_numpy()
    best = int(np.argmax(validation))
    trained = len(validation)
    kept = (
        f"the weights of its best epoch by validation accuracy are kept: epoch {best + 1}, "
        f"**{validation[best]:.2%}** (training accuracy {history['accuracy'].iloc[best]:.2%} then)."
    )
    if schedule == "cosine":
        return (
            f"There is no early stopping, which would cut the cosine short: the training ran all "
            f"{count(epochs, 'epoch')}, and {kept}"
        )
    rule = f"Early stopping ends the training after {count(patience, 'epoch')} without a better validation accuracy"
    if trained < epochs:
        return f"{rule}; it did after epoch {trained} of at most {epochs}, and {kept}"
    return f"{rule}; it never did, so the training ran all {count(epochs, 'epoch')}, and {kept}"


def describe_final_training(
    model_name: str,
    *,
    schedule: str,
    history: pd.DataFrame,
    epochs: int,
    learning_rate: float,
    batch_size: int,
    train_images: int,
    validation_images: int,
    augmentation: recipe.Augmentation,
    model_augments: bool = False,
    seeds: Sequence[int] = (1,),
    replicas: int = 1,
    constant_epochs: int = 10,
    decay_rate: float = 0.1,
    patience: int = 15,
) -> str:
    """The final training as it ran: data, batch, schedule, early stopping (and whether it fired), augmentation,
    devices and training seeds, from the run's parameters and the kept model's `history`."""
    if schedule not in config.SCHEDULES:
        raise ValueError(f"Unknown schedule {schedule!r}; use one of {', '.join(config.SCHEDULES)}.")
    label = model_name.upper()
    step_images = batch_size * replicas
    steps_per_epoch = math.ceil(train_images / step_images)
    devices = (
        f" on {replicas} devices at once ({batch_size} images each per step, gradients averaged)"
        if replicas > 1
        else ""
    )
    sentences = [
        f"The chosen {label} is trained again from scratch on the {train_images:,} training images, "
        f"{step_images} per step{devices}, and checked after every epoch on the {validation_images:,} validation "
        "images.",
        _schedule_sentence(
            schedule,
            learning_rate=learning_rate,
            epochs=epochs,
            steps_per_epoch=steps_per_epoch,
            constant_epochs=constant_epochs,
            decay_rate=decay_rate,
            trained=len(history),
        ),
        _stopping_sentence(schedule, epochs=epochs, patience=patience, history=history),
    ]
    if augmentation.active:
        sentences.append(
            f"Each training batch is augmented afresh ({augmentation.describe()}); validation and test images are "
            "left as they are."
        )
    if model_augments:
        sentences.append(
            "The model itself also shifts (up to 10% each way) and mirrors its training images, as the search chose."
        )
    if len(seeds) > 1:
        sentences.append(
            f"The same configuration is trained {len(seeds)} times, with seeds {join([str(s) for s in seeds])}; the "
            f"first seed's {label} is the one kept, saved and evaluated below."
        )
    return " ".join(sentences)


def describe_bootstrap(resamples: int, confidence: float) -> str:
    """How the bootstrap intervals of the comparison are drawn, with this run's resamples and coverage."""
    return (
        "The test set is one sample of images; another sample from the same source would give slightly different "
        f"figures. The bootstrap estimates how different: it redraws the test images with replacement "
        f"{resamples:,} times (seeded), recomputes each figure on every redraw and keeps the middle "
        f"{confidence:.0%} of the results (the percentile method). Every model is scored on the same redraws, so "
        "the difference between two models is a paired comparison on the same images."
    )


def describe_calibration(bins: int) -> str:
    """What the expected calibration error and temperature scaling are, with this run's number of bins."""
    return (
        "A model is calibrated when, of the images it classifies with 80% confidence, about 80% are right. The "
        f"expected calibration error (ECE) sorts the test images into {bins} equal-width bins of confidence (the "
        "largest predicted probability) and averages, weighted by each bin's share of images, the gap between the "
        "bin's accuracy and its mean confidence; 0 is perfect. Temperature scaling divides the logits by one "
        "number T, fitted on the *validation* split by minimising the negative log-likelihood; T > 1 softens an "
        "overconfident model, T < 1 sharpens an underconfident one, and the predicted class never changes. The "
        "ECE is then measured again on the test set."
    )


def describe_baseline(train_images: int) -> str:
    """The pixel baseline and the quoted human figure, with the number of images the baseline learns from."""
    return (
        "How much do the networks add over a simple classifier? A multinomial logistic regression (scikit-learn) "
        f"is trained in this run on the raw pixels of {train_images:,} class-balanced images of the same training "
        "split and scored on the same test set. Beside it, as a dashed line, the human accuracy that the data "
        "set's authors publish in their benchmark table. That figure is **quoted, not measured**: crowd workers "
        "without fashion expertise labelled 1,000 random test images three times each, and the majority label "
        "was scored."
    )


def describe_tsne(samples: int) -> str:
    """What the t-SNE map shows, with the number of test images it draws."""
    return (
        "What the CNN's last dense layer receives is its learned description of an image. t-SNE draws these "
        f"descriptions for {samples:,} test images (seeded, class-balanced) on a plane so that images described "
        "alike land close together. Clusters are meaningful; distances between clusters and their sizes are not."
    )


def describe_strategy_comparison(model_name: str, trials: int, epochs_per_trial: int, train_images: int) -> str:
    """The section comparing Bayesian optimisation with random search, as this run ran it."""
    return (
        "## Does Bayesian optimisation pay?\n\n"
        f"The {model_name.upper()}'s Bayesian search is repeated with random search over the same space, with the "
        f"same {count(trials, 'trial')} of {count(epochs_per_trial, 'epoch')} on {train_images:,} training images "
        "and the same seed. The curves show the best validation accuracy reached after each trial. Both start "
        "from the space's reference configuration and draw their random trials from the same seed, so their first "
        "trials may coincide and the curves part where the Gaussian process takes over. One pair of searches is a "
        "single observation, not a verdict: a fair answer would repeat both over several seeds."
    )
