"""Final training: schedule, callbacks, input pipeline, reproducibility, early stopping, saved outputs."""

from __future__ import annotations

import math
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest

from fashion_lib import seeding
from fashion_lib.models import build_cnn, build_mlp
from fashion_lib.training import (
    HISTORY_COLUMNS,
    load_training_outputs,
    make_callbacks,
    make_dataset,
    make_lr_schedule,
    save_training_outputs,
    train_model,
)

TRAIN_SIZE = 300
SEED = 7


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


def test_dataset_batches_every_example_once_per_epoch(small_split: dict) -> None:
    images, labels = small_split["train_x"][:50], small_split["train_y"][:50]
    dataset = make_dataset(images, labels, batch_size=16, shuffle=True, seed=SEED)
    batches = list(dataset.as_numpy_iterator())
    assert [len(batch_labels) for _, batch_labels in batches] == [16, 16, 16, 2]
    seen_images = np.concatenate([batch_images for batch_images, _ in batches])
    seen_labels = np.concatenate([batch_labels for _, batch_labels in batches])
    order = np.argsort(seen_labels * 10_000 + seen_images.reshape(50, -1).sum(axis=1))
    expected = np.argsort(labels * 10_000 + images.reshape(50, -1).sum(axis=1))
    np.testing.assert_allclose(seen_images[order], images[expected])
    assert not np.array_equal(seen_labels, labels)  # shuffled


def test_dataset_order_depends_only_on_the_seed(small_split: dict) -> None:
    images, labels = small_split["train_x"][:64], small_split["train_y"][:64]

    def first_epoch_labels(seed: int) -> np.ndarray:
        dataset = make_dataset(images, labels, batch_size=64, shuffle=True, seed=seed)
        return next(iter(dataset.as_numpy_iterator()))[1]

    np.testing.assert_array_equal(first_epoch_labels(SEED), first_epoch_labels(SEED))
    assert not np.array_equal(first_epoch_labels(SEED), first_epoch_labels(SEED + 1))


def test_dataset_without_shuffle_keeps_the_order_and_labels_are_optional(small_split: dict) -> None:
    images = small_split["test_x"][:10]
    batches = list(make_dataset(images, None, batch_size=4, shuffle=False, seed=SEED).as_numpy_iterator())
    np.testing.assert_array_equal(np.concatenate(batches), images)


def test_dataset_runs_without_tf_data_autotuning(small_split: dict) -> None:
    # Its thread slowed every other epoch down on 2 cores (see make_dataset).
    dataset = make_dataset(small_split["test_x"][:8], None, batch_size=4, shuffle=True, seed=SEED)
    assert dataset.options().autotune.enabled is False


def test_dataset_refuses_unscaled_images(fashion) -> None:
    with pytest.raises(ValueError, match="scale_images"):
        make_dataset(fashion.test_images[:4], fashion.test_labels[:4], batch_size=2, shuffle=False, seed=SEED)


def _train_mlp(split: dict, **kwargs) -> tuple[keras.Model, pd.DataFrame]:
    """A small real MLP, seeded before it is built so its initial weights are reproducible too."""
    seeding.set_global_seed(SEED)
    model = build_mlp(hidden_units=(64,), learning_rate=0.05)
    arguments = {"epochs": 4, "batch_size": 32, "constant_epochs": 1, "decay_rate": 0.5, "patience": 2, "seed": SEED}
    arguments.update(kwargs)
    history = train_model(
        model, split["train_x"][:TRAIN_SIZE], split["train_y"][:TRAIN_SIZE], split["val_x"], split["val_y"], **arguments
    )
    return model, history


@pytest.fixture(scope="module")
def trained_twice(small_split: dict) -> list[tuple[keras.Model, pd.DataFrame]]:
    """The same MLP trained twice from the same seed."""
    return [_train_mlp(small_split), _train_mlp(small_split)]


@pytest.mark.slow
def test_history_has_one_row_per_epoch_with_the_scheduled_rate(trained_twice: list) -> None:
    _, history = trained_twice[0]
    assert list(history.columns) == HISTORY_COLUMNS
    assert list(history["epoch"]) == list(range(1, len(history) + 1))
    expected = [0.05 * math.exp(-0.5 * max(0, epoch)) for epoch in range(len(history))]
    assert list(history["learning_rate"]) == pytest.approx(expected, rel=1e-6)


@pytest.mark.slow
def test_same_seed_gives_identical_training(trained_twice: list, small_split: dict) -> None:
    (first_model, first_history), (second_model, second_history) = trained_twice
    pd.testing.assert_frame_equal(first_history, second_history)
    images = small_split["test_x"]
    np.testing.assert_array_equal(first_model.predict(images, verbose=0), second_model.predict(images, verbose=0))


