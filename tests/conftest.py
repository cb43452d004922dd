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
    from fashion_lib.tuning import run_search

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
