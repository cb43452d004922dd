"""The two search strategies, Bayesian optimisation and random search (to compare), as Keras Tuner tuners: each
starts from its space's reference configuration, times its trials and is watched by fashion_lib.search.monitoring;
`make_tuner` makes one new, or reloads it from the search's folder."""

from __future__ import annotations

import contextlib
import io
import time
from pathlib import Path
from typing import Any

import keras_tuner
import numpy as np

from fashion_lib.models import search_space
from fashion_lib.models.hypermodels import make_hypermodel
from fashion_lib.search import monitoring
from fashion_lib.search.trials import DURATION_FILE
from fashion_lib.storage import atomic_write_json

OBJECTIVE = "val_accuracy"


class TrialTimer(monitoring.TrialScoreSummary, keras_tuner.Tuner):
    """A tuner that also records how long each trial took.

    Keras Tuner keeps no timestamps in its trial files, so the time around `run_trial` (model building
    and fitting) goes to a small JSON file in the trial's folder, where fashion_lib.search.trials reads it later.
    """

    def run_trial(self, trial: keras_tuner.engine.trial.Trial, *args: Any, **kwargs: Any) -> Any:
        """Run the trial as Keras Tuner does and record its duration."""
        start = time.perf_counter()
        results = super().run_trial(trial, *args, **kwargs)
        duration = time.perf_counter() - start
        atomic_write_json(Path(self.get_trial_dir(trial.trial_id)) / DURATION_FILE, {"duration_s": duration})
        return results


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
                "values": search_space.default_values(self.hyperparameters),
            }
        return super().populate_space(trial_id)


class _BayesianOracle(monitoring.SearchMonitor, _ReferenceFirst, keras_tuner.oracles.BayesianOptimizationOracle):
    """Keras Tuner's Bayesian optimisation oracle, starting from the reference configuration."""


class _RandomOracle(monitoring.SearchMonitor, _ReferenceFirst, keras_tuner.oracles.RandomSearchOracle):
    """Keras Tuner's random search oracle, starting from the reference configuration."""


class _TimedBayesianOptimization(TrialTimer):
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


class _TimedRandomSearch(TrialTimer):
    """Random search from the reference configuration, recording how long each trial took; the baseline for
    Bayesian search."""

    def __init__(
        self, hypermodel: keras_tuner.HyperModel, *, objective: str, max_trials: int, seed: int, **kwargs: Any
    ) -> None:
        oracle = _RandomOracle(objective=objective, max_trials=max_trials, seed=seed)
        super().__init__(oracle=oracle, hypermodel=hypermodel, **kwargs)


STRATEGIES = {"bayesian": _TimedBayesianOptimization, "random": _TimedRandomSearch}


def check_seed(seed: int) -> int:
    """The seed as an int; ValueError unless it is a non-zero integer."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed == 0:
        raise ValueError(
            f"seed must be a non-zero integer, got {seed!r}: Keras Tuner's oracle treats 0 as 'no seed' and "
            "would sample hyperparameters irreproducibly."
        )
    return int(seed)


def make_tuner(
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
    search_space.check_same_space(tuner.oracle.hyperparameters, model_name, space, directory)
    return tuner