class _SpoilFromEpoch(keras.callbacks.Callback):
    """Zeroes the output layer after every batch from `epoch` on, so those epochs score chance accuracy."""

    def __init__(self, epoch: int) -> None:
        super().__init__()
        self.spoil_from = epoch
        self.current = 0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self.current = epoch

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if self.current >= self.spoil_from:
            output = self.model.layers[-1]
            output.set_weights([np.zeros_like(weight) for weight in output.get_weights()])


@pytest.mark.slow
def test_training_ends_with_the_best_epochs_weights(small_split: dict) -> None:
    model, history = _train_mlp(small_split, epochs=3, patience=5, callbacks=[_SpoilFromEpoch(2)])
    # The last epoch was spoilt (a uniform output predicts class 0: 10% of a stratified split) ...
    assert history["val_accuracy"].iloc[-1] == pytest.approx(0.1)
    assert history["val_accuracy"].max() > 0.3
    # ... yet the model holds the best epoch's weights, not the last epoch's.
    scores = model.evaluate(small_split["val_x"], small_split["val_y"], batch_size=32, verbose=0, return_dict=True)
    assert scores["accuracy"] == pytest.approx(history["val_accuracy"].max(), abs=1e-6)


@pytest.mark.slow
def test_early_stopping_ends_training_after_patience_epochs_without_progress(small_split: dict) -> None:
    # A learning rate this small leaves the predictions, and so the validation accuracy, unchanged, so the
    # first epoch stays the best and training must stop after exactly 1 + patience epochs.
    seeding.set_global_seed(SEED)
    model = keras.Sequential([keras.Input(shape=(28, 28)), keras.layers.Flatten(), keras.layers.Dense(10)])
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=1e-12),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    history = train_model(
        model,
        small_split["train_x"][:100],
        small_split["train_y"][:100],
        small_split["val_x"],
        small_split["val_y"],
        epochs=20,
        patience=2,
        seed=SEED,
    )
    assert len(history) == 3


@pytest.mark.slow
def test_saved_outputs_reload_and_predict_the_same(trained_twice: list, small_split: dict, tmp_path: Path) -> None:
    model, history = trained_twice[0]
    test_probabilities = model.predict(small_split["test_x"], verbose=0)
    validation_probabilities = model.predict(small_split["val_x"], verbose=0)
    paths = save_training_outputs(
        tmp_path,
        "mlp",
        model,
        history,
        test_probabilities=test_probabilities,
        validation_probabilities=validation_probabilities,
    )
    # Atomic writes leave exactly the four named files behind, no temporary ones.
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in paths.values())
    assert sorted(p.name for p in paths.values()) == [
        "mlp.keras",
        "mlp_history.csv",
        "mlp_test_probabilities.npy",
        "mlp_validation_probabilities.npy",
    ]
    reloaded = keras.saving.load_model(paths["model"])
    np.testing.assert_allclose(reloaded.predict(small_split["test_x"], verbose=0), test_probabilities, atol=1e-6)

    outputs = load_training_outputs(tmp_path, "mlp")
    pd.testing.assert_frame_equal(outputs["history"], history, check_dtype=False)
    np.testing.assert_array_equal(outputs["test_probabilities"], test_probabilities)
    np.testing.assert_array_equal(outputs["validation_probabilities"], validation_probabilities)
    assert isinstance(outputs["model"], keras.Model)


@pytest.mark.slow
def test_saved_augmented_cnn_reloads_and_predicts_the_same(small_split: dict, tmp_path: Path) -> None:
    seeding.set_global_seed(SEED)
    model = build_cnn(conv_blocks=1, filters=4, augment=True)
    history = train_model(
        model,
        small_split["train_x"][:100],
        small_split["train_y"][:100],
        small_split["val_x"],
        small_split["val_y"],
        epochs=1,
        seed=SEED,
    )
    probabilities = model.predict(small_split["test_x"], verbose=0)
    save_training_outputs(
        tmp_path, "cnn", model, history, test_probabilities=probabilities, validation_probabilities=probabilities[:5]
    )
    reloaded = keras.saving.load_model(tmp_path / "cnn.keras")
    assert reloaded.input_shape == (None, 28, 28)
    np.testing.assert_allclose(reloaded.predict(small_split["test_x"], verbose=0), probabilities, atol=1e-6)


def test_loading_missing_outputs_names_the_file_and_the_fix(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"cnn\.keras.*train"):
        load_training_outputs(tmp_path, "cnn")
