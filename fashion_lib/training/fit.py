"""Training one model: the input pipeline, the fit under a schedule with early stopping (its callbacks are
fashion_lib.training.callbacks'), and the saved outputs (model, history, probabilities) of a training."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from fashion_lib import config, seeding
from fashion_lib.models import layers, whitened
from fashion_lib.storage import atomic_path, atomic_save
from fashion_lib.training import recipe
from fashion_lib.training.callbacks import EpochProgress, make_callbacks, tensorboard_callback

HISTORY_COLUMNS = ["epoch", "accuracy", "loss", "val_accuracy", "val_loss", "learning_rate"]


def make_dataset(
    images: np.ndarray,
    labels: np.ndarray | None,
    *,
    batch_size: int,
    shuffle: bool,
    seed: int,
    augmentation: recipe.Augmentation | None = None,
) -> tf.data.Dataset:
    """A batched tf.data pipeline over (images, labels), cached in memory, shuffled each epoch if asked.

    The cache comes before the shuffle so that every epoch sees a new order while the data itself is
    prepared only once; the seed makes that sequence of orders the same in every run. With labels=None
    the dataset yields images only (for prediction). With an `augmentation`, every batch's images are
    augmented afresh each epoch (`recipe.augment_dataset`, seeded by `seed`); only training data should be.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}.")
    images = np.asarray(images)
    if not np.issubdtype(images.dtype, np.floating):
        raise ValueError(
            f"Expected float images scaled to [0, 1], got {images.dtype}: "
            "use fashion_lib.data.scale_images on the raw uint8 images first."
        )
    # float32 is what the models compute in; float64 input would only double the cached memory.
    images = images.astype(np.float32, copy=False)
    if labels is None:
        dataset = tf.data.Dataset.from_tensor_slices(images)
    else:
        labels = np.asarray(labels)
        if len(labels) != len(images):
            raise ValueError(f"{len(images)} images but {len(labels)} labels: they must correspond one to one.")
        dataset = tf.data.Dataset.from_tensor_slices((images, labels))
    dataset = dataset.cache()
    if shuffle:
        dataset = dataset.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size)
    if augmentation is not None and augmentation.active:
        if labels is None:
            raise ValueError("Augmentation is for training batches (images with labels), not for prediction.")
        dataset = recipe.augment_dataset(dataset, augmentation, seed)
    # tf.data's autotuning runs a thread of its own that, on a machine with few cores, competes with the
    # training step's threads and makes some epochs much slower than others; the pipeline is small enough
    # to need no tuning (`make bench` times the training path).
    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.prefetch(2).with_options(options)


def _initial_learning_rate(model: keras.Model) -> float:
    """The learning rate the model's optimizer holds now (before training: the one it was built with)."""
    if model.optimizer is None:
        raise ValueError("The model is not compiled: build it with fashion_lib.models (which compiles it).")
    rate = model.optimizer.learning_rate
    if isinstance(rate, keras.optimizers.schedules.LearningRateSchedule):
        raise ValueError(
            "The optimizer already has a learning-rate schedule; train_model applies its own schedule, "
            "so compile the model with a constant learning rate."
        )
    return float(keras.ops.convert_to_numpy(rate))


