"""Watching a search: its time budget, why it stopped, its trial lines and its trials' TensorBoard logs.

- `SearchMonitor`, mixed into the search's oracle (fashion_lib.search.tuning), stops the search once its time budget
  is spent, records why the search stopped (in the oracle's own file, so a search read back later still
  knows), and sends one progress line per finished trial (fashion_lib.progress carries it to the terminal).
  Living in the oracle, it serves a distributed search's chief as well as a search in one process.
- `TrialScoreSummary`, mixed into the tuner, writes each trial's score next to the HParams record that Keras
  Tuner writes for it when the search has a TensorBoard callback, so TensorBoard's HParams tab shows the
  score the oracle ranks by (the best epoch's val_accuracy) beside the hyperparameters.
- `start_search` starts a search's clock and prepares its TensorBoard folder. A final training's epoch lines
  and TensorBoard logs are fashion_lib.training.callbacks'.

None of these draws random numbers or changes what is trained: a seed gives the same trials with or
without them.
"""

from __future__ import annotations

import math
import re
import shutil
import time
from pathlib import Path
from typing import Any

import keras
import keras_tuner
from keras_tuner.engine.trial import TrialStatus

from fashion_lib import progress
from fashion_lib.training.callbacks import tensorboard_callback

# Why a search stopped, as `SearchResult.stop_reason` and metrics.json hold it, and how the report says it.
STOP_REASONS = {
    "max_trials": "it had run all the trials it was given (max_trials)",
    "time_budget": "its time budget (search_minutes) was spent",
    "space_exhausted": "the oracle found no configuration left to try",
    "unknown": "of something this search did not record (it was interrupted, or run without fashion_lib's oracle)",
}
# Keras Tuner names trial folders (and their TensorBoard folders) with zero-padded numbers.
_TRIAL_ID = re.compile(r"^\d+$")


def describe_stop(reason: str, search_minutes: float = 0.0) -> str:
    """Why a search stopped, as the end of a sentence: "... stopped because <this>"."""
    if reason not in STOP_REASONS:
        raise ValueError(f"Unknown stop reason {reason!r}; expected one of {sorted(STOP_REASONS)}.")
    if reason == "time_budget" and search_minutes:
        return f"its time budget of {search_minutes:g} minutes (search_minutes) was spent"
    return STOP_REASONS[reason]


def check_search_minutes(search_minutes: float) -> float:
    """The time budget as a float; ValueError unless it is 0 (no limit) or positive."""
    if isinstance(search_minutes, bool) or not isinstance(search_minutes, int | float) or not search_minutes >= 0:
        raise ValueError(f"search_minutes must be 0 (no time limit) or a positive number, got {search_minutes!r}.")
    return float(search_minutes)


class SearchMonitor:
    """Oracle mixin: a time budget, the reason the search stopped, and one progress line per finished trial.

    Call `start_search` before the trials run. Until then (e.g. when a search is only read back) it has no
    budget and reports nothing.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Saved with the oracle: why the last search stopped, its budget, and how long it ran.
        self.stop_reason: str | None = None
        self.search_minutes = 0.0
        self.search_seconds = math.nan
        self.report_progress = False
        self._search_started: float | None = None
        self._deadline: float | None = None
        self._trial_started: dict[str, float] = {}
        self._durations: list[float] = []
        self._stop_reported = False
        super().__init__(*args, **kwargs)

    def start_search(self, *, search_minutes: float = 0.0, report_progress: bool = True) -> None:
        """Start the search's clock: after `search_minutes` (0: no limit) no new trial starts, once the
        initial trials have; with `report_progress`, each finished trial sends a progress line."""
        check_search_minutes(search_minutes)
        now = time.monotonic()
        self.stop_reason = None
        self.search_minutes = float(search_minutes)
        self.search_seconds = math.nan
        self.report_progress = report_progress
        self._search_started = now
        self._deadline = now + 60.0 * search_minutes if search_minutes else None
        self._trial_started = {}
        self._durations = []
        self._stop_reported = False

    def _model_name(self) -> str:
        """The search's project name, which fashion_lib.search.tuning makes the model's name."""
        return getattr(self, "_project_name", None) or "search"

    def _minimum_trials(self) -> int:
        """Trials a budgeted search runs whatever the budget: Bayesian optimisation's initial ones, else one."""
        return max(1, int(getattr(self, "num_initial_points", 1) or 1))

    def _budget_left_s(self) -> float | None:
        return None if self._deadline is None else self._deadline - time.monotonic()

    def _stop(self, reason: str) -> None:
        self.stop_reason = reason
        if self._search_started is not None:
            self.search_seconds = time.monotonic() - self._search_started

    def populate_space(self, trial_id: str) -> dict[str, Any]:
        """Stop once the budget is spent and the initial trials have started; else the oracle's own choice."""
        budget_left = self._budget_left_s()
        if budget_left is not None and budget_left <= 0 and len(self.trials) >= self._minimum_trials():
            self._stop("time_budget")
            return {"status": TrialStatus.STOPPED, "values": None}
        return super().populate_space(trial_id)

    @keras_tuner.synchronized
    def create_trial(self, tuner_id: str) -> keras_tuner.engine.trial.Trial:
        """The oracle's next trial, timed from now; a STOPPED one records why the search stopped."""
        trial = super().create_trial(tuner_id)
        if trial.status == TrialStatus.RUNNING:
            self._trial_started[trial.trial_id] = time.monotonic()
        elif trial.status == TrialStatus.STOPPED and not self._stop_reported:
            if self.stop_reason is None:
                # Keras Tuner stops at max_trials before asking populate_space; otherwise the oracle ran out of
                # configurations (a budget stop has set the reason already).
                full = self.max_trials and len(self.trials) >= self.max_trials
                self._stop("max_trials" if full else "space_exhausted")
            # Saved now, so that a search read back from its folder later knows why it stopped.
            self.save()
            self._stop_reported = True
            if self.report_progress:
                progress.emit(
                    f"{self._model_name()} search stopped after {len(self.trials)} of {self.max_trials} trials in "
                    f"{progress.format_duration(self.search_seconds)}: "
                    f"{describe_stop(self.stop_reason or 'unknown', self.search_minutes)}"
                )
        return trial

    @keras_tuner.synchronized
    def end_trial(self, trial: keras_tuner.engine.trial.Trial) -> None:
        """End the trial as Keras Tuner does, then report it."""
        super().end_trial(trial)
        started = self._trial_started.pop(trial.trial_id, None)
        duration = math.nan if started is None else time.monotonic() - started
        if not math.isnan(duration):
            self._durations.append(duration)
        if self.report_progress:
            progress.emit(self._trial_line(self.trials[trial.trial_id], duration))

    def _trial_line(self, trial: keras_tuner.engine.trial.Trial, duration: float) -> str:
        best = self.get_best_trials(1)
        ended = len(set(self.end_order))
        max_trials = self.max_trials or len(self.trials)
        mean = sum(self._durations) / len(self._durations) if self._durations else math.nan
        time_left = progress.search_time_left(
            mean_trial_s=0.0 if math.isnan(mean) else mean,
            trials_left=max_trials - ended,
            parallel=len(self.tuner_ids),
            budget_left_s=self._budget_left_s(),
            initial_trials_left=self._minimum_trials() - len(self.trials),
        )
        return progress.trial_line(
            model=self._model_name(),
            number=self.start_order.index(trial.trial_id) + 1,
            max_trials=max_trials,
            status=trial.status,
            score=trial.score,
            best=best[0].score if best else None,
            duration_s=duration,
            time_left_s=time_left,
            hyperparameters=trial.hyperparameters.values,
        )

    def get_state(self) -> dict[str, Any]:
        state = super().get_state()
        state["stop_reason"] = self.stop_reason
        state["search_minutes"] = self.search_minutes
        # JSON has no NaN: a search that has not stopped has no duration yet.
        state["search_seconds"] = None if math.isnan(self.search_seconds) else self.search_seconds
        return state

    def set_state(self, state: dict[str, Any]) -> None:
        super().set_state(state)
        self.stop_reason = state.get("stop_reason")
        self.search_minutes = float(state.get("search_minutes") or 0.0)
        seconds = state.get("search_seconds")
        self.search_seconds = math.nan if seconds is None else float(seconds)


