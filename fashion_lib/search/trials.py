"""A search's outcome as plain data: the best hyperparameters and a tidy table of its trials."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras_tuner
import numpy as np
import pandas as pd

from fashion_lib.search import monitoring
from fashion_lib.storage import to_builtin

# Written by fashion_lib.search.tuning's tuner beside Keras Tuner's own trial.json: wall-clock seconds of the trial's
# last run, which Keras Tuner does not keep.
DURATION_FILE = "duration.json"
TRIAL_COLUMNS = ["trial_id", "status", "score", "best_epoch", "duration_s"]


@dataclass
class SearchResult:
    """A search's outcome: the best hyperparameter values, one table row per trial, and the best trial's id.

    `trials` columns: trial_id, status (Keras Tuner's: COMPLETED, RUNNING, INVALID, FAILED), score (the
    best epoch's val_accuracy, the value the oracle ranks by), best_epoch (1-based), duration_s (wall-clock
    seconds to build and train the trial's model), then one column per hyperparameter, missing where the
    hyperparameter did not exist in that trial (e.g. units_2 when num_layers < 3): NaN in float columns,
    <NA> in integer ones (pandas' nullable Int64, so units stay integers). `search_images` is the number
    of training images the trials trained on when this process ran the search, `epochs_per_trial` the
    epochs each trained, and `reused_from` the folder of a search that was read rather than run (see
    `search_or_reuse`).
    """

    best_hyperparameters: dict[str, Any]
    trials: pd.DataFrame
    best_trial_id: str
    search_images: int | None = None
    reused_from: Path | None = None
    # Why the search stopped (a key of monitoring.STOP_REASONS), its time budget (0: none), and the wall-clock
    # seconds from its start to its stop (None when it did not stop by itself); `stop_description` in words.
    stop_reason: str = "unknown"
    search_minutes: float = 0.0
    search_seconds: float | None = None
    # Epochs each trial trained when this process ran the search (None for a search read from its folder).
    epochs_per_trial: int | None = None

    @property
    def stop_description(self) -> str:
        """Why the search stopped, as the end of a sentence ("... stopped because <this>")."""
        return monitoring.describe_stop(self.stop_reason, self.search_minutes)

    @property
    def best_trial(self) -> pd.Series:
        """The trials-table row of the best trial."""
        return self.trials.set_index("trial_id").loc[self.best_trial_id]


def read_duration(trial_dir: Path) -> float:
    """Seconds the trial in `trial_dir` took (written by fashion_lib.search.tuning's tuner), NaN when unknown."""
    try:
        return float(json.loads((trial_dir / DURATION_FILE).read_text())["duration_s"])
    except (OSError, ValueError, KeyError):
        # Trials interrupted before they finished have no duration file.
        return math.nan


def _is_integer_parameter(parameter: Any) -> bool:
    """Whether a hyperparameter only takes integer values (Int, or a Choice among integers)."""
    kind = type(parameter).__name__
    if kind == "Int":
        return True
    if kind == "Choice":
        values = parameter.values
        return all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values)
    return False


def result_from_oracle(oracle: keras_tuner.Oracle, project_dir: Path) -> SearchResult:
    """The SearchResult of an oracle's trials, in the order they were started; RuntimeError if none finished."""
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
            "duration_s": read_duration(project_dir / f"trial_{trial_id}"),
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
        best_hyperparameters={name: to_builtin(value) for name, value in best[0].hyperparameters.values.items()},
        trials=trials,
        best_trial_id=best[0].trial_id,
        stop_reason=oracle.stop_reason or "unknown",
        search_minutes=oracle.search_minutes,
        search_seconds=None if math.isnan(oracle.search_seconds) else oracle.search_seconds,
    )


def best_so_far(trials: pd.DataFrame) -> list[float]:
    """The best score reached after each trial, in the order the trials ran (a failed trial keeps the last best)."""
    if "score" not in trials:
        raise ValueError("trials has no 'score' column: pass a SearchResult.trials table.")
    return trials["score"].astype(float).cummax().ffill().tolist()


def first_trial_within(curve: list[float], share: float = 0.99) -> int | None:
    """The 1-based trial after which a best-so-far curve first reaches `share` of its final value (None if empty)."""
    if not curve or math.isnan(curve[-1]):
        return None
    return next(index for index, value in enumerate(curve, start=1) if value >= share * curve[-1])
