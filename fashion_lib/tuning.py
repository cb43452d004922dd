"""Bayesian hyperparameter search with Keras Tuner (or random search, to compare), resumable, with a tidy
table of its trials."""

from __future__ import annotations

import contextlib
import io
import json
import math
import os
import shutil
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import keras_tuner
import numpy as np
import pandas as pd
from sklearn.exceptions import ConvergenceWarning

from fashion_lib import monitoring, seeding
from fashion_lib.models import declare_search_space, make_hypermodel
from fashion_lib.storage import atomic_write_json
from fashion_lib.training import make_dataset

OBJECTIVE = "val_accuracy"
# Written by the tuner beside Keras Tuner's own trial.json: wall-clock seconds of the trial's last run.
DURATION_FILE = "duration.json"
TRIAL_COLUMNS = ["trial_id", "status", "score", "best_epoch", "duration_s"]


@dataclass
class SearchResult:
    """A search's outcome: the best hyperparameter values, one table row per trial, and the best trial's id.

    `trials` columns: trial_id, status (Keras Tuner's: COMPLETED, RUNNING, INVALID, FAILED), score (the
    best epoch's val_accuracy, the value the oracle ranks by), best_epoch (1-based), duration_s (wall-clock
    seconds to build and train the trial's model), then one column per hyperparameter, missing where the
    hyperparameter did not exist in that trial (e.g. units_2 when num_layers < 3): NaN in float columns,
    <NA> in integer ones (pandas' nullable Int64, so units stay integers).
    """

    best_hyperparameters: dict[str, Any]
    trials: pd.DataFrame
    best_trial_id: str
    # Why the search stopped (a key of monitoring.STOP_REASONS), and `stop_description` says it in words.
    stop_reason: str = "unknown"
    search_minutes: float = 0.0
    # Wall-clock seconds from the start of the search to its stop (None when it did not stop by itself).
    search_seconds: float | None = None

    @property
    def stop_description(self) -> str:
        """Why the search stopped, as the end of a sentence ("... stopped because <this>")."""
        return monitoring.describe_stop(self.stop_reason, self.search_minutes)


class _TrialTimer(monitoring.TrialScoreSummary, keras_tuner.Tuner):
    """A tuner that also records how long each trial took.

    Keras Tuner keeps no timestamps in its trial files, so the time around `run_trial` (model building
    and fitting) goes to a small JSON file in the trial's folder, where `load_search` finds it later.
    """

    def run_trial(self, trial: keras_tuner.engine.trial.Trial, *args: Any, **kwargs: Any) -> Any:
        """Run the trial as Keras Tuner does and record its duration."""
        start = time.perf_counter()
        results = super().run_trial(trial, *args, **kwargs)
        duration = time.perf_counter() - start
        atomic_write_json(Path(self.get_trial_dir(trial.trial_id)) / DURATION_FILE, {"duration_s": duration})
        return results


def default_values(space: keras_tuner.HyperParameters) -> dict[str, Any]:
    """The space's reference configuration: every active hyperparameter at its declared default."""
    configuration = keras_tuner.HyperParameters()
    # Registering a hyperparameter sets its default when its conditions hold under the values set so far;
    # parents are declared before their conditional children, so the conditions resolve in order.
    configuration.merge(space.space)
    return dict(configuration.values)


class _ReferenceFirst:
    """Oracle mixin: a search's first trial is the space's reference configuration (its defaults).

    The extended spaces declare as defaults a configuration that trained well in longer runs (see
    fashion_lib.models), so every search measures that point before exploring, instead of leaving it to
    chance whether a few random trials come near it. Later trials are the oracle's own; for Bayesian
    optimisation the reference counts as one of the `num_initial_points`.
    """

    def populate_space(self, trial_id: str) -> dict[str, Any]:
        if not self.trials:
            return {
                "status": keras_tuner.engine.trial.TrialStatus.RUNNING,
                "values": default_values(self.hyperparameters),
            }
        return super().populate_space(trial_id)


