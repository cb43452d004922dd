"""The loader on the real files, and every bad-input case on small synthetic IDX files."""

from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import numpy as np
import pytest

from fashion_lib import config
from fashion_lib.cli import main
from fashion_lib.data import (
    DataError,
    class_counts,
    load_fashion_mnist,
    scale_images,
    stratified_subset,
    train_validation_split,
)


def idx_bytes(array: np.ndarray, magic: int | None = None) -> bytes:
    """Encode a uint8 array as an IDX file (magic 0x0801 for 1-D, 0x0803 for 3-D)."""
    magic = magic if magic is not None else 0x0800 + array.ndim
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_dataset(folder: Path, *, n_train: int = 20, n_test: int = 10, gz: bool = True, overrides=None) -> Path:
    """Write four small synthetic IDX files; `overrides` maps a file name to replacement bytes."""
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, 28, 28)),
        "train-labels-idx1-ubyte": np.arange(n_train) % 10,
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, 28, 28)),
        "t10k-labels-idx1-ubyte": np.arange(n_test) % 10,
    }
    folder.mkdir(parents=True, exist_ok=True)
    for name, array in arrays.items():
        payload = (overrides or {}).get(name, idx_bytes(array))
        if gz:
            (folder / f"{name}.gz").write_bytes(gzip.compress(payload))
        else:
            (folder / name).write_bytes(payload)
    return folder


@pytest.fixture
def no_default_locations(monkeypatch, tmp_path):
    """Point every default location at empty folders, so only what a test writes exists."""
    monkeypatch.delenv(config.DATA_ENV_VAR, raising=False)
    monkeypatch.setattr(config, "DEBIAN_DATA_DIR", tmp_path / "debian")
    monkeypatch.setattr(config, "KERAS_CACHE_DIR", tmp_path / "keras")
    monkeypatch.setattr(config, "DOWNLOAD_DIR", tmp_path / "keras")


def load_unverified(folder: Path):
    return load_fashion_mnist(folder, verify_checksums=False)


# The real data.


def test_real_data_counts_and_types(fashion):
    assert fashion.train_images.shape == (60_000, 28, 28)
    assert fashion.test_images.shape == (10_000, 28, 28)
    assert fashion.train_images.dtype == np.uint8
    assert set(class_counts(fashion.train_labels).values()) == {6_000}
    assert set(class_counts(fashion.test_labels).values()) == {1_000}
    assert fashion.checksums_verified


def test_real_data_first_labels_are_the_published_ones(fashion):
    # The dataset's first training labels are Ankle boot, T-shirt/top, T-shirt/top, Dress.
    assert fashion.train_labels[:4].tolist() == [9, 0, 0, 3]


# Where the data is looked for.


def test_env_var_directory_is_used(monkeypatch, tmp_path, no_default_locations):
    folder = write_dataset(tmp_path / "mine", gz=False)
    monkeypatch.setenv(config.DATA_ENV_VAR, str(folder))
    dataset = load_fashion_mnist(verify_checksums=False)
    assert dataset.source == folder
    assert len(dataset.train_labels) == 20


def test_keras_cache_is_used_after_debian_location(tmp_path, no_default_locations):
    write_dataset(config.KERAS_CACHE_DIR)
    assert load_fashion_mnist(verify_checksums=False).source == config.KERAS_CACHE_DIR
    write_dataset(config.DEBIAN_DATA_DIR)
    assert load_fashion_mnist(verify_checksums=False).source == config.DEBIAN_DATA_DIR


def test_no_data_anywhere_lists_the_ways_to_get_it(no_default_locations, monkeypatch):
    monkeypatch.setattr("fashion_lib.data.download", lambda *a, **k: pytest.fail("must not download"))
    with pytest.raises(DataError, match="was not found") as error:
        load_fashion_mnist()
    message = str(error.value)
    for way in ("make data", config.DATA_ENV_VAR, "allow_download=True", str(config.KERAS_CACHE_DIR)):
        assert way in message


def test_download_happens_only_when_allowed(no_default_locations, monkeypatch, tmp_path):
    calls = []

    def fake_download():
        calls.append(True)
        return write_dataset(config.DOWNLOAD_DIR)

    monkeypatch.setattr("fashion_lib.data.download", fake_download)
    with pytest.raises(DataError):
        load_fashion_mnist(verify_checksums=False)
    assert calls == []
    assert len(load_fashion_mnist(allow_download=True, verify_checksums=False).test_labels) == 10
    assert calls == [True]


# Bad files: each is a clear DataError naming the file and the problem.


def test_truncated_gzip(tmp_path):
    folder = write_dataset(tmp_path)
    target = folder / "train-images-idx3-ubyte.gz"
    target.write_bytes(target.read_bytes()[:-40])
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte\.gz: cannot be read or decompressed"):
        load_unverified(folder)


def test_corrupt_gzip(tmp_path):
    folder = write_dataset(tmp_path)
    target = folder / "t10k-labels-idx1-ubyte.gz"
    payload = bytearray(target.read_bytes())
    payload[12:20] = b"\xff" * 8
    target.write_bytes(bytes(payload))
    with pytest.raises(DataError, match=r"t10k-labels-idx1-ubyte\.gz: cannot be read or decompressed"):
        load_unverified(folder)


def test_wrong_magic_number(tmp_path):
    labels = idx_bytes(np.zeros(20, dtype=np.uint8), magic=0x0803)
    folder = write_dataset(tmp_path, overrides={"train-labels-idx1-ubyte": labels})
    with pytest.raises(DataError, match=r"train-labels-idx1-ubyte\.gz: wrong magic number 0x00000803"):
        load_unverified(folder)


