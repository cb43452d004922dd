"""Final training of the chosen configuration: input pipeline, learning-rate schedule, early stopping, training
on several devices, repeated seeds, and the saved and recorded outputs."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from fashion_lib import config, evaluation, layers, monitoring, recipe, results, seeding
from fashion_lib.storage import atomic_path, atomic_save

if TYPE_CHECKING:
    from fashion_lib.data import Splits
    from fashion_lib.tuning import SearchResult

HISTORY_COLUMNS = ["epoch", "accuracy", "loss", "val_accuracy", "val_loss", "learning_rate"]


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
    give the same weights. The schedule starts from (or peaks at) the optimizer's current learning rate
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
        all_callbacks.append(monitoring.EpochProgress(model.name))
    if tensorboard_dir is not None:
        all_callbacks.append(monitoring.tensorboard_callback(tensorboard_dir))
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
                "Produce it by running the training step (fashion_lib.training.train_model followed by "
                "save_training_outputs), e.g. through the model's notebook or `make report`."
            )
    return {
        "model": keras.saving.load_model(paths["model"]),
        "history": pd.read_csv(paths["history"]),
        "test_probabilities": np.load(paths["test_probabilities"]),
        "validation_probabilities": np.load(paths["validation_probabilities"]),
    }


def training_strategy(force_mirrored: bool = False) -> tf.distribute.Strategy:
    """MirroredStrategy over every GPU when there are several (or over every device when asked), else the default.

    Without GPUs, `force_mirrored` mirrors over the CPU devices TensorFlow sees (one, unless logical devices
    were configured). Build and compile the model inside `strategy.scope()`.
    """
    gpus = tf.config.list_logical_devices("GPU")
    if len(gpus) > 1 or force_mirrored:
        devices = gpus or tf.config.list_logical_devices("CPU")
        return tf.distribute.MirroredStrategy(devices=[device.name for device in devices])
    return tf.distribute.get_strategy()


def global_batch_size(per_replica_batch_size: int, strategy: tf.distribute.Strategy) -> int:
    """The batch size to give Keras: each replica's batch times the number of replicas in sync."""
    if per_replica_batch_size < 1:
        raise ValueError(f"The batch size per replica must be at least 1, got {per_replica_batch_size}.")
    return int(per_replica_batch_size) * int(strategy.num_replicas_in_sync)


SEED_RUN_COLUMNS = ["seed", "test_accuracy", "best_validation_accuracy", "epochs_trained"]


@dataclass
class FinalTraining:
    """The chosen configuration trained once per seed, and what was recorded of it.

    `model`, `history` and the probabilities are the first seed's: that model is the one saved and
    evaluated. `seed_runs` has one row per seed (SEED_RUN_COLUMNS); `seed_test_probabilities` stacks every
    seed's test probabilities, shape (seeds, test images, 10). `summary` is what went to the run's metrics.
    """

    model: keras.Model
    history: pd.DataFrame
    test_probabilities: np.ndarray
    validation_probabilities: np.ndarray
    seed_runs: pd.DataFrame
    seed_test_probabilities: np.ndarray
    replicas: int
    summary: dict[str, Any]


def seed_summary(test_accuracies: Sequence[float]) -> dict[str, Any]:
    """k, mean, sample standard deviation (None for one seed), min and max of the seeds' test accuracies."""
    values = np.asarray(test_accuracies, dtype=np.float64)
    if values.size == 0:
        raise ValueError("No seed runs to summarise: train with at least one seed.")
    return {
        "k": int(values.size),
        "mean": float(values.mean()),
        "std": float(values.std(ddof=1)) if values.size > 1 else None,
        "min": float(values.min()),
        "max": float(values.max()),
    }