class _BayesianOracle(monitoring.SearchMonitor, _ReferenceFirst, keras_tuner.oracles.BayesianOptimizationOracle):
    """Keras Tuner's Bayesian optimisation oracle, starting from the reference configuration."""


class _RandomOracle(monitoring.SearchMonitor, _ReferenceFirst, keras_tuner.oracles.RandomSearchOracle):
    """Keras Tuner's random search oracle, starting from the reference configuration."""


class _TimedBayesianOptimization(_TrialTimer):
    """Bayesian optimisation from the reference configuration, recording how long each trial took."""

    def __init__(
        self,
        hypermodel: keras_tuner.HyperModel,
        *,
        objective: str,
        max_trials: int,
        num_initial_points: int,
        seed: int,
        **kwargs: Any,
    ) -> None:
        oracle = _BayesianOracle(
            objective=objective, max_trials=max_trials, num_initial_points=num_initial_points, seed=seed
        )
        super().__init__(oracle=oracle, hypermodel=hypermodel, **kwargs)


class _TimedRandomSearch(_TrialTimer):
    """Random search from the reference configuration, recording how long each trial took; the baseline for
    Bayesian search."""

    def __init__(
        self, hypermodel: keras_tuner.HyperModel, *, objective: str, max_trials: int, seed: int, **kwargs: Any
    ) -> None:
        oracle = _RandomOracle(objective=objective, max_trials=max_trials, seed=seed)
        super().__init__(oracle=oracle, hypermodel=hypermodel, **kwargs)


STRATEGIES = {"bayesian": _TimedBayesianOptimization, "random": _TimedRandomSearch}


def _check_seed(seed: int) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed == 0:
        raise ValueError(
            f"seed must be a non-zero integer, got {seed!r}: Keras Tuner's oracle treats 0 as 'no seed' and "
            "would sample hyperparameters irreproducibly."
        )
    return int(seed)


def _make_tuner(
    model_name: str,
    space: str,
    *,
    directory: str | Path,
    max_trials: int,
    num_initial_points: int,
    seed: int,
    overwrite: bool,
    strategy: str = "bayesian",
) -> _TimedBayesianOptimization | _TimedRandomSearch:
    """The tuner for `model_name`/`space` in `directory`/`model_name`, new or reloaded."""
    if strategy not in STRATEGIES:
        raise ValueError(f"Unknown search strategy {strategy!r}; use one of {sorted(STRATEGIES)}.")
    hypermodel = make_hypermodel(model_name, space)
    # Random search has no initial points: every trial is random.
    strategy_options = {"num_initial_points": num_initial_points} if strategy == "bayesian" else {}
    # Keras Tuner prints "Reloading Tuner from ..." when it resumes; that is noise in a notebook.
    with contextlib.redirect_stdout(io.StringIO()):
        tuner = STRATEGIES[strategy](
            hypermodel,
            objective=OBJECTIVE,
            max_trials=max_trials,
            **strategy_options,
            seed=seed,
            directory=str(directory),
            project_name=model_name,
            overwrite=overwrite,
        )
    if not isinstance(tuner.oracle, keras_tuner.Oracle):
        # A distributed search's worker holds only a client of the chief's oracle; the chief checks the space.
        return tuner
    if not overwrite and (Path(tuner.project_dir) / "oracle.json").is_file():
        # Keras Tuner reloads a search only when it finds the calling process's own tuner file (tuner0.json, or
        # <KERASTUNER_TUNER_ID>.json); a distributed search's chief and workers may have left none of that name.
        # Reading the oracle's files again after Keras Tuner did is harmless: the result is the same.
        tuner.oracle.reload()
    # A reloaded search keeps the space it was started with; resuming or reading it with another space
    # would mix two spaces in one table, so refuse.
    found = {parameter.name for parameter in tuner.oracle.hyperparameters.space}
    expected = {parameter.name for parameter in declare_search_space(hypermodel).space}
    if found != expected:
        raise ValueError(
            f"The search in {Path(directory) / model_name} has hyperparameters {sorted(found)}, which are not "
            f"those of the {space!r} space of {model_name!r} ({sorted(expected)}). Pass the space it was run "
            "with, or another directory, or overwrite=True to start afresh."
        )
    return tuner


