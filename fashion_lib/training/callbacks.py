"""What runs beside a training's fit (fashion_lib.training.fit.train_model): the seed's learning-rate schedule
and early stopping, a progress line every few epochs, and TensorBoard's logs of its curves (a search logs its
trials with the same TensorBoard callback, see fashion_lib.search.monitoring).

Neither the progress lines nor the logs draw random numbers or change what is trained: a seed gives the same
weights with or without them.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras

from fashion_lib import progress


@dataclass(frozen=True)
class LearningRateSchedule:
    """Constant for the first `constant_epochs` epochs, then exponential decay (0-based epoch index).

    lr(epoch) = initial                                                  for epoch < constant_epochs
    lr(epoch) = initial * exp(-decay_rate * (epoch - constant_epochs + 1)) otherwise

    This is the seed report's scheduler (Keras' classic "keep the rate for 10 epochs, then multiply it by
    exp(-0.1) each epoch"), written as a function of the epoch alone so that it does not depend on the
    rate the optimizer happens to hold when training resumes.
    """

    initial_learning_rate: float
    constant_epochs: int = 10
    decay_rate: float = 0.1

    def __call__(self, epoch: int, learning_rate: float | None = None) -> float:
        """The rate for 0-based `epoch`; Keras also passes the current rate, which is ignored."""
        decay_epochs = max(0, int(epoch) - self.constant_epochs + 1)
        return float(self.initial_learning_rate * math.exp(-self.decay_rate * decay_epochs))


def make_lr_schedule(
    initial_learning_rate: float, *, constant_epochs: int = 10, decay_rate: float = 0.1
) -> Callable[[int], float]:
    """The schedule epoch -> learning rate: constant for epochs 0..constant_epochs-1, then exponential decay.

    See `LearningRateSchedule` for the formula; e.g. with 0.01, 10, 0.1: epochs 0-9 -> 0.01,
    epoch 10 -> 0.01*exp(-0.1), epoch 11 -> 0.01*exp(-0.2).
    """
    if not initial_learning_rate > 0:
        raise ValueError(f"initial_learning_rate must be positive, got {initial_learning_rate}.")
    if constant_epochs < 0:
        raise ValueError(f"constant_epochs must be 0 or more, got {constant_epochs}.")
    if decay_rate < 0:
        raise ValueError(f"decay_rate must be 0 (no decay) or positive, got {decay_rate}.")
    return LearningRateSchedule(float(initial_learning_rate), int(constant_epochs), float(decay_rate))


def make_callbacks(
    initial_learning_rate: float, *, constant_epochs: int = 10, decay_rate: float = 0.1, patience: int = 15
) -> list[keras.callbacks.Callback]:
    """The learning-rate schedule and early stopping on val_accuracy that restores the best epoch's weights."""
    if patience < 0:
        raise ValueError(f"patience must be 0 or more epochs, got {patience}.")
    schedule = make_lr_schedule(initial_learning_rate, constant_epochs=constant_epochs, decay_rate=decay_rate)
    return [
        keras.callbacks.LearningRateScheduler(schedule),
        # Keras 3 restores the best weights at the end of training even when patience never ran out.
        keras.callbacks.EarlyStopping(monitor="val_accuracy", mode="max", patience=patience, restore_best_weights=True),
    ]


def tensorboard_callback(log_dir: str | Path) -> keras.callbacks.TensorBoard:
    """A TensorBoard callback that logs each epoch's metrics only: no graph, histograms, images or profiling,
    so that it costs little."""
    return keras.callbacks.TensorBoard(
        log_dir=str(log_dir),
        histogram_freq=0,
        write_graph=False,
        write_images=False,
        write_steps_per_second=False,
        update_freq="epoch",
        profile_batch=0,
    )


class EpochProgress(keras.callbacks.Callback):
    """Sends a progress line every few epochs of a training (about ten in all) and one when it ends."""

    def __init__(self, label: str) -> None:
        super().__init__()
        self.label = label
        self._started = 0.0
        self._best = math.nan
        self._best_epoch = 0
        self._last_epoch = 0
        self._reported: set[int] = set()

    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._started = time.monotonic()
        self._best, self._best_epoch, self._last_epoch = math.nan, 0, 0
        self._reported = progress.reporting_epochs(int(self.params["epochs"]))

    def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        number = epoch + 1
        self._last_epoch = number
        score = float((logs or {}).get("val_accuracy", math.nan))
        if not math.isnan(score) and (math.isnan(self._best) or score > self._best):
            self._best, self._best_epoch = score, number
        if number not in self._reported:
            return
        epochs = int(self.params["epochs"])
        mean = (time.monotonic() - self._started) / number
        progress.emit(
            progress.epoch_line(
                model=self.label,
                epoch=number,
                epochs=epochs,
                val_accuracy=score,
                best=self._best,
                time_left_s=mean * (epochs - number),
            )
        )

    def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
        epochs = int(self.params["epochs"])
        early = " (early stopping)" if self._last_epoch < epochs else ""
        progress.emit(
            f"{self.label} training ended after {self._last_epoch} of {epochs} epochs{early} in "
            f"{progress.format_duration(time.monotonic() - self._started)}: best val_accuracy "
            f"{progress.format_accuracy(self._best)} at epoch {self._best_epoch}"
        )
