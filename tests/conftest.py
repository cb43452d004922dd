"""Shared fixtures: the real Fashion-MNIST data (loaded once) and small seeded subsets of it."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("MPLBACKEND", "Agg")

from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import nbformat  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from fashion_lib import config  # noqa: E402
from fashion_lib.data import (  # noqa: E402
    FashionMNIST,
    load_fashion_mnist,
    scale_images,
    stratified_subset,
    train_validation_split,
)

SEED = 1234


def one_hot(labels: list[int] | np.ndarray, confidence: float = 1.0) -> np.ndarray:
    """Test probabilities: rows with `confidence` on each label and the rest spread evenly."""
    labels = np.asarray(labels)
    rest = (1.0 - confidence) / (config.NUM_CLASSES - 1)
    probs = np.full((len(labels), config.NUM_CLASSES), rest)
    probs[np.arange(len(labels)), labels] = confidence
    return probs


@pytest.fixture(scope="session")
def fashion() -> FashionMNIST:
    """The real, verified Fashion-MNIST (uint8 images)."""
    return load_fashion_mnist()


@pytest.fixture(scope="session")
def small_split(fashion: FashionMNIST) -> dict[str, np.ndarray]:
    """A small real subset, scaled to [0, 1]: 1,000 train, 200 validation, 500 test images."""
    images, labels = stratified_subset(fashion.train_images, fashion.train_labels, 1200, seed=SEED)
    train_x, train_y, val_x, val_y = train_validation_split(
        scale_images(images), labels, validation_fraction=200 / 1200, seed=SEED
    )
    test_x, test_y = stratified_subset(fashion.test_images, fashion.test_labels, 500, seed=SEED)
    return {
        "train_x": train_x,
        "train_y": train_y,
        "val_x": val_x,
        "val_y": val_y,
        "test_x": scale_images(test_x),
        "test_y": test_y,
    }


@pytest.fixture(scope="session")
def tiny_search(small_split: dict[str, np.ndarray]) -> Callable[..., Any]:
    """A runner of small real searches: two one-epoch trials on 300 training images, unless told otherwise."""
    from fashion_lib.search.tuning import run_search

    def search(directory: Path, model_name: str = "mlp", **options: Any) -> Any:
        arguments = {"max_trials": 2, "epochs_per_trial": 1, "num_initial_points": 2, "batch_size": 64, "seed": 3}
        return run_search(
            model_name,
            small_split["train_x"][:300],
            small_split["train_y"][:300],
            small_split["val_x"],
            small_split["val_y"],
            directory=directory,
            **(arguments | options),
        )

    return search


@pytest.fixture
def write_stand_in() -> Callable[[Path, str, str], None]:
    """A writer of stand-in notebooks: the real notebook's parameters cell, then one cell of `body`."""

    def write(folder: Path, name: str, body: str) -> None:
        real = nbformat.read(config.NOTEBOOKS_DIR / f"{name}.ipynb", as_version=4)
        parameters = next(c for c in real.cells if "parameters" in c.metadata.get("tags", []))
        cells = [parameters, nbformat.v4.new_code_cell(body)]
        nbformat.write(nbformat.v4.new_notebook(cells=cells, metadata=real.metadata), folder / f"{name}.ipynb")

    return write


def _interval(estimate: float, half: float) -> dict[str, float]:
    return {"estimate": estimate, "lower": estimate - half, "upper": estimate + half}


def _claim(key: str, subject: str, seed_figure: str, value: Any, verdict: str) -> dict[str, Any]:
    """One row of a replication table, shaped as fashion_lib.analysis.replication.replication_table writes it."""
    ours = {"value": value, "text": f"{value:.2%}" if isinstance(value, float) else str(value)}
    if isinstance(value, float):
        ours |= {"lower": value - 0.02, "upper": value + 0.02}
    return {
        "key": key,
        "claim": key.replace("_", " "),
        "seed_figure": seed_figure,
        "subject": subject,
        "seed_range": None,
        "seed_statement": None,
        "ours": ours,
        "recipe": "the data" if subject == "data" else "seed method, cosine recipe",
        "rule": "number",
        "corrected_range": None,
        "verdict": verdict,
        "note": "",
    }


