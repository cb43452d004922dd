"""Bayesian search: the trials table, reading a search back, resuming an interrupted one, reproducibility."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest

from fashion_lib.data import Splits
from fashion_lib.models.hypermodels import make_hypermodel
from fashion_lib.models.search_space import build_from_hyperparameters, declare_search_space, default_values
from fashion_lib.search.trials import best_so_far, first_trial_within
from fashion_lib.search.tuning import SearchResult, compare_search_strategies, load_search, search_or_reuse

# Tiny on purpose: a few hundred real images and one epoch per trial keep each trial at a few seconds.
TRAIN_SIZE = 300
SEED_MLP_CHOICES = {"units": {256, 512, 1024}, "l2": {0.01, 0.001}, "learning_rate": {0.01, 0.001}}


@pytest.fixture(scope="module")
def mlp_search(
    tmp_path_factory: pytest.TempPathFactory, tiny_search: Callable[..., SearchResult]
) -> tuple[Path, SearchResult]:
    """A finished two-trial MLP search over the seed space, and the folder that holds it."""
    directory = tmp_path_factory.mktemp("tuner")
    return directory, tiny_search(directory)


def _hyperparameters(row: pd.Series) -> dict:
    return {name: value for name, value in row.items() if name not in _fixed_columns() and not pd.isna(value)}


def _fixed_columns() -> list[str]:
    return ["trial_id", "status", "score", "best_epoch", "duration_s"]


@pytest.mark.slow
def test_search_table_has_one_completed_row_per_trial(mlp_search: tuple[Path, SearchResult]) -> None:
    _, result = mlp_search
    trials = result.trials
    assert list(trials.columns[:5]) == _fixed_columns()
    assert len(trials) == 2
    assert (trials["status"] == "COMPLETED").all()
    assert trials["score"].between(0.0, 1.0).all()
    assert (trials["best_epoch"] == 1).all()
    assert (trials["duration_s"] > 0).all()


@pytest.mark.slow
def test_search_samples_only_from_the_seed_space(mlp_search: tuple[Path, SearchResult]) -> None:
    _, result = mlp_search
    for _, row in result.trials.iterrows():
        num_layers = int(row["num_layers"])
        assert 1 <= num_layers <= 3
        for index in range(3):
            present = not pd.isna(row[f"units_{index}"])
            # Per-layer values exist exactly for the layers the trial has.
            assert present == (index < num_layers)
            if present:
                assert row[f"units_{index}"] in SEED_MLP_CHOICES["units"]
                assert row[f"l2_{index}"] in SEED_MLP_CHOICES["l2"]
                assert 0.1 <= row[f"dropout_{index}"] <= 0.3
        assert row["learning_rate"] in SEED_MLP_CHOICES["learning_rate"]
        assert 0.5 <= row["momentum"] <= 0.9


@pytest.mark.slow
def test_best_hyperparameters_are_those_of_the_best_scoring_trial(mlp_search: tuple[Path, SearchResult]) -> None:
    _, result = mlp_search
    trials = result.trials.set_index("trial_id")
    assert trials.loc[result.best_trial_id, "score"] == trials["score"].max()
    assert result.best_hyperparameters == pytest.approx(_hyperparameters(trials.loc[result.best_trial_id]))
    assert all(not isinstance(value, np.generic) for value in result.best_hyperparameters.values())


@pytest.mark.slow
def test_load_search_reads_the_same_result_without_training(mlp_search: tuple[Path, SearchResult]) -> None:
    directory, result = mlp_search
    loaded = load_search(directory, "mlp")
    pd.testing.assert_frame_equal(loaded.trials, result.trials)
    assert loaded.best_hyperparameters == result.best_hyperparameters
    assert loaded.best_trial_id == result.best_trial_id


@pytest.mark.slow
def test_same_seed_gives_the_same_search(
    mlp_search: tuple[Path, SearchResult], tmp_path: Path, tiny_search: Callable[..., SearchResult]
) -> None:
    _, first = mlp_search
    second = tiny_search(tmp_path)
    pd.testing.assert_frame_equal(first.trials.drop(columns="duration_s"), second.trials.drop(columns="duration_s"))


class _Interrupt(keras.callbacks.Callback):
    """Stands in for Ctrl-C or a killed kernel: KeyboardInterrupt is not an Exception, so no retry catches it."""

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        raise KeyboardInterrupt


@pytest.mark.slow
def test_interrupted_search_resumes_without_losing_finished_trials(
    mlp_search: tuple[Path, SearchResult], tmp_path: Path, tiny_search: Callable[..., SearchResult]
) -> None:
    original_directory, finished = mlp_search
    # Work on a copy so that the shared two-trial search stays as it was for the other tests.
    shutil.copytree(original_directory / "mlp", tmp_path / "mlp")
    with pytest.raises(KeyboardInterrupt):
        tiny_search(tmp_path, max_trials=3, overwrite=False, callbacks=[_Interrupt()])
    interrupted = load_search(tmp_path, "mlp").trials
    assert list(interrupted["status"]) == ["COMPLETED", "COMPLETED", "RUNNING"]

    resumed = tiny_search(tmp_path, max_trials=3, overwrite=False)
    assert len(resumed.trials) == 3
    assert (resumed.trials["status"] == "COMPLETED").all()
    pd.testing.assert_frame_equal(resumed.trials.iloc[:2], finished.trials)
    # The trial that was cut short reran with the hyperparameters it had been given.
    pd.testing.assert_frame_equal(
        resumed.trials.iloc[[2]].drop(columns=_fixed_columns()), interrupted.iloc[[2]].drop(columns=_fixed_columns())
    )


@pytest.mark.slow
def test_cnn_search_samples_from_the_seed_space(tmp_path: Path, tiny_search: Callable[..., SearchResult]) -> None:
    result = tiny_search(tmp_path, model_name="cnn", max_trials=2)
    trials = result.trials
    assert list(trials.columns[5:]) == ["conv_blocks", "filters", "dropout", "learning_rate"]
    assert (trials["status"] == "COMPLETED").all()
    assert trials["conv_blocks"].between(1, 3).all()
    assert set(trials["filters"]) <= {8, 16}
    assert trials["dropout"].between(0.0, 0.2).all()
    assert set(trials["learning_rate"]) <= {0.01, 0.001}
    assert (tmp_path / "cnn" / "oracle.json").is_file()


def test_seed_zero_is_refused(tmp_path: Path, tiny_search: Callable[..., SearchResult]) -> None:
    with pytest.raises(ValueError, match="non-zero"):
        tiny_search(tmp_path, seed=0)
    assert not (tmp_path / "mlp").exists()


def test_load_search_names_the_missing_search(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="run_search"):
        load_search(tmp_path, "cnn")


@pytest.mark.slow
def test_the_first_trial_is_the_space_reference_and_the_next_one_is_sampled(
    mlp_search: tuple[Path, SearchResult],
) -> None:
    _, result = mlp_search
    reference = default_values(declare_search_space(make_hypermodel("mlp", "seed")))
    first, second = (_hyperparameters(row) for _, row in result.trials.iterrows())
    assert first == reference
    assert second != reference


def test_the_extended_cnn_reference_resolves_its_conditions_and_builds() -> None:
    reference = default_values(declare_search_space(make_hypermodel("cnn", "extended")))
    # 32 filters: no convs_per_block (16 filters only); a dense layer: its dropout; Adam: no momentum or decay.
    assert "convs_per_block" not in reference and "momentum" not in reference and "weight_decay" not in reference
    assert (reference["conv_blocks"], reference["filters"], reference["dense_units"]) == (3, 32, 256)
    model = build_from_hyperparameters("cnn", reference, space="extended")
    convolutions = [layer.name for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert convolutions == ["conv_0_0", "conv_1_0", "conv_2_0"]


def test_load_search_refuses_another_space(mlp_search: tuple[Path, SearchResult]) -> None:
    directory, _ = mlp_search
    with pytest.raises(ValueError, match="'extended' space"):
        load_search(directory, "mlp", space="extended")


def test_random_search_runs_the_same_budget_and_reads_back(
    tmp_path: Path, tiny_search: Callable[..., SearchResult]
) -> None:
    result = tiny_search(tmp_path, strategy="random", max_trials=2)
    assert len(result.trials) == 2 and (result.trials["status"] == "COMPLETED").all()
    assert result.trials["duration_s"].notna().all()
    oracle = (tmp_path / "mlp" / "oracle.json").read_text()
    assert "num_initial_points" not in oracle  # a RandomSearch oracle, not a Bayesian one
    assert _hyperparameters(result.trials.iloc[0]) == default_values(declare_search_space(make_hypermodel("mlp")))
    again = load_search(tmp_path, "mlp", strategy="random")
    pd.testing.assert_frame_equal(again.trials, result.trials)


def test_unknown_strategy_is_refused(tmp_path: Path, tiny_search: Callable[..., SearchResult]) -> None:
    with pytest.raises(ValueError, match="Unknown search strategy 'grid'"):
        tiny_search(tmp_path, strategy="grid")


def _splits(split: dict) -> Splits:
    return Splits(split["train_x"], split["train_y"], split["val_x"], split["val_y"], split["test_x"], split["test_y"])


@pytest.mark.slow
def test_a_notebook_search_runs_on_its_subset_or_reuses_a_finished_one(
    small_split: dict, mlp_search: tuple[Path, SearchResult], tmp_path: Path
) -> None:
    ran = search_or_reuse(
        "mlp",
        _splits(small_split),
        directory=tmp_path / "new",
        search_subset=TRAIN_SIZE,
        seed=3,
        max_trials=1,
        epochs_per_trial=1,
        num_initial_points=1,
        batch_size=64,
    )
    assert (ran.search_images, ran.epochs_per_trial, ran.reused_from, len(ran.trials)) == (TRAIN_SIZE, 1, None, 1)

    finished, original = mlp_search
    reused = search_or_reuse("mlp", _splits(small_split), directory=tmp_path / "run", reuse_directory=finished)
    assert reused.reused_from == finished and reused.search_images is None and reused.epochs_per_trial is None
    assert reused.best_hyperparameters == original.best_hyperparameters
    # The run keeps its own copy of the trials it reused.
    pd.testing.assert_frame_equal(load_search(tmp_path / "run", "mlp").trials, original.trials)


@pytest.mark.slow
def test_compare_search_strategies_repeats_the_bayesian_budget_with_random_search(
    mlp_search: tuple[Path, SearchResult], small_split: dict, tmp_path: Path
) -> None:
    directory, bayesian = mlp_search
    trials = compare_search_strategies(
        "mlp",
        small_split["train_x"][:TRAIN_SIZE],
        small_split["train_y"][:TRAIN_SIZE],
        small_split["val_x"],
        small_split["val_y"],
        bayesian_directory=directory,
        random_directory=tmp_path,
        space="seed",
        epochs_per_trial=1,
        batch_size=64,
        seed=3,
    )
    assert list(trials) == ["Bayesian optimisation", "Random search"]
    pd.testing.assert_frame_equal(trials["Bayesian optimisation"], bayesian.trials)
    assert len(trials["Random search"]) == len(bayesian.trials)
    assert "num_initial_points" not in (tmp_path / "mlp" / "oracle.json").read_text()


def test_best_so_far_and_the_first_trial_near_the_end() -> None:
    trials = pd.DataFrame({"score": [float("nan"), 0.80, 0.78, 0.90, 0.89]})
    curve = best_so_far(trials)
    assert np.isnan(curve[0]) and curve[1:] == [0.80, 0.80, 0.90, 0.90]
    assert first_trial_within(curve, 0.99) == 4
    assert first_trial_within(curve, 0.85) == 2
    assert first_trial_within([], 0.99) is None
    with pytest.raises(ValueError, match="score"):
        best_so_far(pd.DataFrame({"value": [1.0]}))
