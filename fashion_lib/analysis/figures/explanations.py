"""Figures of what the models look at (notebook 04), drawn from `fashion_lib.analysis.explain`'s results:
Grad-CAM heatmaps laid over their images, and a 2-D embedding of the images (t-SNE) with one colour per class."""

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
    _counted,
    _message_figure,
    _pixel_range,
    finish_figure,
)


def plot_gradcam(
    images: Any,
    heatmaps: Any,
    true_labels: Any,
    predicted_labels: Any,
    *,
    count: int = 8,
    title: str | None = None,
) -> Figure:
    """Images (top row) and their Grad-CAM heatmaps laid over them (bottom row), titled with the prediction."""
    images = _as_square_images(images)
    maps = _as_square_images(heatmaps)
    if len(maps) != len(images):
        raise ValueError(f"Got {len(images)} images but {len(maps)} heatmaps: give one heatmap per image.")
    true = _as_label_array(true_labels, "true_labels", len(images))
    predicted = _as_label_array(predicted_labels, "predicted_labels", len(images))
    count = min(count, len(images))
    if count == 0:
        return _message_figure("no examples", title)
    fig = ReportFigure(figsize=(1.5 * count + 0.5, 3.9), layout="constrained")
    axes = fig.subplots(2, count, squeeze=False)
    vmin, vmax = _pixel_range(images)
    for column in range(count):
        top, bottom = axes[0, column], axes[1, column]
        top.imshow(images[column], cmap=IMAGE_CMAP, vmin=vmin, vmax=vmax)
        bottom.imshow(images[column], cmap="gray_r", vmin=vmin, vmax=vmax)
        bottom.imshow(maps[column], cmap="jet", alpha=0.5, vmin=0.0, vmax=1.0)
        top.set_title(f"predicted:\n{config.CLASS_NAMES[predicted[column]]}", fontsize=7)
        for ax in (top, bottom):
            ax.set_xticks([])
            ax.set_yticks([])
    axes[0, 0].set_ylabel("image", fontsize=8)
    axes[1, 0].set_ylabel("Grad-CAM", fontsize=8)
    heading = title or "Grad-CAM"
    if len(np.unique(true[:count])) == 1:
        heading = f"{heading} (true class: {config.CLASS_NAMES[true[0]]})"
    fig.suptitle(heading)
    predictions = _counted([config.CLASS_NAMES[label] for label in predicted[:count]])
    return finish_figure(
        fig,
        f"{heading}: {count} images (top row) and their Grad-CAM heatmaps laid over them (bottom row), warm colours "
        f"where the prediction leans most; predicted: {predictions}.",
    )


def plot_embedding(embedding: Any, labels: Any, *, title: str | None = None) -> Figure:
    """A 2-D embedding (e.g. t-SNE) as a scatter plot, one colour per class (`CLASS_COLOURS`)."""
    points = np.asarray(embedding, dtype=float)
    if points.ndim != 2 or points.shape[1] != 2:
        raise ValueError(f"embedding must have shape (n, 2), got {points.shape}.")
    classes = _as_label_array(labels, "labels", len(points))
    fig = ReportFigure(figsize=(9, 7), layout="constrained")
    ax = fig.subplots()
    for index, name in enumerate(config.CLASS_NAMES):
        mask = classes == index
        ax.scatter(points[mask, 0], points[mask, 1], s=6, color=CLASS_COLOURS[name], label=name, alpha=0.8)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), markerscale=3, fontsize=8)
    ax.set_title(title or "2-D embedding")
    return finish_figure(
        fig,
        f"{title or '2-D embedding'}: a scatter plot of {len(points):,} points, one colour per class "
        f"({_counted([config.CLASS_NAMES[label] for label in classes])}).",
    )
