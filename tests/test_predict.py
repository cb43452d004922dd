"""The predict command: preparing a user's pictures like Fashion-MNIST's, predictions, and every bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import keras
import numpy as np
import pytest
from PIL import Image

from fashion_lib import config
from fashion_lib.cli import main
from fashion_lib.data import scale_images, stratified_subset
from fashion_lib.models.builders import build_cnn
from fashion_lib.predict import (
    SHOW_INPUT_SCALE,
    ModelError,
    PictureError,
    find_default_model,
    prepare_file,
    prepare_picture,
)
from fashion_lib.seeding import set_global_seed

SEED = 1234
PHOTO_COUNT = 200
# The photo-like pictures must be classified as their original arrays are, for at least this share. The
# disagreements are the small model's low-confidence calls (top probability under about 0.5), which a
# reduced, re-sharpened copy can tip; 200 pictures keep the measured share (about 93%) clear of the bound.
MIN_AGREEMENT = 0.9


def _item_box(image: np.ndarray, threshold: int = 128) -> tuple[int, int, int, int]:
    """(top, bottom, left, right), inclusive, of the pixels brighter than `threshold`."""
    rows = np.flatnonzero((image > threshold).any(axis=1))
    columns = np.flatnonzero((image > threshold).any(axis=0))
    return int(rows[0]), int(rows[-1]), int(columns[0]), int(columns[-1])


def _save(array: np.ndarray, path: Path, **options: object) -> Path:
    Image.fromarray(array).save(path, **options)
    return path


def _photo_like(image: np.ndarray, path: Path, rng: np.random.Generator) -> Path:
    """A Fashion-MNIST image as a product photo: enlarged, dark on white, uneven margins, RGB, JPEG."""
    side = int(rng.integers(200, 301))
    item = Image.fromarray(255 - image).resize((side, side), Image.Resampling.BICUBIC).convert("RGB")
    left, top, right, bottom = (int(margin) for margin in rng.integers(5, 90, size=4))
    photo = Image.new("RGB", (left + side + right, top + side + bottom), (255, 255, 255))
    photo.paste(item, (left, top))
    photo.save(path, format="JPEG", quality=85)
    return path


def _predict(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["predict", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained small CNN saved as .keras: enough to exercise the command without training."""
    set_global_seed(SEED)
    path = tmp_path_factory.mktemp("tiny") / "cnn.keras"
    build_cnn(conv_blocks=1, filters=4).save(path)
    return path


@pytest.fixture(scope="module")
def good_picture(tmp_path_factory: pytest.TempPathFactory, fashion) -> Path:
    """A real test image as a photo-like JPEG."""
    folder = tmp_path_factory.mktemp("good")
    return _photo_like(fashion.test_images[0], folder / "item.jpg", np.random.default_rng(SEED))


# Preprocessing -------------------------------------------------------------------------------------------


def test_dark_rectangle_on_white_becomes_light_rectangle_centred_on_black():
    picture = np.full((300, 200), 255, dtype=np.uint8)
    picture[40:160, 20:80] = 30  # 120 tall, 60 wide, off-centre
    prepared = prepare_picture(picture)
    assert prepared.shape == config.IMAGE_SHAPE and prepared.dtype == np.uint8
    top, bottom, left, right = _item_box(prepared)
    assert (top, bottom) == (0, 27)  # the longest edge fills the canvas
    assert right - left + 1 == 14  # aspect ratio kept: 60/120 * 28
    assert left == 27 - right  # centred horizontally
    assert prepared[14, 14] > 200 and prepared[:, :left].max() == 0 and prepared[:, right + 1 :].max() == 0


def test_light_item_on_dark_background_is_not_inverted():
    picture = np.zeros((50, 100), dtype=np.uint8)
    picture[10:40, 10:90] = 220
    prepared = prepare_picture(picture)
    assert prepared[14, 14] > 200 and prepared[0, 0] == 0


