"""Bayesian hyperparameter search with Keras Tuner (or random search, to compare): new, resumed, reused or
spread over processes; its tuners are fashion_lib.search.strategies', its outcome is read by
fashion_lib.search.trials."""

from __future__ import annotations

import os
import shutil
import warnings
from dataclasses import replace
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pandas as pd
from sklearn.exceptions import ConvergenceWarning

from fashion_lib import config, seeding
from fashion_lib.data import Splits, stratified_subset
from fashion_lib.search import monitoring
from fashion_lib.search.strategies import TrialTimer, check_seed, make_tuner
from fashion_lib.search.trials import SearchResult, result_from_oracle
from fashion_lib.training.fit import make_dataset


def run_search(
    model_name: str,
    train_x: np.ndarray,
    train_y: np.ndarray,
    val_x: np.ndarray,
    val_y: np.ndarray,
    *,
    directory: str | Path,
    space: str = "seed",
    strategy: str = "bayesian",
    max_trials: int = 10,
    epochs_per_trial: int = 5,
    num_initial_points: int = 3,
    batch_size: int = 128,
    seed: int = 1,
    overwrite: bool = True,
    verbose: int = 0,
    callbacks: list[keras.callbacks.Callback] | None = None,
    search_minutes: float = 0.0,
    progress: bool = True,
    tensorboard_dir: str | Path | None = None,
) -> SearchResult:
    """Bayesian search over `model_name`'s `space`, ranking trials by their best epoch's val_accuracy.

    The tuner's files go to `directory`/`model_name`. With overwrite=False an interrupted search resumes:
    finished trials are kept, a trial that was running restarts from epoch 0, and `max_trials` may be
    raised to add trials. `callbacks` (deep-copied per trial by Keras Tuner) are added to each fit.

    Args:
        model_name: "mlp" or "cnn".
        train_x, train_y, val_x, val_y: images scaled to [0, 1] and integer labels.
        directory: folder holding the tuner's project folder.
        space: "seed" or "extended", see the hypermodels in fashion_lib.models.
        strategy: "bayesian" (the default) or "random" (Keras Tuner's RandomSearch, ignoring
            num_initial_points), to measure what Bayesian optimisation adds; keep each in its own `directory`.
        max_trials: total number of trials, including those of a resumed search.
        epochs_per_trial: epochs each trial trains.
        num_initial_points: trials before the Gaussian process guides the search: the space's reference
            configuration (every search's first trial), then random ones; Keras Tuner's own default (3 per
            hyperparameter) would make a small search entirely random.
        batch_size: training batch size.
        seed: non-zero seed for the oracle's sampling and for weights and shuffling.
        overwrite: True starts afresh, deleting an earlier search of the same model in `directory`.
        verbose: 0 silent, 1 Keras Tuner's per-trial report and Keras' progress bars.
        search_minutes: time budget: once spent, no new trial starts (the running one finishes), though the
            `num_initial_points` trials always run; 0 for none. `SearchResult.stop_reason` says what stopped it.
        progress: one line per finished trial (model, trial k of N, score, best so far, duration, time
            left, hyperparameters) through fashion_lib.progress: to the report's terminal, else printed.
        tensorboard_dir: folder for TensorBoard logs (HParams tab: each trial's hyperparameters and score;
            one subfolder per trial); None logs nothing.
    """
    seed = _check_search_arguments(
        seed, max_trials, epochs_per_trial, num_initial_points, train_x, train_y, val_x, val_y
    )
    monitoring.check_search_minutes(search_minutes)
    seeding.set_global_seed(seed)
    tuner = make_tuner(
        model_name,
        space,
        directory=directory,
        max_trials=max_trials,
        num_initial_points=num_initial_points,
        seed=seed,
        overwrite=overwrite,
        strategy=strategy,
    )
    callbacks = list(callbacks or []) + monitoring.start_search(
        tuner,
        search_minutes=search_minutes,
        progress_lines=progress,
        tensorboard_dir=tensorboard_dir,
        overwrite=overwrite,
    )
    _search(tuner, train_x, train_y, val_x, val_y, epochs_per_trial, batch_size, seed, verbose, callbacks)
    return replace(result_from_oracle(tuner.oracle, Path(tuner.project_dir)), epochs_per_trial=int(epochs_per_trial))