@pytest.fixture
def run_metrics() -> dict[str, Any]:
    """The metrics of a made-up finished run, shaped as the report command writes them (no training)."""
    per_class = {
        name: {"accuracy": 0.9, "support": 1000, "precision": 0.9, "recall": 0.9, "f1": 0.9}
        for name in config.CLASS_NAMES
    }
    mlp_classes = {name: dict(values) for name, values in per_class.items()} | {
        "Shirt": {"accuracy": 0.6, "support": 1000, "precision": 0.6, "recall": 0.6, "f1": 0.6},
        "Coat": {"accuracy": 0.8, "support": 1000, "precision": 0.8, "recall": 0.8, "f1": 0.8},
    }
    cnn_classes = {name: dict(values) for name, values in per_class.items()} | {
        "Shirt": {"accuracy": 0.7, "support": 1000, "precision": 0.7, "recall": 0.7, "f1": 0.7},
    }
    claims = [
        _claim("data_train_per_class", "data", "6,000", 6000, "consistent"),
        _claim("mlp_test_accuracy", "mlp", "88.1%", 0.8843, "higher"),
        _claim("cnn_test_accuracy", "cnn", "92.6%", 0.9321, "higher"),
        _claim("mlp_shirt_accuracy", "mlp", "about 70%", 0.6, "lower"),
        _claim("cnn_shirt_accuracy", "cnn", "76%", 0.7, "lower"),
        _claim("kendall_tau", "both", "0.89", "0.803 (0.793–0.811)", "consistent"),
    ]

    def ensemble(label: str, accuracy: float, half: float) -> dict[str, Any]:
        return {
            "label": label,
            "test_accuracy": accuracy,
            "test_accuracy_interval": _interval(accuracy, 0.005),
            "reference_model": "cnn",
            "difference_vs_reference": _interval(accuracy - 0.9321, half),
        }

    notebooks = {"01_explore": 20.0, "02_mlp": 1020.0, "03_cnn": 3180.0, "04_compare": 43.0}
    return {
        "profile": "standard",
        "description": "The report's own settings",
        "seed": 1,
        "data": {"test_images": 10000, "train_images": 54000, "validation_images": 6000},
        "models": {
            "mlp": {
                "label": "MLP",
                "test_accuracy": 0.8843,
                "per_class": mlp_classes,
                "recipe": {"schedule": "cosine", "augmentation": "none"},
                "search_space": "seed",
                "trials": 8,
            },
            "cnn": {
                "label": "CNN",
                "test_accuracy": 0.9321,
                "per_class": cnn_classes,
                "recipe": {"schedule": "cosine", "augmentation": "shifts of up to 1 pixel, mirroring"},
                "search_space": "seed",
                "trials": 6,
            },
        },
        "uncertainty": {
            "confidence": 0.95,
            "models": {
                "mlp": {"test_accuracy": _interval(0.8843, 0.006)},
                "cnn": {"test_accuracy": _interval(0.9321, 0.005)},
            },
            "accuracy_difference_cnn_minus_mlp": _interval(0.0478, 0.006),
        },
        "comparison": {"kendall_tau": 0.8025596495950585},
        "ensembles": {
            "hard_vote": ensemble("Hard vote", 0.9301, 0.003),
            "stacking": ensemble("Stacking", 0.9339, 0.003),
        },
        "baselines": {
            "logistic_regression": {
                "test_accuracy": 0.8431,
                "test_accuracy_interval": _interval(0.8431, 0.007),
                "train_images": 54000,
            }
        },
        "replication": {
            "claims": claims,
            "method": "The MLP and the CNN were tuned with the seed's method.",
            "rules": {"number": "A rule."},
        },
        "cache": {"notebooks": {name: {"status": "ran", "seconds": seconds} for name, seconds in notebooks.items()}},
        "timings": {f"{name}_s": seconds for name, seconds in notebooks.items()} | {"total_s": 4263.0},
        "peak_memory_mib": 2202.4,
        "run": {"started": "2026-12-02T10:00:00"},
        "machine": {"cpu_model": "AMD EPYC", "usable_cpus": 2},
        "versions": {"keras": "3.15.1"},
    }