def train_and_record(
    model_name: str,
    search: SearchResult,
    splits: Splits,
    *,
    run_dir: str | Path,
    space: str,
    seed: int,
    training_seeds: int = 1,
    epochs: int,
    batch_size: int = 128,
    constant_epochs: int = 10,
    decay_rate: float = 0.1,
    patience: int = 15,
    schedule: str = "seed",
    augmentation: recipe.Augmentation | None = None,
    mirrored: bool = False,
    tensorboard_dir: str | Path | None = None,
) -> FinalTraining:
    """Train the search's best configuration with seeds seed, seed+1, ...; save, evaluate and record the first.

    Each seed builds the configuration afresh (under `training_strategy(mirrored)`) and trains it with
    `train_model` (with `schedule` and `augmentation`, see fashion_lib.recipe). The first seed's model,
    history and probabilities are saved by `save_training_outputs`;
    every seed's test probabilities go to `<model_name>_seed_test_probabilities.npz` (see
    `load_seed_probabilities`). The run's metrics get, under `models.<model_name>`, the first model's
    `evaluation.summarise`, the search's outcome (with its `epochs_per_trial`), `seed_runs` (one dict per
    seed), `seed_summary` and `recipe`: the schedule, the augmentation in words and, for a model trained on
    mirrored images, `flip_tta_test_accuracy`, the first model's accuracy with test-time augmentation (image
    and mirror averaged), recorded beside the plain figure, never instead of it.
    With `tensorboard_dir`, each seed's training logs its curves to `tensorboard_dir`/seed_<seed>.
    """
    from fashion_lib.search_space import build_from_hyperparameters

    if isinstance(training_seeds, bool) or not isinstance(training_seeds, int) or training_seeds < 1:
        raise ValueError(f"training_seeds must be a whole number of at least 1, got {training_seeds!r}.")
    strategy = training_strategy(force_mirrored=mirrored)
    rows, seed_probabilities, first = [], [], None
    for run_seed in range(int(seed), int(seed) + training_seeds):
        # Under MirroredStrategy the weights must be created in its scope, so that each device holds a copy.
        with strategy.scope():
            model = build_from_hyperparameters(model_name, search.best_hyperparameters, space=space)
        history = train_model(
            model,
            splits.train_x,
            splits.train_y,
            splits.val_x,
            splits.val_y,
            epochs=epochs,
            batch_size=global_batch_size(batch_size, strategy),
            constant_epochs=constant_epochs,
            decay_rate=decay_rate,
            patience=patience,
            schedule=schedule,
            augmentation=augmentation,
            seed=run_seed,
            tensorboard_dir=None if tensorboard_dir is None else Path(tensorboard_dir) / f"seed_{run_seed}",
        )
        test_probabilities = model.predict(splits.test_x, verbose=0)
        seed_probabilities.append(test_probabilities)
        rows.append(
            {
                "seed": run_seed,
                "test_accuracy": evaluation.accuracy(splits.test_y, test_probabilities.argmax(axis=1)),
                "best_validation_accuracy": float(history["val_accuracy"].max()),
                "epochs_trained": len(history),
            }
        )
        if first is None:
            first = (model, history, test_probabilities, model.predict(splits.val_x, verbose=0))
    model, history, test_probabilities, validation_probabilities = first
    save_training_outputs(
        run_dir,
        model_name,
        model,
        history,
        test_probabilities=test_probabilities,
        validation_probabilities=validation_probabilities,
    )
    augmentation = augmentation or recipe.Augmentation()
    used = {"schedule": schedule, "augmentation": augmentation.describe()}
    if augmentation.flip:
        tta = recipe.flip_tta_probabilities(model, splits.test_x)
        used["flip_tta_test_accuracy"] = evaluation.accuracy(splits.test_y, tta.argmax(axis=1))
    seed_runs = pd.DataFrame(rows, columns=SEED_RUN_COLUMNS)
    stacked = np.stack(seed_probabilities)
    save_seed_probabilities(run_dir, model_name, seeds=seed_runs["seed"].to_numpy(), probabilities=stacked)
    summary = results.record_results(
        run_dir,
        f"models.{model_name}",
        evaluation.summarise(splits.test_y, test_probabilities)
        | {
            "label": model_name.upper(),
            "search_space": space,
            "best_hyperparameters": search.best_hyperparameters,
            "best_validation_accuracy": rows[0]["best_validation_accuracy"],
            "epochs_trained": rows[0]["epochs_trained"],
            "trials": len(search.trials),
            "search_images": search.search_images,
            "epochs_per_trial": search.epochs_per_trial,
            "search_stop_reason": search.stop_reason,
            "search_minutes": search.search_minutes,
            "search_seconds": None if search.search_seconds is None else round(search.search_seconds, 1),
            "seed_runs": rows,
            "seed_summary": seed_summary(seed_runs["test_accuracy"]),
            "recipe": used,
        },
    )
    return FinalTraining(
        model=model,
        history=history,
        test_probabilities=test_probabilities,
        validation_probabilities=validation_probabilities,
        seed_runs=seed_runs,
        seed_test_probabilities=stacked,
        replicas=int(strategy.num_replicas_in_sync),
        summary=summary,
    )


def _seed_probabilities_path(run_dir: str | Path, name: str) -> Path:
    return Path(run_dir) / f"{name}_seed_test_probabilities.npz"


def save_seed_probabilities(run_dir: str | Path, name: str, *, seeds: np.ndarray, probabilities: np.ndarray) -> Path:
    """Write every seed's test probabilities (arrays `seeds`, shape (k,), and `probabilities`, (k, n, 10))."""
    seeds = np.asarray(seeds, dtype=np.int64)
    probabilities = np.asarray(probabilities, dtype=np.float32)
    if probabilities.ndim != 3 or len(probabilities) != len(seeds):
        raise ValueError(
            f"probabilities must have shape (seeds, images, classes) with one entry per seed; got "
            f"{probabilities.shape} for {len(seeds)} seeds."
        )
    path = _seed_probabilities_path(run_dir, name)
    # np.savez adds ".npz" to a name without it; the temporary path keeps the suffix, so it adds nothing.
    with atomic_path(path) as temporary:
        np.savez(temporary, seeds=seeds, probabilities=probabilities)
    return path


def load_seed_probabilities(run_dir: str | Path, name: str) -> tuple[np.ndarray, np.ndarray]:
    """The seeds of a model's final trainings and their test probabilities: arrays (k,) and (k, n, 10)."""
    path = _seed_probabilities_path(run_dir, name)
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} is missing: the {name!r} model's final trainings have not run in {run_dir} (or ran before "
            "seed runs were saved). Run the model's notebook, e.g. through `python -m fashion_lib report`."
        )
    with np.load(path) as arrays:
        return arrays["seeds"], arrays["probabilities"]