class TrialScoreSummary:
    """Tuner mixin: with `tensorboard_dir` set, each ended trial's score goes to TensorBoard as the scalar
    "score", in the folder where Keras Tuner records the trial's hyperparameters for the HParams tab."""

    tensorboard_dir: Path | None = None

    def _configure_tensorboard_dir(
        self, callbacks: list[keras.callbacks.Callback], trial: keras_tuner.engine.trial.Trial, execution: int = 0
    ) -> None:
        from tensorboard.plugins.hparams import api as hparams_api

        super()._configure_tensorboard_dir(callbacks, trial, execution)
        # Keras Tuner names a trial's HParams session group by the trial id alone, so that trial "0" of the MLP
        # search and trial "0" of the CNN search, logged side by side, would merge into one row of the HParams
        # table; the project name (the model's) keeps them apart.
        for callback in callbacks:
            if isinstance(callback, hparams_api.KerasCallback) and hasattr(callback, "_trial_id"):
                callback._trial_id = f"{self.project_name}/{trial.trial_id}"

    def on_trial_end(self, trial: keras_tuner.engine.trial.Trial) -> None:
        super().on_trial_end(trial)
        if self.tensorboard_dir is None:
            return
        import tensorflow as tf

        # The oracle's copy holds the score (in a distributed search's worker, the chief's answer does).
        ended = self.oracle.get_trial(trial.trial_id)
        if ended.score is None or math.isnan(ended.score):
            return
        writer = tf.summary.create_file_writer(self._get_tensorboard_dir(self.tensorboard_dir, trial.trial_id, 0))
        with writer.as_default():
            tf.summary.scalar("score", float(ended.score), step=int(ended.best_step or 0))
        writer.close()


def start_search(
    tuner: keras_tuner.Tuner,
    *,
    search_minutes: float,
    progress_lines: bool,
    tensorboard_dir: str | Path | None,
    overwrite: bool,
) -> list[keras.callbacks.Callback]:
    """Start the clock of `tuner`'s search, and prepare its TensorBoard folder; returns the callbacks to add.

    Keras Tuner logs each trial with the HParams plugin under `tensorboard_dir`/<trial_id>/ when the search
    has a TensorBoard callback. A new search (overwrite=True) first removes the trial folders an earlier
    search left there, so that TensorBoard does not show two searches as one; other files stay.
    """
    tuner.oracle.start_search(search_minutes=search_minutes, report_progress=progress_lines)
    if tensorboard_dir is None:
        tuner.tensorboard_dir = None
        return []
    tensorboard_dir = Path(tensorboard_dir)
    if overwrite and tensorboard_dir.is_dir():
        for child in tensorboard_dir.iterdir():
            if child.is_dir() and _TRIAL_ID.match(child.name):
                shutil.rmtree(child)
    tuner.tensorboard_dir = tensorboard_dir
    return [tensorboard_callback(tensorboard_dir)]
