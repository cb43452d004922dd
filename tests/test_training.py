"""Final training: input pipeline, the scheduled rate, reproducibility, early stopping, saved outputs, training
on several devices, and the repeated-seed final training that the model notebooks record."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest

from fashion_lib import seeding
from fashion_lib.data import Splits
from fashion_lib.models import search_space
from fashion_lib.models.builders import build_cnn, build_mlp
from fashion_lib.results import read_results
from fashion_lib.search.tuning import SearchResult
from fashion_lib.training import devices, fit
from fashion_lib.training.final import load_seed_probabilities, train_and_record
from fashion_lib.training.fit import (
    HISTORY_COLUMNS,
    load_training_outputs,
    make_dataset,
    save_training_outputs,
    train_model,
)

TRAIN_SIZE = 300
SEED = 7


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


def _train_and_save_cnn(small_split: dict, directory: Path, **architecture) -> np.ndarray:
    """A one-block CNN trained for an epoch on 100 images and saved as cnn.keras; its test probabilities."""
    seeding.set_global_seed(SEED)
    model = build_cnn(conv_blocks=1, filters=4, **architecture)
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
        directory, "cnn", model, history, test_probabilities=probabilities, validation_probabilities=probabilities
    )
    return probabilities


@pytest.mark.slow
def test_saved_augmented_cnn_reloads_and_predicts_the_same(small_split: dict, tmp_path: Path) -> None:
    probabilities = _train_and_save_cnn(small_split, tmp_path, augment=True)
    reloaded = keras.saving.load_model(tmp_path / "cnn.keras")
    assert reloaded.input_shape == (None, 28, 28)
    np.testing.assert_allclose(reloaded.predict(small_split["test_x"], verbose=0), probabilities, atol=1e-6)


# Loads a saved model with Keras alone, in an interpreter that never imports this project.
LOAD_WITH_KERAS_ALONE = textwrap.dedent(
    """
    import sys

    import keras
    import numpy as np

    model = keras.saving.load_model(sys.argv[1])
    np.save(sys.argv[3], model.predict(np.load(sys.argv[2]), verbose=0))
    print(sorted(name for name in sys.modules if name.startswith("fashion_lib")))
    """
)


@pytest.mark.slow
def test_a_saved_model_loads_with_keras_alone_and_predicts_the_same(small_split: dict, tmp_path: Path) -> None:
    # Batch normalisation and dropout: the two layers this project trains with its own classes.
    probabilities = _train_and_save_cnn(small_split, tmp_path, dropout_rate=0.2)
    np.save(tmp_path / "images.npy", small_split["test_x"])
    environment = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    completed = subprocess.run(
        [sys.executable, "-c", LOAD_WITH_KERAS_ALONE, "cnn.keras", "images.npy", "reloaded.npy"],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert completed.stdout.strip().splitlines()[-1] == "[]"
    np.testing.assert_allclose(np.load(tmp_path / "reloaded.npy"), probabilities, atol=1e-6)


def test_loading_missing_outputs_names_the_file_and_the_fix(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"cnn\.keras.*train"):
        load_training_outputs(tmp_path, "cnn")


def test_default_strategy_on_a_single_device_keeps_the_batch_size() -> None:
    strategy = devices.training_strategy()
    assert strategy.num_replicas_in_sync == 1
    assert devices.global_batch_size(128, strategy) == 128


MIRRORED_SCRIPT = textwrap.dedent(
    """
    import json

    import tensorflow as tf

    # Two logical CPU devices stand in for two accelerators; this must happen before TensorFlow starts.
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

    from fashion_lib.models import builders
    from fashion_lib.training import devices, fit
    from fashion_lib.data import load_fashion_mnist, scale_images, stratified_subset

    strategy = devices.training_strategy(force_mirrored=True)
    data = load_fashion_mnist()
    images, labels = stratified_subset(data.train_images, data.train_labels, 1200, seed=1)
    images = scale_images(images)
    with strategy.scope():
        model = builders.build_mlp(hidden_units=(64,), learning_rate=0.05)
    history = fit.train_model(
        model, images[:1000], labels[:1000], images[1000:], labels[1000:],
        epochs=3, batch_size=devices.global_batch_size(32, strategy), seed=1,
    )
    print(json.dumps({
        "strategy": type(strategy).__name__,
        "replicas": strategy.num_replicas_in_sync,
        "global_batch_size": devices.global_batch_size(32, strategy),
        "mirrored_weights": isinstance(model.trainable_variables[0].value, tf.distribute.DistributedValues),
        "steps_per_execution": model.steps_per_execution,
        "loss": history["loss"].tolist(),
        "val_accuracy": history["val_accuracy"].tolist(),
    }))
    """
)


@pytest.mark.slow
def test_mirrored_training_on_two_devices_runs_and_learns() -> None:
    # A subprocess, because logical devices can only be configured before TensorFlow initialises.
    completed = subprocess.run([sys.executable, "-c", MIRRORED_SCRIPT], capture_output=True, text=True, timeout=240)
    assert completed.returncode == 0, completed.stderr[-3000:]
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    assert result["strategy"] == "MirroredStrategy"
    assert result["replicas"] == 2
    assert result["global_batch_size"] == 64
    assert result["mirrored_weights"]
    assert result["steps_per_execution"] == 1  # Keras' in-graph step loop fails under MirroredStrategy
    assert result["loss"][-1] < result["loss"][0]
    # Ten classes: chance is 10%.
    assert result["val_accuracy"][-1] > 0.5


# A configuration of the seed MLP space, small enough to train in a moment.
TINY_MLP = {"num_layers": 1, "units_0": 256, "l2_0": 0.001, "dropout_0": 0.1, "learning_rate": 0.01, "momentum": 0.5}


def _tiny_splits(small_split: dict) -> Splits:
    return Splits(
        small_split["train_x"][:TRAIN_SIZE],
        small_split["train_y"][:TRAIN_SIZE],
        small_split["val_x"],
        small_split["val_y"],
        small_split["test_x"],
        small_split["test_y"],
    )


def _train_seeds(small_split: dict, run_dir: Path, training_seeds: int, monkeypatch) -> tuple:
    """train_and_record on a tiny MLP, recording the configuration each seed built and the seed it trained with."""
    built, seeds = [], []
    build, train = search_space.build_from_hyperparameters, fit.train_model

    def recording_build(*args, **kwargs):
        model = build(*args, **kwargs)
        built.append(model.get_config())
        return model

    def recording_train(*args, **kwargs):
        seeds.append(kwargs["seed"])
        return train(*args, **kwargs)

    monkeypatch.setattr(search_space, "build_from_hyperparameters", recording_build)
    monkeypatch.setattr("fashion_lib.training.final.train_model", recording_train)
    search = SearchResult(TINY_MLP, pd.DataFrame({"trial_id": ["0"]}), "0", search_images=TRAIN_SIZE)
    final = train_and_record(
        "mlp",
        search,
        _tiny_splits(small_split),
        run_dir=run_dir,
        space="seed",
        seed=SEED,
        training_seeds=training_seeds,
        epochs=1,
    )
    return final, built, seeds


@pytest.mark.slow
def test_final_training_repeats_the_configuration_with_distinct_seeds(
    small_split: dict, tmp_path: Path, monkeypatch
) -> None:
    final, built, seeds = _train_seeds(small_split, tmp_path, 2, monkeypatch)
    assert seeds == [SEED, SEED + 1]
    assert len(built) == 2 and built[0] == built[1]
    recorded = read_results(tmp_path)["models"]["mlp"]
    assert [run["seed"] for run in recorded["seed_runs"]] == [SEED, SEED + 1]
    accuracies = [run["test_accuracy"] for run in recorded["seed_runs"]]
    assert recorded["seed_summary"] == pytest.approx(
        {
            "k": 2,
            "mean": np.mean(accuracies),
            "std": np.std(accuracies, ddof=1),
            "min": min(accuracies),
            "max": max(accuracies),
        }
    )
    # The first seed's model is the one saved and evaluated.
    assert recorded["test_accuracy"] == accuracies[0]
    saved_seeds, probabilities = load_seed_probabilities(tmp_path, "mlp")
    np.testing.assert_array_equal(saved_seeds, [SEED, SEED + 1])
    assert probabilities.shape == (2, len(small_split["test_y"]), 10)
    np.testing.assert_allclose(probabilities[0], load_training_outputs(tmp_path, "mlp")["test_probabilities"])
    assert accuracies == [float(np.mean(p.argmax(axis=1) == small_split["test_y"])) for p in probabilities]


@pytest.mark.slow
def test_final_training_with_one_seed_records_a_list_of_one(small_split: dict, tmp_path: Path, monkeypatch) -> None:
    final, _, seeds = _train_seeds(small_split, tmp_path, 1, monkeypatch)
    recorded = read_results(tmp_path)["models"]["mlp"]
    assert seeds == [SEED]
    assert len(recorded["seed_runs"]) == 1 and recorded["seed_runs"][0]["epochs_trained"] == 1
    assert recorded["seed_summary"]["k"] == 1 and recorded["seed_summary"]["std"] is None
    assert recorded["seed_summary"]["mean"] == recorded["test_accuracy"] == final.seed_runs["test_accuracy"][0]
    assert load_seed_probabilities(tmp_path, "mlp")[1].shape == (1, len(small_split["test_y"]), 10)


@pytest.mark.slow
def test_final_training_starts_from_the_same_weights_whatever_ran_before(
    small_split: dict, tmp_path: Path, monkeypatch
) -> None:
    """A time-budgeted search may run more or fewer trials before the final training; its weights must not care."""
    starts = []
    build = search_space.build_from_hyperparameters

    def recording_build(*args, **kwargs):
        model = build(*args, **kwargs)
        starts.append(model.get_weights())
        return model

    monkeypatch.setattr(search_space, "build_from_hyperparameters", recording_build)
    search = SearchResult(TINY_MLP, pd.DataFrame({"trial_id": ["0"]}), "0", search_images=TRAIN_SIZE)
    for draws in (0, 3):  # models built before it, as extra search trials would
        for _ in range(draws):
            search_space.build_from_hyperparameters("mlp", TINY_MLP, space="seed")
        train_and_record(
            "mlp", search, _tiny_splits(small_split), run_dir=tmp_path / str(draws), space="seed", seed=SEED, epochs=1
        )
    assert len(starts) == 5
    first, second = starts[0], starts[-1]
    assert all(np.array_equal(a, b) for a, b in zip(first, second, strict=True))


@pytest.mark.parametrize("training_seeds", [0, 1.5, True])
def test_final_training_refuses_a_bad_number_of_seeds(
    small_split: dict, tmp_path: Path, monkeypatch, training_seeds
) -> None:
    with pytest.raises(ValueError, match="training_seeds"):
        _train_seeds(small_split, tmp_path, training_seeds, monkeypatch)
    assert not any(tmp_path.iterdir())


def test_loading_missing_seed_probabilities_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"cnn_seed_test_probabilities\.npz"):
        load_seed_probabilities(tmp_path, "cnn")
