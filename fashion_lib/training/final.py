"""The final training of the chosen configuration: trained once per seed, the first seed's model saved,
evaluated and recorded in the run's metrics, every seed's test probabilities kept."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import keras
import numpy as np
import pandas as pd

from fashion_lib import results, scores, seeding
from fashion_lib.storage import atomic_path
from fashion_lib.training import recipe
from fashion_lib.training.devices import global_batch_size, training_strategy
from fashion_lib.training.fit import save_training_outputs, train_model

if TYPE_CHECKING:
    from fashion_lib.data import Splits

SEED_RUN_COLUMNS = ["seed", "test_accuracy", "best_validation_accuracy", "epochs_trained"]


class SearchOutcome(Protocol):
    """What the final training reads of a search's outcome (fashion_lib.search.trials.SearchResult has it all)."""

    best_hyperparameters: dict[str, Any]
    trials: pd.DataFrame
    search_images: int | None
    epochs_per_trial: int | None
    stop_reason: str
    search_minutes: float
    search_seconds: float | None


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
    search: SearchOutcome,
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
    `train_model` (with `schedule` and `augmentation`, see fashion_lib.training.recipe). The first seed's model,
    history and probabilities are saved by `save_training_outputs`;
    every seed's test probabilities go to `<model_name>_seed_test_probabilities.npz` (see
    `load_seed_probabilities`). The run's metrics get, under `models.<model_name>`, the first model's
    `scores.summarise`, the search's outcome (with its `epochs_per_trial`), `seed_runs` (one dict per
    seed), `seed_summary` and `recipe`: the schedule, the augmentation in words and, for a model trained on
    mirrored images, `flip_tta_test_accuracy`, the first model's accuracy with test-time augmentation (image
    and mirror averaged), recorded beside the plain figure, never instead of it.
    With `tensorboard_dir`, each seed's training logs its curves to `tensorboard_dir`/seed_<seed>.
    """
    from fashion_lib.models.search_space import build_from_hyperparameters

    if isinstance(training_seeds, bool) or not isinstance(training_seeds, int) or training_seeds < 1:
        raise ValueError(f"training_seeds must be a whole number of at least 1, got {training_seeds!r}.")
    strategy = training_strategy(force_mirrored=mirrored)
    rows, seed_probabilities, first = [], [], None
    for run_seed in range(int(seed), int(seed) + training_seeds):
        # Seeded here, not only in train_model: the weights are drawn when the model is built, and the search
        # before it leaves the generators in a state that depends on how many trials its time budget allowed.
        seeding.set_global_seed(run_seed)
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
                "test_accuracy": scores.accuracy(splits.test_y, test_probabilities.argmax(axis=1)),
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
        used["flip_tta_test_accuracy"] = scores.accuracy(splits.test_y, tta.argmax(axis=1))
    seed_runs = pd.DataFrame(rows, columns=SEED_RUN_COLUMNS)
    stacked = np.stack(seed_probabilities)
    save_seed_probabilities(run_dir, model_name, seeds=seed_runs["seed"].to_numpy(), probabilities=stacked)
    summary = results.record_results(
        run_dir,
        f"models.{model_name}",
        scores.summarise(splits.test_y, test_probabilities)
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