def _check_search_arguments(
    seed: int,
    max_trials: int,
    epochs_per_trial: int,
    num_initial_points: int,
    train_x: np.ndarray,
    train_y: np.ndarray,
    val_x: np.ndarray,
    val_y: np.ndarray,
) -> int:
    """The checked seed, after refusing budgets below 1 and empty or mismatched splits."""
    seed = check_seed(seed)
    if max_trials < 1 or epochs_per_trial < 1:
        raise ValueError(f"max_trials and epochs_per_trial must be at least 1, got {max_trials}, {epochs_per_trial}.")
    if not 1 <= num_initial_points:
        raise ValueError(f"num_initial_points must be at least 1, got {num_initial_points}.")
    for name, images, labels in (("train", train_x, train_y), ("validation", val_x, val_y)):
        if len(images) != len(labels) or len(images) == 0:
            raise ValueError(
                f"The {name} split has {len(images)} images and {len(labels)} labels; it needs equal, non-zero counts."
            )
    return seed


def _search(
    tuner: TrialTimer,
    train_x: np.ndarray,
    train_y: np.ndarray,
    val_x: np.ndarray,
    val_y: np.ndarray,
    epochs_per_trial: int,
    batch_size: int,
    seed: int,
    verbose: int,
    callbacks: list[keras.callbacks.Callback] | None,
) -> None:
    """Run the tuner's trials until its oracle (local, or a distributed search's chief) has none left."""
    train = make_dataset(train_x, train_y, batch_size=batch_size, shuffle=True, seed=seed)
    validation = make_dataset(val_x, val_y, batch_size=batch_size, shuffle=False, seed=seed)
    # scikit-learn's Gaussian process warns when a length scale hits its bound, which small searches
    # routinely do; the warning says nothing about the search's validity and would clutter the notebooks.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", category=ConvergenceWarning)
        tuner.search(
            train,
            validation_data=validation,
            epochs=epochs_per_trial,
            callbacks=list(callbacks or []),
            # The dataset shuffles itself; Keras would only warn that it cannot shuffle a tf.data.Dataset.
            shuffle=False,
            verbose=verbose,
        )


def open_search(
    model_name: str,
    space: str,
    *,
    directory: str | Path,
    max_trials: int,
    num_initial_points: int,
    seed: int,
    overwrite: bool,
) -> TrialTimer:
    """The tuner of the search in `directory`/`model_name` (new, or reloaded with overwrite=False), training nothing.

    A distributed search's chief serves this tuner's oracle; see fashion_lib.search.distributed.
    """
    return make_tuner(
        model_name,
        space,
        directory=directory,
        max_trials=max_trials,
        num_initial_points=num_initial_points,
        seed=check_seed(seed),
        overwrite=overwrite,
    )


def run_worker(
    model_name: str,
    train_x: np.ndarray,
    train_y: np.ndarray,
    val_x: np.ndarray,
    val_y: np.ndarray,
    *,
    directory: str | Path,
    space: str = "seed",
    epochs_per_trial: int = 5,
    batch_size: int = 128,
    seed: int = 1,
    verbose: int = 0,
) -> None:
    """Run trials of a distributed search for its chief until the chief has none left; returns nothing.

    The chief is the one that `KERASTUNER_ORACLE_IP`/`KERASTUNER_ORACLE_PORT` name, and this worker identifies
    itself with `KERASTUNER_TUNER_ID` (anything without "chief" in it). The search's results stay with the
    chief and in `directory`/`model_name`, which every process of the search must share: read them there
    with `load_search` once the search has ended. The worker never overwrites that folder.
    """
    if "KERASTUNER_ORACLE_IP" not in os.environ or "chief" in os.environ.get("KERASTUNER_TUNER_ID", "chief"):
        raise ValueError(
            "run_worker needs KERASTUNER_ORACLE_IP, KERASTUNER_ORACLE_PORT and a KERASTUNER_TUNER_ID without "
            "'chief' in it: use `python -m fashion_lib tune --role worker --oracle HOST:PORT`."
        )
    # max_trials and num_initial_points are the chief's business; a worker only asks it for trials.
    seed = _check_search_arguments(seed, 1, epochs_per_trial, 1, train_x, train_y, val_x, val_y)
    seeding.set_global_seed(seed)
    tuner = make_tuner(
        model_name, space, directory=directory, max_trials=1, num_initial_points=1, seed=seed, overwrite=False
    )
    _search(tuner, train_x, train_y, val_x, val_y, epochs_per_trial, batch_size, seed, verbose, None)