def train_model(
    model: keras.Model,
    train_x: np.ndarray,
    train_y: np.ndarray,
    val_x: np.ndarray,
    val_y: np.ndarray,
    *,
    epochs: int,
    batch_size: int = 128,
    constant_epochs: int = 10,
    decay_rate: float = 0.1,
    patience: int = 15,
    seed: int = 1,
    verbose: int = 0,
    initial_learning_rate: float | None = None,
    schedule: str = "seed",
    augmentation: recipe.Augmentation | None = None,
    callbacks: list[keras.callbacks.Callback] | None = None,
    progress: bool = True,
    tensorboard_dir: str | Path | None = None,
) -> pd.DataFrame:
    """Train with a schedule of `config.SCHEDULES`; the model ends with its best epoch's weights.

    "seed": constant for `constant_epochs`, then exponential decay, early stopping after `patience` epochs
    without improvement. "cosine": warm-up + cosine to zero over all `epochs` (the model is recompiled with
    that schedule; `constant_epochs`, `decay_rate` and `patience` do not apply). With an `augmentation`,
    the training batches (never the validation images) are augmented.
    Seeds every generator with `seed` first (`seeding.set_global_seed`), so the same model, data and seed
    give the same weights. A model with a frozen whitening layer (fashion_lib.models.whitened) gets its kernel
    from `train_x` first. The schedule starts from (or peaks at) the optimizer's current learning rate
    unless `initial_learning_rate` is given (useful when training a model a second time, after the schedule
    has lowered its rate). Extra `callbacks` (e.g. a CSVLogger) run after the schedule and early stopping.
    With `progress`, a line every few epochs (validation accuracy, time left) goes through
    fashion_lib.progress, labelled with the model's name; with `tensorboard_dir`, TensorBoard logs each
    epoch's metrics there (train/ and validation/ subfolders).

    Returns:
        The history, one row per epoch: epoch (1-based), accuracy, loss, val_accuracy, val_loss and the
        learning_rate used in that epoch.
    """
    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}.")
    if schedule not in config.SCHEDULES:
        raise ValueError(f"Unknown schedule {schedule!r}; use one of {', '.join(config.SCHEDULES)}.")
    seeding.set_global_seed(seed)
    # A whitened CNN's frozen first convolution comes from the images it trains on (fashion_lib.models.whitened).
    whitened.adapt_whitening(model, train_x)
    rate = _initial_learning_rate(model) if initial_learning_rate is None else float(initial_learning_rate)
    if schedule == "seed":
        all_callbacks = make_callbacks(rate, constant_epochs=constant_epochs, decay_rate=decay_rate, patience=patience)
    else:
        steps = epochs * math.ceil(len(train_x) / batch_size)
        recipe.with_schedule(model, recipe.warmup_cosine(rate, steps))
        all_callbacks = [
            recipe.LearningRateLog(),
            # Patience of the whole run: no early stop (it would cut the anneal), but the best epoch is kept.
            keras.callbacks.EarlyStopping(
                monitor="val_accuracy", mode="max", patience=epochs, restore_best_weights=True
            ),
        ]
    all_callbacks += list(callbacks or [])
    if progress:
        all_callbacks.append(EpochProgress(model.name))
    if tensorboard_dir is not None:
        all_callbacks.append(tensorboard_callback(tensorboard_dir))
    train = make_dataset(train_x, train_y, batch_size=batch_size, shuffle=True, seed=seed, augmentation=augmentation)
    validation = make_dataset(val_x, val_y, batch_size=batch_size, shuffle=False, seed=seed)
    # shuffle=False: the dataset shuffles itself (seeded); Keras cannot shuffle a tf.data.Dataset anyway.
    fit = model.fit(
        train, validation_data=validation, epochs=epochs, callbacks=all_callbacks, shuffle=False, verbose=verbose
    )
    history = pd.DataFrame(fit.history)
    history.insert(0, "epoch", np.arange(1, len(history) + 1))
    ordered = [c for c in HISTORY_COLUMNS if c in history.columns]
    return history[ordered + [c for c in history.columns if c not in ordered]]


def _output_paths(directory: str | Path, name: str) -> dict[str, Path]:
    directory = Path(directory)
    return {
        "model": directory / f"{name}.keras",
        "history": directory / f"{name}_history.csv",
        "test_probabilities": directory / f"{name}_test_probabilities.npy",
        "validation_probabilities": directory / f"{name}_validation_probabilities.npy",
    }


def save_training_outputs(
    directory: str | Path,
    name: str,
    model: keras.Model,
    history: pd.DataFrame,
    *,
    test_probabilities: np.ndarray,
    validation_probabilities: np.ndarray,
) -> dict[str, Path]:
    """Write the model (with Keras' own layers), its history and its probabilities, each atomically; returns the paths.

    Files: `{name}.keras`, `{name}_history.csv`, `{name}_test_probabilities.npy` and
    `{name}_validation_probabilities.npy`, keyed "model", "history", "test_probabilities",
    "validation_probabilities".
    """
    if not name or "/" in name:
        raise ValueError(f"name must be a non-empty file-name stem without '/', got {name!r}.")
    paths = _output_paths(directory, name)
    # Saved with Keras' own layers, so that loading the file needs Keras alone. atomic_save keeps the
    # ".keras" suffix on its temporary path, which Keras insists on.
    portable = layers.with_keras_layers(model)
    atomic_save(paths["model"], lambda path: portable.save(path))
    with atomic_path(paths["history"]) as path:
        history.to_csv(path, index=False)
    arrays = {"test_probabilities": test_probabilities, "validation_probabilities": validation_probabilities}
    for key, array in arrays.items():
        with atomic_path(paths[key]) as path:
            np.save(path, np.asarray(array))
    return paths


def load_training_outputs(directory: str | Path, name: str) -> dict[str, Any]:
    """Read what `save_training_outputs` wrote: keys model, history, test_probabilities, validation_probabilities."""
    paths = _output_paths(directory, name)
    for path in paths.values():
        if not path.is_file():
            raise FileNotFoundError(
                f"{path} is missing: the {name!r} model has not been trained (or its outputs were removed). "
                "Produce it by running the training step (fashion_lib.training.fit.train_model followed by "
                "save_training_outputs), e.g. through the model's notebook or `make report`."
            )
    return {
        "model": keras.saving.load_model(paths["model"]),
        "history": pd.read_csv(paths["history"]),
        "test_probabilities": np.load(paths["test_probabilities"]),
        "validation_probabilities": np.load(paths["validation_probabilities"]),
    }
