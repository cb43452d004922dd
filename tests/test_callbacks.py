"""What runs beside a training's fit: the seed's schedule and early stopping, epoch lines and TensorBoard logs."""

from __future__ import annotations

import math
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from fashion_lib import seeding
from fashion_lib.models.builders import build_mlp
from fashion_lib.training.callbacks import make_callbacks, make_lr_schedule
from fashion_lib.training.fit import train_model

TRAIN_SIZE = 300


@pytest.mark.parametrize(
    ("epoch", "expected"),
    [(0, 0.01), (9, 0.01), (10, 0.01 * math.exp(-0.1)), (11, 0.01 * math.exp(-0.2)), (14, 0.01 * math.exp(-0.5))],
)
def test_schedule_is_constant_then_decays_exponentially(epoch: int, expected: float) -> None:
    schedule = make_lr_schedule(0.01, constant_epochs=10, decay_rate=0.1)
    assert schedule(epoch) == pytest.approx(expected, rel=1e-12)


def test_schedule_without_constant_phase_decays_from_the_first_epoch() -> None:
    schedule = make_lr_schedule(0.1, constant_epochs=0, decay_rate=0.5)
    assert [schedule(epoch) for epoch in range(3)] == pytest.approx([0.1 * math.exp(-0.5 * k) for k in (1, 2, 3)])


@pytest.mark.parametrize(
    "arguments",
    [
        {"initial_learning_rate": 0.0},
        {"initial_learning_rate": 0.01, "constant_epochs": -1},
        {"initial_learning_rate": 0.01, "decay_rate": -0.1},
    ],
)
def test_schedule_rejects_bad_arguments(arguments: dict) -> None:
    with pytest.raises(ValueError):
        make_lr_schedule(**arguments)


def test_callbacks_schedule_the_rate_and_stop_on_validation_accuracy() -> None:
    scheduler, stopper = make_callbacks(0.05, constant_epochs=2, decay_rate=0.3, patience=4)
    assert isinstance(scheduler, keras.callbacks.LearningRateScheduler)
    assert scheduler.schedule(2) == pytest.approx(0.05 * math.exp(-0.3))
    assert isinstance(stopper, keras.callbacks.EarlyStopping)
    assert (stopper.monitor, stopper.mode, stopper.patience, stopper.restore_best_weights) == (
        "val_accuracy",
        "max",
        4,
        True,
    )


def _train(split: dict, **kwargs) -> pd.DataFrame:
    seeding.set_global_seed(5)
    model = build_mlp(hidden_units=(64,), learning_rate=0.05)
    return train_model(
        model,
        split["train_x"][:TRAIN_SIZE],
        split["train_y"][:TRAIN_SIZE],
        split["val_x"],
        split["val_y"],
        epochs=3,
        batch_size=32,
        seed=5,
        **kwargs,
    )


@pytest.mark.slow
def test_training_reports_its_epochs_and_logs_its_curves_without_changing_them(
    small_split: dict, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    history = _train(small_split, tensorboard_dir=tmp_path)
    lines = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in lines[:3]] == [f"mlp training epoch {k}/3" for k in (1, 2, 3)]
    for line, accuracy in zip(lines, history["val_accuracy"], strict=False):
        assert f"val_accuracy {accuracy:.2%}" in line
    assert lines[3].startswith("mlp training ended after 3 of 3 epochs")
    events = EventAccumulator(str(tmp_path / "validation"), size_guidance={"tensors": 0})
    events.Reload()
    logged = events.Tensors("epoch_accuracy")
    np.testing.assert_allclose([float(tf.make_ndarray(e.tensor_proto)) for e in logged], history["val_accuracy"])
    assert (tmp_path / "train").is_dir()
    # The same seed without either gives the same epochs.
    pd.testing.assert_frame_equal(_train(small_split, progress=False), history)
    assert capsys.readouterr().out == ""
