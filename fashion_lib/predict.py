"""Classify a user's own pictures: prepare each one the way Fashion-MNIST's images were made, then predict.

The dataset's authors (Xiao, Rasul and Vollgraf, 2017, arXiv:1708.07747, section 2) made every 28x28 image
from a product photo of one item on a light background: trim the edges close to the background colour,
resize the longest edge to 28, sharpen, centre on a 28x28 canvas, negate the intensities, store 8-bit greyscale.
`prepare_picture` follows those steps, so that a photo reaches the model looking like the images it was
trained on: a light item, filling the longest edge, centred on black.
"""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image, ImageFilter, ImageOps, UnidentifiedImageError

from fashion_lib import config, terminal
from fashion_lib.storage import atomic_path

if TYPE_CHECKING:
    import keras

MODEL_FILE = "cnn.keras"
# The authors trimmed edges "within 5% of the maximum possible intensity" of the corner colour.
MIN_TRIM_THRESHOLD = 0.05 * 255
# A cap keeps a busy border (an item touching the edge, a textured backdrop) from hiding a faint item.
MAX_TRIM_THRESHOLD = 64.0
# A picture at least this many times larger than 28 px gets a median filter before the trim: a speck of
# camera or JPEG noise would otherwise widen the trimmed box, and the resize would blur such specks anyway.
DENOISE_MIN_FACTOR = 3
# Sharpening after the reduction, as the authors did (a Gaussian of radius 1). The strength was measured on
# 500 photo-like pictures made from test images: agreement with the original arrays' predictions rose from 92%
# (none) to 95% at 50%, and fell again at 70% and more.
SHARPEN = {"radius": 1, "percent": 50, "threshold": 0}
# Share of a row's (or column's) pixels that must stand out for the row to count as part of the item.
MIN_ITEM_FRACTION = 0.01
# --show-input pictures are enlarged by this factor (nearest neighbour) so that each pixel stays visible.
SHOW_INPUT_SCALE = 10


class PictureError(ValueError):
    """A picture cannot be read, or holds no item to classify."""


class ModelError(ValueError):
    """The model file is missing, cannot be loaded, or is not a 28x28-image, 10-class classifier."""


def read_greyscale(path: str | Path) -> np.ndarray:
    """The picture at `path` (any format and mode Pillow reads) as a 2-D uint8 greyscale array.

    Raises:
        PictureError: the file is missing, is not a picture, or cannot be decoded; the message names the file.
    """
    path = Path(path)
    if not path.exists():
        raise PictureError(f"{path}: no such file.")
    if not path.is_file():
        raise PictureError(f"{path}: not a file (a folder?); pass picture files.")
    try:
        with Image.open(path) as opened:
            opened.load()
            # Phone photos are often stored sideways with an EXIF note saying how to turn them.
            picture = ImageOps.exif_transpose(opened)
    except UnidentifiedImageError:
        raise PictureError(f"{path}: not a picture Pillow can read (PNG, JPEG, WebP, GIF, BMP, TIFF, ...).") from None
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        # Truncated or corrupt files fail only when decoded, with errors of several kinds.
        raise PictureError(f"{path}: cannot be decoded as a picture ({error}).") from None
    return _to_greyscale(picture)


def _to_greyscale(picture: Image.Image) -> np.ndarray:
    """A Pillow image of any mode as uint8 greyscale; transparent areas become white, like a backdrop."""
    if picture.mode in ("I", "F") or picture.mode.startswith("I;"):
        # Pillow's conversion of 16-bit and float pictures to "L" clips rather than scales; stretch instead.
        values = np.asarray(picture, dtype=np.float64)
        low, high = float(values.min(initial=0.0)), float(values.max(initial=0.0))
        scaled = (values - low) / (high - low) * 255 if high > low else np.zeros_like(values)
        return np.rint(scaled).astype(np.uint8)
    if "A" in picture.getbands() or "transparency" in picture.info:
        # Cut-out product pictures have a transparent background whose hidden colour is often black.
        rgba = picture.convert("RGBA")
        picture = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
    return np.asarray(picture.convert("L"), dtype=np.uint8)