def load_search(
    directory: str | Path, model_name: str, space: str = "seed", strategy: str = "bayesian"
) -> SearchResult:
    """Read a finished (or interrupted) search from `directory`/`model_name` without running any trial."""
    project_dir = Path(directory) / model_name
    if not (project_dir / "oracle.json").is_file():
        raise FileNotFoundError(
            f"No Keras Tuner search in {project_dir} (oracle.json is missing). Run it first with "
            f"fashion_lib.search.tuning.run_search({model_name!r}, ..., directory={str(directory)!r})."
        )
    # max_trials and num_initial_points matter only for running trials; the oracle's state is reloaded.
    tuner = make_tuner(
        model_name,
        space,
        directory=directory,
        max_trials=1,
        num_initial_points=1,
        seed=1,
        overwrite=False,
        strategy=strategy,
    )
    return result_from_oracle(tuner.oracle, project_dir)


def copy_search(source_directory: str | Path, target_directory: str | Path, model_name: str) -> Path:
    """Copy the search in `source_directory`/`model_name` to `target_directory`/`model_name`; returns the copy.

    A notebook that reuses a search made elsewhere (e.g. distributed with `python -m fashion_lib tune`)
    copies it into its own run folder, so that the run keeps the trials its model came from even when the
    report later replaces the folder the search was read from. Nothing is copied when both are the same.
    """
    source = Path(source_directory) / model_name
    target = Path(target_directory) / model_name
    if not (source / "oracle.json").is_file():
        raise FileNotFoundError(f"No Keras Tuner search in {source} (oracle.json is missing).")
    if target.exists() and target.resolve() == source.resolve():
        return target
    staging = target.with_name(f".{model_name}.copying")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.copytree(source, staging)
    shutil.rmtree(target, ignore_errors=True)
    os.replace(staging, target)
    return target


def search_or_reuse(
    model_name: str,
    splits: Splits,
    *,
    directory: str | Path,
    reuse_directory: str | Path = "",
    space: str = "seed",
    search_subset: int = 0,
    seed: int = 1,
    **search_options: Any,
) -> SearchResult:
    """A model notebook's search: run it into `directory`, or read the finished one in `reuse_directory`.

    A reused search (e.g. one spread over machines with `python -m fashion_lib tune`; a relative folder is
    read from the project root, where that command writes runs/) is copied into `directory` first, so that
    the run keeps the trials its model came from; the result's `reused_from` names it. A search run here
    trains its trials on a class-balanced `search_subset` of the training images (0: all of them), which
    buys more trials, and validates on the validation split; the result's `search_images` counts them.
    The `search_options` are `run_search`'s keyword arguments.
    """
    if reuse_directory:
        source = config.PROJECT_ROOT / reuse_directory
        copy_search(source, directory, model_name)
        return replace(load_search(source, model_name, space), reused_from=source)
    search_x, search_y = stratified_subset(splits.train_x, splits.train_y, search_subset or None, seed=seed)
    result = run_search(
        model_name,
        search_x,
        search_y,
        splits.val_x,
        splits.val_y,
        directory=directory,
        space=space,
        seed=seed,
        **search_options,
    )
    return replace(result, search_images=len(search_y))


STRATEGY_LABELS = {"bayesian": "Bayesian optimisation", "random": "Random search"}


def compare_search_strategies(
    model_name: str,
    train_x: np.ndarray,
    train_y: np.ndarray,
    val_x: np.ndarray,
    val_y: np.ndarray,
    *,
    bayesian_directory: str | Path,
    random_directory: str | Path,
    space: str,
    epochs_per_trial: int,
    batch_size: int = 128,
    seed: int = 1,
) -> dict[str, pd.DataFrame]:
    """Repeat a finished Bayesian search of `model_name` with random search on the same budget; both trial tables.

    The Bayesian search is read from `bayesian_directory` (not rerun); the random search runs as many trials,
    of `epochs_per_trial` epochs on the given images with the same seed, into `random_directory`. Keep the
    images, epochs and batch size those of the Bayesian search, or the comparison is not like for like.

    Returns:
        {"Bayesian optimisation": trials, "Random search": trials}, each as `SearchResult.trials`.
    """
    bayesian = load_search(bayesian_directory, model_name, space=space)
    random = run_search(
        model_name,
        train_x,
        train_y,
        val_x,
        val_y,
        directory=random_directory,
        space=space,
        strategy="random",
        max_trials=len(bayesian.trials),
        epochs_per_trial=epochs_per_trial,
        batch_size=batch_size,
        seed=seed,
    )
    return {STRATEGY_LABELS["bayesian"]: bayesian.trials, STRATEGY_LABELS["random"]: random.trials}