def _read_duration(trial_dir: Path) -> float:
    try:
        return float(json.loads((trial_dir / DURATION_FILE).read_text())["duration_s"])
    except (OSError, ValueError, KeyError):
        # Trials interrupted before they finished have no duration file.
        return math.nan


def _builtin(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


def _is_integer_parameter(parameter: Any) -> bool:
    """Whether a hyperparameter only takes integer values (Int, or a Choice among integers)."""
    kind = type(parameter).__name__
    if kind == "Int":
        return True
    if kind == "Choice":
        values = parameter.values
        return all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values)
    return False


def _result_from_oracle(oracle: keras_tuner.Oracle, project_dir: Path) -> SearchResult:
    """The SearchResult of an oracle's trials, in the order they were started."""
    parameter_names = list(dict.fromkeys(parameter.name for parameter in oracle.hyperparameters.space))
    trial_ids = [i for i in oracle.start_order if i in oracle.trials]
    trial_ids += sorted(set(oracle.trials) - set(trial_ids))
    rows = []
    for trial_id in trial_ids:
        trial = oracle.trials[trial_id]
        has_score = trial.score is not None and not math.isnan(trial.score)
        row: dict[str, Any] = {
            "trial_id": trial_id,
            "status": trial.status,
            "score": float(trial.score) if has_score else math.nan,
            # Keras Tuner counts steps (epochs) from 0; the table counts epochs as Keras' logs do, from 1.
            "best_epoch": int(trial.best_step) + 1 if has_score else pd.NA,
            "duration_s": _read_duration(project_dir / f"trial_{trial_id}"),
        }
        row.update({name: trial.hyperparameters.values.get(name, math.nan) for name in parameter_names})
        rows.append(row)
    trials = pd.DataFrame(rows, columns=TRIAL_COLUMNS + parameter_names)
    trials["best_epoch"] = trials["best_epoch"].astype("Int64")
    # Integer hyperparameters stay integers (with <NA> where absent) instead of turning into floats.
    for parameter in oracle.hyperparameters.space:
        if _is_integer_parameter(parameter):
            trials[parameter.name] = trials[parameter.name].astype("Int64")
    best = oracle.get_best_trials(1)
    if not best:
        raise RuntimeError(
            f"The search in {project_dir} has no completed trial yet (statuses: "
            f"{trials['status'].value_counts().to_dict()}). Run or resume it with run_search(..., overwrite=False)."
        )
    return SearchResult(
        # Python builtins rather than NumPy scalars, so the dict goes to JSON or YAML as it is.
        best_hyperparameters={name: _builtin(value) for name, value in best[0].hyperparameters.values.items()},
        trials=trials,
        best_trial_id=best[0].trial_id,
        stop_reason=oracle.stop_reason or "unknown",
        search_minutes=oracle.search_minutes,
        search_seconds=None if math.isnan(oracle.search_seconds) else oracle.search_seconds,
    )


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
    tuner = _make_tuner(
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
    return _result_from_oracle(tuner.oracle, Path(tuner.project_dir))


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
    seed = _check_seed(seed)
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
    tuner: _TrialTimer,
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
) -> _TrialTimer:
    """The tuner of the search in `directory`/`model_name` (new, or reloaded with overwrite=False), training nothing.

    A distributed search's chief serves this tuner's oracle; see fashion_lib.distributed.
    """
    return _make_tuner(
        model_name,
        space,
        directory=directory,
        max_trials=max_trials,
        num_initial_points=num_initial_points,
        seed=_check_seed(seed),
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
    tuner = _make_tuner(
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
            f"fashion_lib.tuning.run_search({model_name!r}, ..., directory={str(directory)!r})."
        )
    # max_trials and num_initial_points matter only for running trials; the oracle's state is reloaded.
    tuner = _make_tuner(
        model_name,
        space,
        directory=directory,
        max_trials=1,
        num_initial_points=1,
        seed=1,
        overwrite=False,
        strategy=strategy,
    )
    return _result_from_oracle(tuner.oracle, project_dir)


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