def test_grey_backdrop_becomes_black():
    picture = np.full((280, 280), 230, dtype=np.uint8)
    picture[20:260, 100:180] = 20
    prepared = prepare_picture(picture)
    top, bottom, left, right = _item_box(prepared, threshold=0)
    assert prepared[top : bottom + 1, left : right + 1].min() > 200 and prepared[0, 0] == 0


def test_jpeg_noise_and_a_speck_do_not_widen_the_trimmed_box(tmp_path):
    picture = np.full((400, 400), 255, dtype=np.uint8)
    picture[100:300, 150:250] = 0
    picture[5, 5] = 0  # a single dark speck in the corner, as dust on a scan
    path = _save(picture, tmp_path / "noisy.jpg", quality=60)
    top, bottom, left, right = _item_box(prepare_file(path))
    assert (top, bottom) == (0, 27) and (left, right) == (7, 20)


@pytest.mark.parametrize(
    "picture",
    [np.full((64, 64), 255, np.uint8), np.full((64, 64), 128, np.uint8), np.zeros((0, 5), np.uint8)],
    ids=["white", "grey", "no-pixels"],
)
def test_blank_single_colour_or_empty_picture_is_rejected(picture):
    with pytest.raises(PictureError, match="blank or a single colour|empty"):
        prepare_picture(picture)


def test_transparent_background_counts_as_white(tmp_path):
    rgba = np.zeros((100, 100, 4), dtype=np.uint8)  # transparent black
    rgba[20:80, 30:70] = (40, 40, 40, 255)
    prepared = prepare_file(_save(rgba, tmp_path / "cutout.png"))
    assert prepared[14, 14] > 200 and prepared[0, 0] == 0


# Default model -------------------------------------------------------------------------------------------


def test_default_model_is_newest_finished_run(tmp_path, monkeypatch):
    monkeypatch.setattr(config, "RUNS_DIR", tmp_path)
    for age, profile in ((300, "standard"), (200, "quick"), (100, ".quick.partial"), (50, ".standard.previous")):
        path = tmp_path / profile / "cnn.keras"
        path.parent.mkdir()
        path.write_bytes(b"model")
        os.utime(path, (1e9 - age, 1e9 - age))
    assert find_default_model() == tmp_path / "quick" / "cnn.keras"


