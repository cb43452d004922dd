"""Loading, verifying, scaling and splitting the real Fashion-MNIST IDX files."""

from __future__ import annotations

import gzip
import hashlib
import os
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from fashion_lib import config
from fashion_lib.storage import atomic_write_bytes

IMAGES_MAGIC = 0x00000803  # unsigned byte, 3 dimensions
LABELS_MAGIC = 0x00000801  # unsigned byte, 1 dimension


class DataError(ValueError):
    """The Fashion-MNIST files are missing, unreadable or not what they should be."""


@dataclass(frozen=True)
class FashionMNIST:
    """The four arrays of Fashion-MNIST (uint8 images, int labels) and where they came from."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    source: Path
    checksums_verified: bool


def _candidate_dirs(data_dir: str | Path | None) -> list[tuple[str, Path]]:
    """Places to look for the files, in order, each with a description for messages."""
    if data_dir is not None:
        return [("the directory given", Path(data_dir))]
    env_dir = os.environ.get(config.DATA_ENV_VAR)
    if env_dir:
        return [(f"${config.DATA_ENV_VAR}", Path(env_dir))]
    return [
        ("Debian's dataset-fashion-mnist package", config.DEBIAN_DATA_DIR),
        ("Keras' cache", config.KERAS_CACHE_DIR),
    ]


def _find_file(directory: Path, name: str) -> Path | None:
    """The file `name` in `directory`, gzipped or not, or None."""
    for candidate in (directory / f"{name}.gz", directory / name):
        if candidate.is_file():
            return candidate
    return None


def _has_all_files(directory: Path) -> bool:
    names = [name for pair in config.DATA_FILES.values() for name in pair]
    return all(_find_file(directory, name) is not None for name in names)


def how_to_get_data() -> str:
    """The ways a user can provide the data, for error messages."""
    return (
        "Ways to get it: run `make data` (installs Debian's package dataset-fashion-mnist into "
        f"{config.DEBIAN_DATA_DIR}); or set ${config.DATA_ENV_VAR} (or pass data_dir) to a folder "
        "holding train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and "
        "t10k-labels-idx1-ubyte (each optionally .gz); or put them in "
        f"{config.KERAS_CACHE_DIR}; or call load_fashion_mnist(allow_download=True) "
        "(`python -m fashion_lib data --download`) to fetch them from the dataset's official mirror."
    )


def locate_data_dir(data_dir: str | Path | None = None) -> Path | None:
    """The first folder that holds all four files, or None when there is none."""
    for _, directory in _candidate_dirs(data_dir):
        if _has_all_files(directory):
            return directory
    return None


def download(directory: Path = config.DOWNLOAD_DIR) -> Path:
    """Fetch the four gzipped files from the official mirror into `directory`, atomically."""
    for pair in config.DATA_FILES.values():
        for name in pair:
            target = directory / f"{name}.gz"
            if target.is_file():
                continue
            url = f"{config.DOWNLOAD_URL}{name}.gz"
            try:
                with urllib.request.urlopen(url, timeout=60) as response:
                    payload = response.read()
            except OSError as error:
                raise DataError(f"Could not download {url}: {error}. {how_to_get_data()}") from None
            atomic_write_bytes(target, payload)
    return directory


def _read_bytes(path: Path) -> bytes:
    """The decompressed content of an IDX file."""
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as handle:
                return handle.read()
        return path.read_bytes()
    except (OSError, EOFError, zlib.error) as error:
        raise DataError(
            f"{path}: cannot be read or decompressed ({error}). The file is truncated or corrupt: "
            "delete it and obtain a fresh copy."
        ) from None


def _parse_idx(path: Path, content: bytes, magic: int, item_shape: tuple[int, ...]) -> np.ndarray:
    """Parse an IDX byte string whose header must carry `magic` and items of `item_shape`."""
    header_size = 4 * (1 + 1 + len(item_shape))
    if len(content) < header_size:
        raise DataError(f"{path}: only {len(content)} bytes, shorter than an IDX header.")
    found_magic = int.from_bytes(content[0:4], "big")
    if found_magic != magic:
        raise DataError(
            f"{path}: wrong magic number 0x{found_magic:08x}, expected 0x{magic:08x}. "
            "This is not the IDX file its name promises (images and labels swapped, or another format)."
        )
    dims = [int.from_bytes(content[4 + 4 * i : 8 + 4 * i], "big") for i in range(1 + len(item_shape))]
    count, shape = dims[0], tuple(dims[1:])
    if shape != item_shape:
        raise DataError(f"{path}: items of shape {shape}, expected {item_shape}.")
    expected = header_size + count * int(np.prod(item_shape, dtype=np.int64))
    if len(content) != expected:
        raise DataError(
            f"{path}: the header announces {count} items ({expected} bytes in all) but the file "
            f"holds {len(content)} bytes. The file is truncated or padded: obtain a fresh copy."
        )
    return np.frombuffer(content, dtype=np.uint8, offset=header_size).reshape((count, *item_shape)).copy()


def _load_split(directory: Path, split: str, verify_checksums: bool) -> tuple[np.ndarray, np.ndarray]:
    images_name, labels_name = config.DATA_FILES[split]
    arrays = []
    for name, magic, item_shape in (
        (images_name, IMAGES_MAGIC, config.IMAGE_SHAPE),
        (labels_name, LABELS_MAGIC, ()),
    ):
        path = _find_file(directory, name)
        if path is None:
            raise DataError(f"{directory / name}(.gz) is missing. {how_to_get_data()}")
        content = _read_bytes(path)
        array = _parse_idx(path, content, magic, item_shape)
        if verify_checksums:
            digest = hashlib.md5(content).hexdigest()
            if digest != config.DATA_MD5[name]:
                raise DataError(
                    f"{path}: MD5 of the decompressed content is {digest}, expected "
                    f"{config.DATA_MD5[name]}. The file is damaged or a different variant of the data: "
                    "obtain a fresh copy (Debian's: `apt-get install --reinstall dataset-fashion-mnist`). "
                    "`report` runs on the published data only; a variant of your own is checked by "
                    "`python -m fashion_lib data --no-verify` and loaded by "
                    "load_fashion_mnist(verify_checksums=False)."
                )
        arrays.append((path, array))
    (images_path, images), (labels_path, labels) = arrays
    if len(images) != len(labels):
        raise DataError(
            f"{images_path} holds {len(images)} images but {labels_path} holds {len(labels)} labels: "
            "the two files do not belong together."
        )
    if labels.size and labels.max() >= config.NUM_CLASSES:
        bad = int(np.argmax(labels >= config.NUM_CLASSES))
        raise DataError(
            f"{labels_path}: label {int(labels[bad])} at index {bad} is outside 0-{config.NUM_CLASSES - 1}."
        )
    # These structural checks hold with --no-verify too: a variant of the data must still be ten classes
    # of 28x28 images, since the stratified splits and the models are built for that.
    missing = sorted(set(range(config.NUM_CLASSES)) - set(np.unique(labels).tolist()))
    if missing:
        raise DataError(
            f"{labels_path}: no image of class {', '.join(str(label) for label in missing)}; each split must hold "
            f"every class 0-{config.NUM_CLASSES - 1}."
        )
    return images, labels.astype(np.int64)


def load_fashion_mnist(
    data_dir: str | Path | None = None,
    *,
    allow_download: bool = False,
    verify_checksums: bool = True,
) -> FashionMNIST:
    """Load and verify the four Fashion-MNIST files.

    Looks in `data_dir` (or $FASHION_MNIST_DIR), else Debian's package location, else Keras'
    cache, and downloads from the official mirror only when `allow_download` is true.

    Raises:
        DataError: the files are missing, corrupt, or fail a check; nothing partial is returned.
    """
    directory = locate_data_dir(data_dir)
    if directory is None:
        explicit = data_dir is not None or os.environ.get(config.DATA_ENV_VAR)
        if allow_download and not explicit:
            directory = download()
        else:
            searched = ", ".join(f"{what} ({path})" for what, path in _candidate_dirs(data_dir))
            raise DataError(f"Fashion-MNIST was not found in {searched}. {how_to_get_data()}")
    train_images, train_labels = _load_split(directory, "train", verify_checksums)
    test_images, test_labels = _load_split(directory, "test", verify_checksums)
    return FashionMNIST(train_images, train_labels, test_images, test_labels, directory, verify_checksums)


def scale_images(images: np.ndarray) -> np.ndarray:
    """uint8 pixel values 0-255 to float32 in [0, 1]."""
    if images.dtype != np.uint8:
        raise ValueError(f"scale_images expects uint8 pixels, got {images.dtype}: scale raw images only once.")
    return images.astype(np.float32) / np.float32(255.0)


def train_validation_split(
    images: np.ndarray,
    labels: np.ndarray,
    *,
    validation_fraction: float = 0.1,
    seed: int,
    stratify: bool = True,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Hold out a seeded validation split; returns (train_x, train_y, val_x, val_y)."""
    if not 0.0 < validation_fraction < 1.0:
        raise ValueError(f"validation_fraction must lie strictly between 0 and 1, got {validation_fraction}.")
    from sklearn.model_selection import train_test_split  # here: scikit-learn's import costs the `data` command seconds

    train_x, val_x, train_y, val_y = train_test_split(
        images,
        labels,
        test_size=validation_fraction,
        random_state=seed,
        stratify=labels if stratify else None,
    )
    return train_x, train_y, val_x, val_y


