"""Figures of the data (notebook 01): a grid of example images titled with their classes (seed Figure 1), and
the number of images of each class in the training and test sets (seed Figure 2)."""

from __future__ import annotations

from typing import Any

import numpy as np
from matplotlib.figure import Figure

from fashion_lib import config
from fashion_lib.analysis.figures.base import (
    CLASS_COLOURS,
    IMAGE_CMAP,
    ReportFigure,
    _as_label_array,
    _as_square_images,
    _grid_layout,
    _image_axes,
    _message_figure,
    _pixel_range,
    finish_figure,
)


def plot_image_grid(
    images: Any, labels: Any, *, count: int = 50, columns: int = 10, title: str | None = None
) -> Figure:
    """The first `count` images, each titled with its class name (seed Figure 1)."""
    images = _as_square_images(images)
    labels = _as_label_array(labels, "labels", len(images))
    count, columns, rows = _grid_layout(count, columns, len(images))
    if count == 0:
        return _message_figure("no examples", title)
    # Narrow cells keep the figure near a page's width, so the 9-point names print at 7 points or more; the
    # names are dark ink, as several class colours are too pale to read as text on white.
    fig = ReportFigure(figsize=(0.95 * columns, 1.15 * rows + (0.4 if title else 0.0)), layout="constrained")
    vmin, vmax = _pixel_range(images)
    for ax, image, label in zip(_image_axes(fig, count, columns), images, labels, strict=False):
        ax.imshow(image, cmap=IMAGE_CMAP, vmin=vmin, vmax=vmax)
        ax.set_title(config.CLASS_NAMES[label], fontsize=9)
    if title:
        fig.suptitle(title)
    description = (
        f"{title + ': ' if title else ''}{count} images in {rows} rows of {columns}, each titled with its class "
        f"(in order: {', '.join(config.CLASS_NAMES[label] for label in labels[:count])})."
    )
    return finish_figure(fig, description)


def plot_class_frequencies(train_labels: Any, test_labels: Any) -> Figure:
    """Number of examples of each class in the training and test sets, side by side (seed Figure 2)."""
    fig = ReportFigure(figsize=(10, 4.2), layout="constrained")
    axes = fig.subplots(1, 2)
    colours = [CLASS_COLOURS[name] for name in config.CLASS_NAMES]
    described = []
    # Separate axes per split: the test set is six times smaller, and one shared y-axis would flatten it.
    for ax, (split, labels) in zip(axes, (("Train", train_labels), ("Test", test_labels)), strict=True):
        labels = np.asarray(labels)
        label_array = _as_label_array(labels, f"{split.lower()}_labels", len(labels))
        counts = np.bincount(label_array, minlength=config.NUM_CLASSES)
        bars = ax.bar(config.CLASS_NAMES, counts, color=colours)
        ax.bar_label(bars, fontsize=10, rotation=90, padding=2)
        ax.set_title(f"{split} set ({len(label_array):,} images)", fontsize=11)
        ax.set_xlabel("Class", fontsize=11)
        ax.set_ylabel("Number of images", fontsize=11)
        ax.tick_params(axis="x", labelrotation=45, labelsize=10)
        ax.tick_params(axis="y", labelsize=10)
        ax.margins(y=0.2)
        described.append(
            f"{split.lower()} set {len(label_array):,} images, {counts.min():,} to {counts.max():,} per class"
        )
    fig.suptitle("Frequency of each class in the data", fontsize=12)
    description = f"Bar charts of the number of images of each of the {config.NUM_CLASSES} classes: " + (
        "; ".join(described) + "."
    )
    return finish_figure(fig, description)
