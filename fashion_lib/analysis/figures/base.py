"""What every figure shares. Figures are `ReportFigure`s: built directly, not through pyplot, so that a notebook
shows a returned figure once and a pipeline that makes many leaks none, they render themselves as PNG for IPython,
and each carries a `description` in words, computed from its data, which the report's pages give its image as
alternative text. `finish_figure` sets that description and enlarges every text to print at 7 points or more at
the report's page width (`PRINT_WIDTH_INCHES`); `printed_text_size` gives the smallest size a figure's text prints
at. Here too are the class and model colours, and the image and label checks and grid layout that the image
figures share.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure
from matplotlib.text import Text

from fashion_lib import config

# The one definition of class colours: tab10 has exactly ten distinct colours, one per class.
CLASS_COLOURS: dict[str, tuple[float, float, float]] = {
    name: tuple(colormaps["tab10"](index)[:3]) for index, name in enumerate(config.CLASS_NAMES)
}
# Models get a palette distinct from the class colours so the two are never confused.
MODEL_PALETTE = "Set2"
# Grey-scale with dark ink on white, like the seed's Figure 1 (and Keras' own Fashion-MNIST tutorial).
IMAGE_CMAP = "binary"
BEST_COLOUR = "tab:green"
WORST_COLOUR = "tab:red"
# The width a figure prints at: A4 less the report's 12 mm margins (186 mm), in the figure's inches, as its PNG
# is saved at 100 dots per inch and the browser lays an image out at 96 pixels per inch.
PRINT_WIDTH_INCHES = 186 / 25.4 * 96 / 100


class ReportFigure(Figure):
    """A `matplotlib.figure.Figure` that IPython displays as a PNG, with its `description` as alternative text.

    IPython shows it as a PNG even when pyplot was never used; the description goes into the output's
    metadata (`alt`), which the report's pages give the image, and stands in as the output's plain text.
    """

    description: str = ""

    def _repr_png_(self) -> bytes:
        """PNG bytes for IPython's display machinery (used when no inline-backend formatter is set)."""
        buffer = io.BytesIO()
        self.savefig(buffer, format="png", bbox_inches="tight")
        return buffer.getvalue()

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> tuple[dict[str, Any], dict[str, Any]]:
        """The PNG and the description as plain text, with the description as the image's `alt` metadata."""
        data = {"image/png": self._repr_png_(), "text/plain": self.description or repr(self)}
        return data, ({"image/png": {"alt": self.description}} if self.description else {})


def printed_text_size(fig: Figure) -> float:
    """The smallest type size, in points, of `fig`'s visible texts once printed at most `PRINT_WIDTH_INCHES` wide."""
    scale = min(1.0, PRINT_WIDTH_INCHES / fig.get_figwidth())
    sizes = [
        text.get_fontsize()
        for text in fig.findobj(Text)
        if text.get_visible() and text.get_text().strip() and text.get_figure() is not None
    ]
    return round(min(sizes, default=float("inf")) * scale, 2)


def finish_figure(fig: ReportFigure, description: str) -> ReportFigure:
    """`fig` with its description, and every text enlarged to print at 7 points or more (`printed_text_size`)."""
    fig.description = description
    smallest = 7.0 / min(1.0, PRINT_WIDTH_INCHES / fig.get_figwidth())
    for text in fig.findobj(Text):
        if text.get_fontsize() < smallest:
            text.set_fontsize(smallest)
    return fig


def _counted(names: Sequence[str]) -> str:
    """Class names with their counts, most frequent first: "Shirt 5, Coat 3"."""
    values, counts = np.unique(np.asarray(names), return_counts=True)
    order = np.argsort(-counts, kind="stable")
    return ", ".join(f"{values[index]} {counts[index]}" for index in order)


def _as_square_images(images: Any) -> np.ndarray:
    """Images as an (n, 28, 28) array, accepting flat (n, 784) and channel (n, 28, 28, 1) layouts."""
    array = np.asarray(images)
    pixels = config.IMAGE_SIZE * config.IMAGE_SIZE
    if array.ndim == 4 and array.shape[-1] == 1:
        array = array[..., 0]
    elif array.ndim == 2 and array.shape[1] == pixels:
        array = array.reshape(-1, *config.IMAGE_SHAPE)
    if array.ndim != 3 or array.shape[1:] != config.IMAGE_SHAPE:
        raise ValueError(
            f"images must have shape (n, 28, 28), (n, 784) or (n, 28, 28, 1), got {np.asarray(images).shape}."
        )
    return array


def _pixel_range(images: np.ndarray) -> tuple[float, float]:
    """Display range: raw uint8 pixels span 0-255, scaled ones 0-1; fixed so faint items stay faint."""
    if images.dtype == np.uint8 or (images.size and float(images.max()) > 1.0):
        return 0.0, 255.0
    return 0.0, 1.0


def _as_label_array(labels: Any, name: str, length: int) -> np.ndarray:
    """Labels as a 1-D int array of `length` class indices, or ValueError."""
    array = np.asarray(labels)
    if array.ndim != 1 or len(array) != length:
        raise ValueError(f"{name} must be a 1-D array with one label per image ({length}), got shape {array.shape}.")
    array = array.astype(np.int64)
    if array.size and (array.min() < 0 or array.max() >= config.NUM_CLASSES):
        raise ValueError(f"{name} holds labels outside 0-{config.NUM_CLASSES - 1}.")
    return array


def _grid_layout(count: int, columns: int, available: int) -> tuple[int, int, int]:
    """Validated (count, columns, rows) of a grid showing at most `count` of `available` images."""
    if count < 1 or columns < 1:
        raise ValueError(f"count and columns must be positive, got count={count}, columns={columns}.")
    count = min(count, available)
    columns = min(columns, max(count, 1))
    return count, columns, math.ceil(count / columns)


def _image_axes(fig: Figure, count: int, columns: int) -> list[Any]:
    """`count` image axes on a grid `columns` wide, without ticks."""
    rows = math.ceil(count / columns)
    axes = fig.subplots(rows, columns, squeeze=False).ravel()
    # Surplus cells of the last row are removed, so the figure holds exactly one axes per image.
    for ax in axes[count:]:
        fig.delaxes(ax)
    for ax in axes[:count]:
        ax.set_xticks([])
        ax.set_yticks([])
    return list(axes[:count])


def _message_figure(message: str, title: str | None) -> Figure:
    """A small figure that states `message`, for selections with nothing to draw."""
    fig = ReportFigure(figsize=(6, 1.5), layout="constrained")
    ax = fig.subplots()
    ax.set_axis_off()
    ax.text(0.5, 0.5, message, ha="center", va="center", fontsize=12, transform=ax.transAxes)
    if title:
        ax.set_title(title)
    description = f"{title + ': ' if title else ''}{message}."
    return finish_figure(fig, description)
