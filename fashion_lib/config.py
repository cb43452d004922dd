"""Paths and constants in one place: where the data, runs, reports and profiles live."""

from __future__ import annotations

import os
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS_DIR = PROJECT_ROOT / "notebooks"
PROFILES_DIR = PROJECT_ROOT / "profiles"
RUNS_DIR = Path(os.environ.get("FASHION_RUNS_DIR", PROJECT_ROOT / "runs"))
REPORT_DIR = Path(os.environ.get("FASHION_REPORT_DIR", PROJECT_ROOT / "report"))

# The two models of the study and the search spaces each can be tuned over (see fashion_lib.models). They
# live here, beside the paths, so that code that must not import TensorFlow (the pipeline, the supervisor
# of a distributed search) reads the same names as the model builders.
MODEL_NAMES: tuple[str, ...] = ("mlp", "cnn")
SEARCH_SPACES: tuple[str, ...] = ("seed", "extended", "whitened")
# The CNN-only space of fashion_lib.models.whitened (the `best` profile's).
WHITENED_SPACE = "whitened"
# The final training's learning-rate schedules (see fashion_lib.training.recipe).
SCHEDULES: tuple[str, ...] = ("seed", "cosine")

# Name of the Jupyter kernel that `make setup` registers and papermill uses.
KERNEL_NAME = "fashion-report"

# Fashion-MNIST classes, in label order (0-9).
CLASS_NAMES: tuple[str, ...] = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
NUM_CLASSES = len(CLASS_NAMES)
SHIRT = CLASS_NAMES.index("Shirt")
IMAGE_SIZE = 28
IMAGE_SHAPE = (IMAGE_SIZE, IMAGE_SIZE)

# t-SNE's perplexity in the report's map of the CNN's features: the map needs more images than this.
TSNE_PERPLEXITY = 30.0

# Where the data is looked for, after an explicit directory and $FASHION_MNIST_DIR.
DATA_ENV_VAR = "FASHION_MNIST_DIR"
DEBIAN_DATA_DIR = Path("/usr/share/datasets/fashion-mnist")
KERAS_CACHE_DIR = Path.home() / ".keras" / "datasets" / "fashion-mnist"
DOWNLOAD_DIR = KERAS_CACHE_DIR
# The dataset authors' own mirror, used only when a caller passes allow_download=True.
DOWNLOAD_URL = "https://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"

# The four IDX files: split -> (images file, labels file).
DATA_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
# Expected number of examples per split.
SPLIT_SIZES = {"train": 60_000, "test": 10_000}
# MD5 of each file's decompressed content (identical for upstream and Debian's copies).
DATA_MD5 = {
    "train-images-idx3-ubyte": "f4a8712d7a061bf5bd6d2ca38dc4d50a",
    "train-labels-idx1-ubyte": "9018921c3c673c538a1fc5bad174d6f9",
    "t10k-images-idx3-ubyte": "8181f5470baa50b63fa0f6fddb340f0a",
    "t10k-labels-idx1-ubyte": "15d484375f8d13e6eb1aabb0c3f46965",
}


def run_dir(profile: str) -> Path:
    """Folder holding a profile's models, tuner trials and intermediate results."""
    return RUNS_DIR / profile


def notebook_run_dir(run_dir: str | Path, profile: str) -> Path:
    """The folder a notebook writes to, created if missing: `run_dir` when given, else runs/<profile>/."""
    folder = Path(run_dir) if run_dir else globals()["run_dir"](profile)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def report_dir(profile: str) -> Path:
    """Folder holding a profile's HTML/PDF report and metrics.json."""
    return REPORT_DIR / profile