def stratified_subset(
    images: np.ndarray, labels: np.ndarray, size: int | None, *, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """A seeded, class-balanced subset of `size` examples (everything when size is None or too big)."""
    if size is None or size >= len(labels):
        return images, labels
    if size < config.NUM_CLASSES:
        raise ValueError(f"A subset needs at least {config.NUM_CLASSES} examples (one per class), got {size}.")
    from sklearn.model_selection import train_test_split

    subset_x, _, subset_y, _ = train_test_split(images, labels, train_size=size, random_state=seed, stratify=labels)
    return subset_x, subset_y


def class_counts(labels: np.ndarray) -> dict[str, int]:
    """Number of examples of each class, keyed by class name."""
    counts = np.bincount(labels, minlength=config.NUM_CLASSES)
    return {name: int(count) for name, count in zip(config.CLASS_NAMES, counts, strict=True)}


@dataclass(frozen=True)
class Splits:
    """Scaled train, validation and test arrays of one run, as every notebook prepares them."""

    train_x: np.ndarray
    train_y: np.ndarray
    val_x: np.ndarray
    val_y: np.ndarray
    test_x: np.ndarray
    test_y: np.ndarray


def prepare_splits(
    *,
    seed: int,
    validation_fraction: float = 0.1,
    train_subset: int = 0,
    data_dir: str | Path | None = None,
) -> Splits:
    """Load the data, hold out the seeded stratified validation split and scale everything to [0, 1].

    The validation split is always taken from the full training set, so that every notebook of a run
    (and every profile with the same seed) sees the same validation images; `train_subset` > 0 then
    keeps a class-balanced subset of the remaining training images, for quick runs. The test set is
    always the full, untouched 10,000 images.
    """
    dataset = load_fashion_mnist(data_dir)
    train_x, train_y, val_x, val_y = train_validation_split(
        dataset.train_images, dataset.train_labels, validation_fraction=validation_fraction, seed=seed
    )
    train_x, train_y = stratified_subset(train_x, train_y, train_subset or None, seed=seed)
    return Splits(
        scale_images(train_x),
        train_y,
        scale_images(val_x),
        val_y,
        scale_images(dataset.test_images),
        dataset.test_labels,
    )
