"""The method prose: every sentence follows from the run's parameters and outcomes, for every profile."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import numpy as np
import pandas as pd
import papermill
import pytest

from fashion_lib import config
from fashion_lib.models import builders, hypermodels
from fashion_lib.models.search_space import declare_search_space
from fashion_lib.report import method, profiles
from fashion_lib.training import recipe

PROFILES = tuple(profiles.available_profiles())
NOTEBOOKS = {"mlp": "02_mlp", "cnn": "03_cnn"}


def _parameters(profile: str, model_name: str) -> dict:
    """What the model's notebook runs with under `profile`: its declared defaults, then the profile's values."""
    notebook = NOTEBOOKS[model_name]
    inspected = papermill.inspect_notebook(str(config.NOTEBOOKS_DIR / f"{notebook}.ipynb"))
    defaults = {name: ast.literal_eval(info["default"]) for name, info in inspected.items()}
    chosen = profiles.notebook_parameters(profiles.load_profile(profile), profile_name=profile, run_dir=Path("/tmp"))
    return defaults | chosen[notebook]


def _history(epochs: int, best: int) -> pd.DataFrame:
    """A history of `epochs` epochs whose validation accuracy peaks in (1-based) epoch `best`."""
    validation = 0.9 - 0.001 * np.abs(np.arange(1, epochs + 1) - best)
    return pd.DataFrame(
        {"epoch": np.arange(1, epochs + 1), "accuracy": np.linspace(0.8, 0.95, epochs), "val_accuracy": validation}
    )


def _final_training(values: dict, model_name: str, history: pd.DataFrame, augments: bool = False) -> str:
    return method.describe_final_training(
        model_name,
        schedule=values["final_schedule"],
        history=history,
        epochs=values["final_epochs"],
        learning_rate=0.001,
        batch_size=values["batch_size"],
        train_images=54_000,
        validation_images=6_000,
        augmentation=recipe.Augmentation(values["augment_shift"], values["augment_flip"], values["augment_erase"]),
        model_augments=augments,
        seeds=list(range(values["seed"], values["seed"] + values["training_seeds"])),
        constant_epochs=values["constant_epochs"],
        decay_rate=values["decay_rate"],
        patience=values["patience"],
    )


@pytest.mark.parametrize("model_name", ["mlp", "cnn"])
@pytest.mark.parametrize("profile", PROFILES)
def test_the_final_training_prose_is_true_of_every_profiles_recipe(profile: str, model_name: str) -> None:
    values = _parameters(profile, model_name)
    epochs = values["final_epochs"]
    full_run = _final_training(values, model_name, _history(epochs, best=epochs // 2))
    assert f"{values['batch_size']} per step" in full_run
    if values["final_schedule"] == "cosine":
        assert "cosine down to 0 at the end of epoch" in full_run and f"ran all {epochs} epochs" in full_run
        assert "There is no early stopping" in full_run
        assert "exp(" not in full_run and "Early stopping ends" not in full_run
    else:
        assert f"for the first {values['constant_epochs']} epochs" in full_run and "exp(−" in full_run
        assert f"after {values['patience']} epochs without a better validation accuracy" in full_run
        assert "it never did" in full_run and "cosine" not in full_run
        stopped = _final_training(values, model_name, _history(epochs - 5, best=epochs - 5 - values["patience"]))
        assert f"it did after epoch {epochs - 5} of at most {epochs}" in stopped
    augmentation = recipe.Augmentation(values["augment_shift"], values["augment_flip"], values["augment_erase"])
    assert (f"augmented afresh ({augmentation.describe()})" in full_run) == augmentation.active
    assert (f"trained {values['training_seeds']} times" in full_run) == (values["training_seeds"] > 1)


def test_the_decay_is_said_not_to_have_begun_when_the_training_ended_first() -> None:
    values = _parameters("replicate", "mlp")
    short = _final_training(values, "mlp", _history(values["constant_epochs"], best=1))
    assert f"ended before the decay began (epoch {values['constant_epochs']})" in short


def test_the_model_s_own_augmentation_is_named_only_when_the_search_chose_it() -> None:
    values = _parameters("standard", "cnn")
    history = _history(values["final_epochs"], best=3)
    assert "The model itself also shifts" in _final_training(values, "cnn", history, augments=True)
    assert "The model itself" not in _final_training(values, "cnn", history, augments=False)


@pytest.mark.parametrize("model_name", ["mlp", "cnn"])
@pytest.mark.parametrize("profile", PROFILES)
def test_the_search_space_prose_is_the_space_as_declared(profile: str, model_name: str) -> None:
    space = _parameters(profile, model_name)["search_space"]
    sentence = method.describe_search_space(model_name, space)
    declared = {
        parameter.name: parameter
        for parameter in declare_search_space(hypermodels.make_hypermodel(model_name, space)).space
    }
    for name in ("num_layers", "conv_blocks"):
        if name in declared:
            settings = declared[name].get_config()
            assert f"({settings['min_value']}–{settings['max_value']})" in sentence
    if "optimizer" in declared:
        assert "the optimiser (SGD, Adam or AdamW)" in sentence and "Every trial trains with" not in sentence
    else:
        assert "Every trial trains with stochastic gradient descent (SGD)" in sentence and "Adam" not in sentence
    assert ("with momentum" in sentence) == ("momentum" in declared and "optimizer" not in declared)


def test_the_cnn_spaces_read_as_the_issue_says_they_were_searched() -> None:
    extended = method.describe_search_space("cnn", "extended")
    assert "convolutional blocks (2–3)" in extended and "filters (16 or 32;" in extended
    assert "(1 or 2; only with 16 first-block filters)" in extended
    seed = method.describe_search_space("cnn", "seed")
    assert "convolutional blocks (1–3)" in seed and seed.endswith("(SGD) without momentum.")
    whitened = method.describe_search_space("cnn", "whitened")
    decay = method.format_value(hypermodels.WHITENED_WEIGHT_DECAY)
    assert whitened.endswith(
        f"Nesterov momentum 0.9 and weight decay {decay} (each step shrinks the weights by the rate times it)."
    )


def test_a_configuration_reads_rounded_and_without_missing_layers() -> None:
    values = {"num_layers": 1, "units_0": 1024, "dropout_0": 0.24439935658317602, "units_1": float("nan")}
    values |= {"optimizer": "adamw", "learning_rate": 0.00123456, "weight_decay": 0.01}
    assert method.describe_configuration(values) == (
        "hidden layers 1; layer 1: units 1,024, dropout 0.244; optimiser AdamW; learning rate 0.00123; "
        "weight decay 0.01"
    )


@pytest.mark.parametrize(
    ("trials", "initial", "expected"),
    [
        (6, 4, "the reference configuration, 3 configurations drawn at random and 2 configurations chosen by"),
        (2, 1, "the reference configuration and 1 configuration chosen by the Gaussian process."),
        (3, 5, "the reference configuration and 2 configurations drawn at random."),
    ],
)
def test_the_search_says_how_each_trial_was_chosen(trials: int, initial: int, expected: str) -> None:
    sentence = method.describe_search(
        "mlp",
        trials=trials,
        num_initial_points=initial,
        epochs_per_trial=2,
        search_images=5000,
        search_seconds=60.0,
        stop_reason="max_trials",
    )
    assert expected in sentence and "MLPs" in sentence and "1.0 minutes" in sentence


def test_early_stopping_is_reported_as_it_happened_on_a_real_training(small_split) -> None:
    from fashion_lib.training.fit import train_model

    model = builders.build_mlp(hidden_units=(32,), learning_rate=0.01)
    history = train_model(
        model,
        small_split["train_x"],
        small_split["train_y"],
        small_split["val_x"],
        small_split["val_y"],
        epochs=25,
        patience=1,
        batch_size=128,
        progress=False,
    )
    sentence = method.describe_final_training(
        "mlp",
        schedule="seed",
        history=history,
        epochs=25,
        learning_rate=0.01,
        batch_size=128,
        train_images=len(small_split["train_y"]),
        validation_images=len(small_split["val_y"]),
        augmentation=recipe.Augmentation(),
        patience=1,
    )
    best = int(history["val_accuracy"].idxmax())
    assert f"epoch {best + 1}, **{history['val_accuracy'].max():.2%}**" in sentence
    if len(history) < 25:
        assert f"it did after epoch {len(history)} of at most 25" in sentence
    else:
        assert "it never did" in sentence


@pytest.mark.parametrize("profile", PROFILES)
def test_the_comparison_prose_states_the_profile_s_values_and_no_parameter_names(profile: str) -> None:
    chosen = profiles.notebook_parameters(profiles.load_profile(profile), profile_name=profile, run_dir=Path("/tmp"))
    inspected = papermill.inspect_notebook(str(config.NOTEBOOKS_DIR / "04_compare.ipynb"))
    values = {name: ast.literal_eval(info["default"]) for name, info in inspected.items()} | chosen["04_compare"]
    texts = {
        f"{values['bootstrap_resamples']:,} times": method.describe_bootstrap(
            values["bootstrap_resamples"], values["confidence_level"]
        ),
        f"into {values['calibration_bins']} equal-width bins": method.describe_calibration(values["calibration_bins"]),
        f"for {values['tsne_samples']:,} test images": method.describe_tsne(values["tsne_samples"]),
        "pixels of 5,000 class-balanced images": method.describe_baseline(5000),
        "same 12 trials of 10 epochs on 54,000": method.describe_strategy_comparison("mlp", 12, 10, 54_000),
    }
    for expected, text in texts.items():
        assert expected in text
        assert not re.search(r"\b[a-z]+_[a-z_]+\b", text), text
    for model_name in ("mlp", "cnn"):
        space = _parameters(profile, model_name)["search_space"]
        for text in (method.describe_search_space(model_name, space), method.describe_reference(model_name, space)):
            assert not re.search(r"\b[a-z]+_[a-z_0-9]+\b", text) and "(s)" not in text, text