def test_without_any_run_the_message_says_how_to_get_a_model(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(config, "RUNS_DIR", tmp_path / "runs")
    with pytest.raises(ModelError, match="make report PROFILE=quick"):
        find_default_model()
    code, out, err = _predict([str(tmp_path / "any.png")], capsys)
    assert code == 1 and out == ""
    assert err.startswith("error: No trained CNN found") and "--model" in err and err.count("\n") == 1


def test_command_uses_default_model(tmp_path, monkeypatch, capsys, tiny_model, good_picture):
    runs = tmp_path / "runs"
    (runs / "quick").mkdir(parents=True)
    (runs / "quick" / "cnn.keras").write_bytes(tiny_model.read_bytes())
    monkeypatch.setattr(config, "RUNS_DIR", runs)
    code, out, _ = _predict([str(good_picture)], capsys)
    assert code == 0
    assert out.startswith(f"Model: {runs / 'quick' / 'cnn.keras'}\n")


# Output --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("top", [1, 3, 10])
def test_json_output_lists_top_k_classes_per_image(capsys, tiny_model, good_picture, top):
    code, out, err = _predict(
        [str(good_picture), str(good_picture), "--model", str(tiny_model), "--json", "--top", str(top)], capsys
    )
    assert code == 0 and err == ""
    results = json.loads(out)
    assert [result["image"] for result in results] == [str(good_picture)] * 2
    for result in results:
        assert set(result) == {"image", "predictions"}
        predictions = result["predictions"]
        assert len(predictions) == top
        assert {p["class"] for p in predictions} <= set(config.CLASS_NAMES)
        probabilities = [p["probability"] for p in predictions]
        assert probabilities == sorted(probabilities, reverse=True)
        assert all(0.0 <= p <= 1.0 for p in probabilities)
    if top == config.NUM_CLASSES:
        assert sum(p["probability"] for p in results[0]["predictions"]) == pytest.approx(1.0, abs=1e-4)


def test_text_output_shows_top_k_with_percentages(capsys, tiny_model, good_picture):
    code, out, _ = _predict([str(good_picture), "--model", str(tiny_model), "--top", "2"], capsys)
    lines = out.splitlines()
    assert code == 0 and lines[0] == f"Model: {tiny_model}" and lines[1] == str(good_picture)
    assert len(lines) == 4 and all(line.startswith("  ") and line.endswith("%") for line in lines[2:])


@pytest.mark.parametrize("top", ["0", "11"])
def test_top_outside_range_is_rejected(capsys, tiny_model, good_picture, top):
    code, _, err = _predict([str(good_picture), "--model", str(tiny_model), "--top", top], capsys)
    assert code == 1 and err == f"error: --top must lie in 1-10, got {top}.\n"


def test_show_input_writes_what_the_model_sees(tmp_path, capsys, tiny_model, good_picture):
    other = tmp_path / "other" / good_picture.name
    other.parent.mkdir()
    other.write_bytes(good_picture.read_bytes())
    out_dir = tmp_path / "inputs"
    code, out, _ = _predict(
        [str(good_picture), str(other), "--model", str(tiny_model), "--show-input", str(out_dir)], capsys
    )
    assert code == 0
    written = sorted(out_dir.iterdir())
    # Two pictures with the same file name get two files, and nothing temporary is left behind.
    assert [path.name for path in written] == ["item-2.png", "item.png"]
    for path in written:
        assert f"  model input: {path}" in out
        with Image.open(path) as shown:
            assert shown.format == "PNG" and shown.size == (28 * SHOW_INPUT_SCALE,) * 2
            pixels = np.asarray(shown.convert("L"))
        np.testing.assert_array_equal(pixels[::SHOW_INPUT_SCALE, ::SHOW_INPUT_SCALE], prepare_file(good_picture))


# Bad input -----------------------------------------------------------------------------------------------


def _bad_picture(kind: str, folder: Path) -> Path:
    if kind == "missing":
        return folder / "missing.png"
    if kind == "not-an-image":
        path = folder / "notes.png"
        path.write_text("not a picture\n")
        return path
    if kind == "truncated":
        path = _save(np.tile(np.arange(256, dtype=np.uint8), (64, 1)), folder / "cut.jpg")
        path.write_bytes(path.read_bytes()[:300])
        return path
    if kind == "folder":
        return folder
    if kind == "blank":
        return _save(np.full((40, 60), 255, np.uint8), folder / "blank.png")
    return _save(np.full((40, 60, 3), (200, 30, 30), np.uint8), folder / "red.jpg")


@pytest.mark.parametrize("kind", ["missing", "not-an-image", "truncated", "folder", "blank", "one-colour"])
def test_bad_picture_is_reported_and_the_others_still_classified(tmp_path, capsys, tiny_model, good_picture, kind):
    bad = _bad_picture(kind, tmp_path)
    code, out, err = _predict([str(bad), str(good_picture), "--model", str(tiny_model)], capsys)
    assert code == 1
    assert err.count("\n") == 1 and err.startswith(f"error: {bad}: ")
    assert f"\n{good_picture}\n" in out

    code, out, _ = _predict([str(bad), str(good_picture), "--model", str(tiny_model), "--json"], capsys)
    bad_result, good_result = json.loads(out)
    assert code == 1
    assert set(bad_result) == {"image", "error"} and bad_result["error"].startswith(f"{bad}: ")
    assert len(good_result["predictions"]) == 3


def _wrong_model(kind: str, folder: Path) -> Path:
    path = folder / f"{kind}.keras"
    if kind == "missing":
        return path
    if kind == "not-a-model":
        path.write_bytes(b"PK\x03\x04 not really a zip archive")
        return path
    if kind == "zip-not-a-model":
        with zipfile.ZipFile(path, "w") as archive:
            archive.writestr("notes.txt", "no model in here\n")
        return path
    if kind == "wrong-suffix":
        path = folder / "model.txt"
        path.write_text("weights?\n")
        return path
    shape, classes = ((32, 32), 10) if kind == "wrong-input" else ((28, 28), 5)
    model = keras.Sequential([keras.Input(shape), keras.layers.Flatten(), keras.layers.Dense(classes)])
    model.save(path)
    return path


@pytest.mark.parametrize(
    "kind", ["missing", "not-a-model", "zip-not-a-model", "wrong-suffix", "wrong-input", "wrong-classes"]
)
def test_unusable_model_is_one_fatal_line(tmp_path, capsys, good_picture, kind):
    model = _wrong_model(kind, tmp_path)
    code, out, err = _predict([str(good_picture), "--model", str(model)], capsys)
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and err.startswith(f"error: {model}: ")


def test_subprocess_exit_code_and_no_traceback(tmp_path, tiny_model, good_picture):
    result = subprocess.run(
        [sys.executable, "-m", "fashion_lib", "predict", str(good_picture), str(tmp_path / "gone.jpg")]
        + ["--model", str(tiny_model), "--top", "1"],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert f"error: {tmp_path / 'gone.jpg'}: no such file." in result.stderr.splitlines()
    assert result.stdout.splitlines()[1] == str(good_picture)


# Real model on photo-like pictures -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained_model(tmp_path_factory: pytest.TempPathFactory, fashion) -> tuple[Path, keras.Model]:
    """A small CNN trained for three epochs on 3,000 real training images, and where it was saved."""
    set_global_seed(SEED)
    images, labels = stratified_subset(fashion.train_images, fashion.train_labels, 3000, seed=SEED)
    model = build_cnn(conv_blocks=2, filters=16, optimizer="adam", learning_rate=0.003)
    # Small batches give BatchNormalization enough steps to settle its moving averages in a few epochs.
    model.fit(scale_images(images), labels, epochs=3, batch_size=16, verbose=0)
    path = tmp_path_factory.mktemp("trained") / "cnn.keras"
    model.save(path)
    return path, model


@pytest.mark.slow
def test_photo_like_pictures_get_the_predictions_of_their_original_arrays(tmp_path, capsys, fashion, trained_model):
    model_path, model = trained_model
    images, _ = stratified_subset(fashion.test_images, fashion.test_labels, PHOTO_COUNT, seed=SEED)
    rng = np.random.default_rng(SEED)
    paths = [str(_photo_like(image, tmp_path / f"photo_{i:03d}.jpg", rng)) for i, image in enumerate(images)]
    code, out, _ = _predict([*paths, "--model", str(model_path), "--json", "--top", "1"], capsys)
    assert code == 0
    predicted = [result["predictions"][0]["class"] for result in json.loads(out)]
    expected = [config.CLASS_NAMES[i] for i in np.argmax(model.predict(scale_images(images), verbose=0), axis=1)]
    agreement = np.mean([a == b for a, b in zip(predicted, expected, strict=True)])
    print(f"photo-like pictures classified as their original arrays: {agreement:.0%}")
    assert agreement >= MIN_AGREEMENT


def test_a_model_carrying_python_code_is_refused_not_run(tmp_path, capsys, good_picture):
    # Keras stores a Lambda layer's function as Python bytecode; loading it outside safe mode would run it.
    model = keras.Sequential(
        [
            keras.Input((28, 28)),
            keras.layers.Lambda(lambda images: images * 1.0),
            keras.layers.Flatten(),
            keras.layers.Dense(10),
        ]
    )
    path = tmp_path / "lambda.keras"
    model.save(path)
    code, out, err = _predict([str(good_picture), "--model", str(path)], capsys)
    assert code == 1 and out == ""
    assert err.startswith(f"error: {path}: refused, the model holds Python code") and err.count("\n") == 1
    assert "safe mode" in err