def test_wrong_image_dimensions(tmp_path):
    images = idx_bytes(np.zeros((20, 28, 27), dtype=np.uint8))
    folder = write_dataset(tmp_path, overrides={"train-images-idx3-ubyte": images})
    with pytest.raises(DataError, match=r"items of shape \(28, 27\), expected \(28, 28\)"):
        load_unverified(folder)


def test_header_count_disagrees_with_payload(tmp_path):
    images = idx_bytes(np.zeros((10, 28, 28), dtype=np.uint8))
    lying = (0x0803).to_bytes(4, "big") + (12).to_bytes(4, "big") + images[8:]
    folder = write_dataset(tmp_path, overrides={"t10k-images-idx3-ubyte": lying})
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte\.gz: the header announces 12 items"):
        load_unverified(folder)


def test_images_and_labels_of_different_lengths(tmp_path):
    labels = idx_bytes(np.zeros(19, dtype=np.uint8))
    folder = write_dataset(tmp_path, overrides={"train-labels-idx1-ubyte": labels})
    with pytest.raises(DataError, match="holds 20 images but .* holds 19 labels"):
        load_unverified(folder)


def test_label_outside_range(tmp_path):
    labels = np.arange(10) % 10
    labels[7] = 10
    folder = write_dataset(tmp_path, overrides={"t10k-labels-idx1-ubyte": idx_bytes(labels)})
    with pytest.raises(DataError, match=r"label 10 at index 7 is outside 0-9"):
        load_unverified(folder)


def test_checksum_mismatch_and_its_opt_out(tmp_path):
    folder = write_dataset(tmp_path, gz=False)
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte: MD5 .*verify_checksums=False") as refused:
        load_fashion_mnist(folder)
    # `report` takes no --no-verify: the advice names the command that does.
    assert "`report` runs on the published data only" in str(refused.value)
    assert str(refused.value).count("--no-verify") == str(refused.value).count("data --no-verify") == 1
    assert len(load_fashion_mnist(folder, verify_checksums=False).train_labels) == 20


def test_checksum_matches_on_the_decompressed_content(tmp_path):
    # Debian recompressed the archives: what is checked is the content, not the .gz bytes.
    content = (config.DEBIAN_DATA_DIR / "t10k-labels-idx1-ubyte.gz").read_bytes()
    assert hashlib.md5(gzip.decompress(content)).hexdigest() == config.DATA_MD5["t10k-labels-idx1-ubyte"]


# Scaling and splitting.


def test_scale_images_range_and_type(fashion):
    scaled = scale_images(fashion.test_images[:100])
    assert scaled.dtype == np.float32
    assert scaled.min() == 0.0 and scaled.max() == 1.0
    with pytest.raises(ValueError, match="expects uint8"):
        scale_images(scaled)


def test_validation_split_is_seeded_and_stratified(fashion):
    x, y = fashion.train_images, fashion.train_labels
    train_x, train_y, val_x, val_y = train_validation_split(x, y, seed=3)
    assert len(val_y) == 6_000 and len(train_y) == 54_000
    assert set(np.bincount(val_y).tolist()) == {600}
    again = train_validation_split(x, y, seed=3)
    assert np.array_equal(again[3], val_y) and np.array_equal(again[2], val_x)
    other = train_validation_split(x, y, seed=4)
    assert not np.array_equal(other[3], val_y)


def test_validation_split_rejects_bad_fraction(fashion):
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        train_validation_split(fashion.test_images, fashion.test_labels, validation_fraction=1.5, seed=1)


def test_stratified_subset(fashion):
    x, y = stratified_subset(fashion.train_images, fashion.train_labels, 1000, seed=1)
    assert x.shape == (1000, 28, 28)
    assert set(np.bincount(y).tolist()) == {100}


# The command-line check.


def test_cli_reports_the_real_data(capsys):
    assert main(["data"]) == 0
    out = capsys.readouterr().out
    assert str(config.DEBIAN_DATA_DIR) in out
    assert "match the published MD5 sums" in out
    assert "total            60000   10000" in out


def test_cli_on_corrupt_copy_exits_nonzero_without_traceback(tmp_path):
    import subprocess
    import sys

    folder = write_dataset(tmp_path)
    target = folder / "train-images-idx3-ubyte.gz"
    target.write_bytes(target.read_bytes()[:100])
    result = subprocess.run(
        [sys.executable, "-m", "fashion_lib", "data", "--data-dir", str(folder)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("error: ") and "train-images-idx3-ubyte.gz" in result.stderr


@pytest.mark.parametrize(
    ("name", "labels", "message"),
    [
        ("t10k-labels-idx1-ubyte", np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 12]), "label 12 at index 9 is outside 0-9"),
        ("train-labels-idx1-ubyte", np.arange(20) % 9, "no image of class 9; each split must hold every class"),
    ],
)
def test_no_verify_still_checks_the_structure(tmp_path, capsys, name, labels, message):
    folder = write_dataset(tmp_path, overrides={name: idx_bytes(labels)})
    assert main(["data", "--data-dir", str(folder), "--no-verify"]) == 1
    error = capsys.readouterr().err
    assert error.startswith(f"error: {folder / name}.gz: ") and message in error and error.count("\n") == 1


def test_no_verify_still_checks_the_image_shape(tmp_path, capsys):
    images = idx_bytes(np.zeros((10, 32, 32), dtype=np.uint8))
    folder = write_dataset(tmp_path, overrides={"t10k-images-idx3-ubyte": images})
    assert main(["data", "--data-dir", str(folder), "--no-verify"]) == 1
    assert r"items of shape (32, 32), expected (28, 28)" in capsys.readouterr().err