def _border(pixels: np.ndarray) -> np.ndarray:
    """The pixels of the outer frame, a few pixels wide on large pictures, as one flat array."""
    width = max(1, min(pixels.shape) // 50)
    return np.concatenate(
        [
            pixels[:width].ravel(),
            pixels[-width:].ravel(),
            pixels[:, :width].ravel(),
            pixels[:, -width:].ravel(),
        ]
    )


def _occupied(counts: np.ndarray, length: int) -> np.ndarray:
    """Indices of the rows (or columns) where at least MIN_ITEM_FRACTION of `length` pixels stand out."""
    needed = max(1, int(np.ceil(MIN_ITEM_FRACTION * length)))
    occupied = np.flatnonzero(counts >= needed)
    # A faint item may have no line that dense; then every pixel that stands out counts.
    return occupied if occupied.size else np.flatnonzero(counts)


def prepare_picture(grey: np.ndarray) -> np.ndarray:
    """A greyscale picture of any size as the 28x28 uint8 image the model sees: light item centred on black.

    Steps: the background is the median of the border pixels; a light background is inverted (Fashion-MNIST
    items are light on black); the border is trimmed where pixels differ from the background by less than
    a threshold (5% of full intensity, raised on noisy borders); the background level is mapped to black;
    the longest edge is resized to 28 (aspect ratio kept, Lanczos filter) and, when that reduced the picture,
    mildly sharpened; the result is centred on black.

    Raises:
        PictureError: the picture has no pixels, or nothing in it stands out from the background.
    """
    grey = np.asarray(grey)
    if grey.ndim != 2 or grey.size == 0:
        raise PictureError(f"the picture is empty (shape {grey.shape}); it needs at least one pixel.")
    pixels = grey.astype(np.uint8)
    background = float(np.median(_border(pixels)))
    if background > 127.5:
        pixels = 255 - pixels
        background = 255.0 - background
    border = _border(pixels).astype(np.float64)
    # The median absolute deviation measures the border's noise without being swayed by an item touching it.
    noise = 1.4826 * float(np.median(np.abs(border - background)))
    threshold = min(max(MIN_TRIM_THRESHOLD, 4.0 * noise), MAX_TRIM_THRESHOLD)

    mask_source = pixels
    if min(pixels.shape) >= DENOISE_MIN_FACTOR * config.IMAGE_SIZE:
        mask_source = np.asarray(Image.fromarray(pixels).filter(ImageFilter.MedianFilter(3)))
    mask = np.abs(mask_source.astype(np.float64) - background) > threshold
    if not mask.any():
        raise PictureError("no item found: the picture is blank or a single colour (nothing stands out).")
    # A row or column belongs to the item when enough of its pixels stand out: a speck of dust or a JPEG
    # ringing blob far from the item then cannot stretch the box, while on a small picture one pixel suffices.
    rows = _occupied(mask.sum(axis=1), mask.shape[1])
    columns = _occupied(mask.sum(axis=0), mask.shape[0])
    crop = pixels[rows[0] : rows[-1] + 1, columns[0] : columns[-1] + 1].astype(np.float64)
    # Map the background to black, so that a grey backdrop inside the trimmed box matches the black canvas.
    crop = np.clip((crop - background) * 255.0 / (255.0 - background), 0, 255)

    height, width = crop.shape
    scale = config.IMAGE_SIZE / max(height, width)
    new_width, new_height = max(1, round(width * scale)), max(1, round(height * scale))
    resized = Image.fromarray(np.rint(crop).astype(np.uint8)).resize((new_width, new_height), Image.Resampling.LANCZOS)
    if scale < 1:
        # The authors sharpened every reduced image; without it a reduced photo is softer than the training
        # images. A picture that is already 28 px (a dataset image, say) was sharpened once and is left alone.
        resized = resized.filter(ImageFilter.UnsharpMask(**SHARPEN))
    canvas = np.zeros(config.IMAGE_SHAPE, dtype=np.uint8)
    # An odd leftover pixel goes above and to the left of the item, as in the dataset: of its images whose
    # padding is odd, over 99% have the extra pixel there.
    top, left = (config.IMAGE_SIZE - new_height + 1) // 2, (config.IMAGE_SIZE - new_width + 1) // 2
    canvas[top : top + new_height, left : left + new_width] = np.asarray(resized, dtype=np.uint8)
    return canvas


def prepare_file(path: str | Path) -> np.ndarray:
    """The 28x28 uint8 model input made from the picture file at `path`; errors name the file."""
    grey = read_greyscale(path)
    try:
        return prepare_picture(grey)
    except PictureError as error:
        raise PictureError(f"{path}: {error}") from None


def find_default_model(runs_dir: str | Path | None = None) -> Path:
    """The CNN of the most recent finished report run: the newest `<runs_dir>/<profile>/cnn.keras`.

    Folders starting with "." are a run's staging or previous copies, never a finished run, so they are skipped.

    Raises:
        ModelError: no finished run holds a CNN; the message says how to produce one.
    """
    runs_dir = Path(config.RUNS_DIR if runs_dir is None else runs_dir)
    candidates = []
    if runs_dir.is_dir():
        candidates = [
            path for path in runs_dir.glob(f"*/{MODEL_FILE}") if not path.parent.name.startswith(".") and path.is_file()
        ]
    if not candidates:
        raise ModelError(
            f"No trained CNN found: no {runs_dir}/<profile>/{MODEL_FILE}. Train one with "
            "`make report PROFILE=quick` (a few minutes), or pass --model PATH to a saved Keras model."
        )
    return max(candidates, key=lambda path: path.stat().st_mtime)


def _first_sentence(error: BaseException) -> str:
    """The first sentence of an exception's message (Keras' can run to a paragraph), or its type."""
    lines = str(error).strip().splitlines()
    return lines[0].split(". ")[0].rstrip(".") if lines else type(error).__name__


def load_classifier(path: str | Path) -> keras.Model:
    """Load a saved Keras model and check that it takes 28x28 images and gives 10 class scores.

    Raises:
        ModelError: the file is missing, cannot be loaded, or the model's shapes do not fit Fashion-MNIST.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: model file not found. Pass --model PATH to a saved .keras model.")
    if path.suffix == ".keras" and not zipfile.is_zipfile(path):
        # Keras reports such a file as "File not found", which would send the user looking in the wrong place.
        raise ModelError(f"{path}: not a Keras model (a .keras file is a zip archive; this one is not).")
    terminal.import_tensorflow_quietly()
    import keras

    # Registers the project's training layers, which models saved before they were swapped for Keras' own on
    # save still name; models saved now load with Keras alone.
    from fashion_lib.models import layers  # noqa: F401

    try:
        # Safe mode: a .keras file may carry Python code (a Lambda layer's function); it is refused, not run.
        model = keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as error:  # Keras raises many types for a bad file; all mean "not loadable".
        if "safe_mode" in str(error):
            raise ModelError(
                f"{path}: refused, the model holds Python code ({_first_sentence(error)}), which predict does not "
                "run from a file (Keras' safe mode). Use a model built from Keras' own layers and fashion_lib's."
            ) from None
        raise ModelError(
            f"{path}: not a Keras model that can be loaded ({_first_sentence(error)}). "
            "Pass a .keras file saved by Keras 3, e.g. runs/<profile>/cnn.keras."
        ) from None
    try:
        inputs, outputs = list(model.inputs), list(model.outputs)
    except (AttributeError, ValueError):
        raise ModelError(f"{path}: the model has no defined input and output; save a built model.") from None
    input_shapes = [tuple(tensor.shape[1:]) for tensor in inputs]
    output_shapes = [tuple(tensor.shape[1:]) for tensor in outputs]
    fits = (
        len(inputs) == 1
        and len(outputs) == 1
        and input_shapes[0] in (config.IMAGE_SHAPE, (*config.IMAGE_SHAPE, 1))
        and output_shapes[0] == (config.NUM_CLASSES,)
    )
    if not fits:
        raise ModelError(
            f"{path}: the model takes inputs of shape {input_shapes} and gives outputs of shape {output_shapes}; "
            f"a Fashion-MNIST classifier takes one 28x28 image and gives {config.NUM_CLASSES} class scores."
        )
    return model


def predict_probabilities(model: keras.Model, images: np.ndarray) -> np.ndarray:
    """Class probabilities (n, 10) for uint8 images (n, 28, 28), predicted in one batch."""
    batch = np.asarray(images, dtype=np.float32) / np.float32(255.0)
    batch = batch.reshape((len(batch), *tuple(model.inputs[0].shape[1:])))
    scores = np.asarray(model.predict(batch, verbose=0), dtype=np.float64)
    if np.any(scores < 0) or not np.allclose(scores.sum(axis=1), 1.0, atol=1e-3):
        # A model that ends in logits rather than softmax still gets comparable probabilities.
        scores = np.exp(scores - scores.max(axis=1, keepdims=True))
        scores /= scores.sum(axis=1, keepdims=True)
    return scores


def top_classes(probabilities: np.ndarray, top: int) -> list[dict[str, Any]]:
    """The `top` most probable classes of one image, most probable first, as {"class", "probability"}."""
    order = np.argsort(-np.asarray(probabilities), kind="stable")[:top]
    return [{"class": config.CLASS_NAMES[i], "probability": round(float(probabilities[i]), 6)} for i in order]


def save_model_input(image: np.ndarray, target: str | Path) -> Path:
    """Write a 28x28 model input as a PNG enlarged SHOW_INPUT_SCALE times, atomically; returns the path."""
    side = config.IMAGE_SIZE * SHOW_INPUT_SCALE
    enlarged = Image.fromarray(np.asarray(image, dtype=np.uint8)).resize((side, side), Image.Resampling.NEAREST)
    with atomic_path(target) as temporary:
        enlarged.save(temporary, format="PNG")
    return Path(target)


def _input_names(paths: Sequence[str | Path]) -> list[str]:
    """One distinct PNG name per picture, from its file name, so that a.jpg and dir/a.png do not collide."""
    names, used = [], set()
    for path in paths:
        stem = Path(path).stem or "picture"
        name, count = f"{stem}.png", 1
        while name in used:
            count += 1
            name = f"{stem}-{count}.png"
        used.add(name)
        names.append(name)
    return names


def classify_files(
    paths: Sequence[str | Path],
    *,
    model_path: str | Path,
    top: int = 3,
    show_input_dir: str | Path | None = None,
) -> list[dict[str, Any]]:
    """Classify picture files with one batch; one result per path, in order.

    Each result is {"image": path, "predictions": [{"class", "probability"}, ...]} (top `top` classes), or
    {"image": path, "error": message} for a picture that cannot be used; with `show_input_dir`, successful
    results also hold "model_input": the path of the 28x28 picture the model saw.

    Raises:
        ValueError: `top` is outside 1-10.
        ModelError: the model is missing or unsuitable (only checked when at least one picture is usable).
    """
    if not 1 <= int(top) <= config.NUM_CLASSES:
        raise ValueError(f"--top must lie in 1-{config.NUM_CLASSES}, got {top}.")
    results: list[dict[str, Any]] = []
    prepared: dict[int, np.ndarray] = {}
    for index, path in enumerate(paths):
        results.append({"image": str(path)})
        try:
            prepared[index] = prepare_file(path)
        except PictureError as error:
            results[index]["error"] = str(error)
    if not prepared:
        return results

    model = load_classifier(model_path)
    indices = sorted(prepared)
    probabilities = predict_probabilities(model, np.stack([prepared[i] for i in indices]))
    names = _input_names(paths)
    for row, index in enumerate(indices):
        results[index]["predictions"] = top_classes(probabilities[row], int(top))
        if show_input_dir is not None:
            target = save_model_input(prepared[index], Path(show_input_dir) / names[index])
            results[index]["model_input"] = str(target)
    return results
