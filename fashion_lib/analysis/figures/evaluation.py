"""Figures of the models' test predictions, drawn from `fashion_lib.analysis.evaluation`'s tables: the confusion
matrix beside per-class precision, recall and F1 (seed Figures 6 and 11), galleries of images titled with their
predictions, typically the misclassified ones (seed Figures 7, 12 and 13), and one per-class metric of several
models as grouped bars."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.colors import ListedColormap, to_rgba
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from fashion_lib import config
from fashion_lib.analysis.figures.base import (
    BEST_COLOUR,
    IMAGE_CMAP,
    MODEL_PALETTE,
    WORST_COLOUR,
    ReportFigure,
    _as_label_array,
    _as_square_images,
    _counted,
    _grid_layout,
    _image_axes,
    _message_figure,
    _pixel_range,
    finish_figure,
)


def _highlight_extremes(ax: Any, values: pd.DataFrame) -> None:
    """Fill each column's best cell green and worst cell red (ties included) on a white heatmap."""
    for column_index, column in enumerate(values.columns):
        series = values[column].to_numpy(dtype=float)
        for target, colour in ((np.nanmax(series), BEST_COLOUR), (np.nanmin(series), WORST_COLOUR)):
            for row_index in np.flatnonzero(np.isclose(series, target)):
                ax.add_patch(
                    Rectangle(
                        (column_index, row_index),
                        1,
                        1,
                        facecolor=to_rgba(colour, 0.3),
                        edgecolor=colour,
                        linewidth=2.5,
                        clip_on=False,
                    )
                )


def plot_confusion_matrix(
    confusion: pd.DataFrame,
    per_class: pd.DataFrame,
    *,
    title: str | None = None,
    metrics: Sequence[str] = ("precision", "recall", "f1"),
) -> Figure:
    """Confusion-matrix counts beside per-class precision/recall/F1, best and worst outlined (seed Figs 6/11)."""
    if confusion.shape[0] != confusion.shape[1]:
        raise ValueError(f"confusion must be square (true x predicted), got shape {confusion.shape}.")
    missing = [metric for metric in metrics if metric not in per_class.columns]
    if missing:
        raise ValueError(f"per_class lacks column(s) {missing}; it has {list(per_class.columns)}.")
    if list(per_class.index) != list(confusion.index):
        raise ValueError("per_class must be indexed by the same classes, in the same order, as confusion's rows.")
    counts = confusion.to_numpy()
    total = counts.sum()
    overall = counts.trace() / total if total else float("nan")
    fig = ReportFigure(figsize=(13, 6.5), layout="constrained")
    count_ax, metric_ax = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 1.4]})
    # Colour bars are left out: every cell carries its number, and a bar would add an axes per panel.
    sns.heatmap(confusion, annot=True, fmt="d", cmap="Blues", cbar=False, square=True, linewidths=0.5, ax=count_ax)
    count_ax.set_xlabel("Predicted class")
    count_ax.set_ylabel("True class")
    count_ax.set_title(f"Confusion matrix (accuracy {overall:.2%})")
    count_ax.tick_params(axis="x", labelrotation=45)
    scores = per_class[list(metrics)].astype(float)
    # Scores of a decent model differ in the second decimal, which a colour scale hides: the cells
    # stay white and only each column's best and worst are filled, as in the seed's Figure 11.
    white = ListedColormap(["white"])
    sns.heatmap(
        scores, annot=True, fmt=".3f", cmap=white, cbar=False, linewidths=0.5, linecolor="lightgrey", ax=metric_ax
    )
    _highlight_extremes(metric_ax, scores)
    metric_ax.set_title("Per-class scores\n(green: best, red: worst)")
    metric_ax.set_ylabel("")
    metric_ax.set_xticklabels([metric.capitalize() if metric != "f1" else "F1" for metric in metrics])
    if title:
        fig.suptitle(title)
    off_diagonal = counts - np.diag(np.diag(counts))
    true_index, predicted_index = np.unravel_index(np.argmax(off_diagonal), off_diagonal.shape)
    description = (
        f"{title + ': ' if title else ''}confusion matrix of {len(confusion)} classes, accuracy {overall:.2%}; "
        f"the most frequent mistake is {confusion.index[true_index]} taken for {confusion.columns[predicted_index]} "
        f"({off_diagonal[true_index, predicted_index]:,} images). "
        + " ".join(
            f"{metric.capitalize() if metric != 'f1' else 'F1'}: best {scores[metric].idxmax()} "
            f"({scores[metric].max():.3f}), worst {scores[metric].idxmin()} ({scores[metric].min():.3f})."
            for metric in metrics
        )
    )
    return finish_figure(fig, description)


def plot_gallery(
    images: Any,
    true_labels: Any,
    predicted_labels: Any,
    *,
    title: str | None = None,
    count: int = 20,
    columns: int = 7,
    second_predictions: Any | None = None,
    model_names: tuple[str, str] = ("MLP", "CNN"),
) -> Figure:
    """A gallery of (typically misclassified) images titled with their predictions (seed Figures 7, 12, 13).

    Each image is titled "predicted:" and X on two lines, or "MLP: X" and "CNN: Y" when `second_predictions`
    are given. When all shown images share one true class it goes in the figure title; otherwise each
    image also says "true: Z". An empty selection gives a figure saying "no examples".
    """
    images = _as_square_images(images)
    true = _as_label_array(true_labels, "true_labels", len(images))
    first = _as_label_array(predicted_labels, "predicted_labels", len(images))
    second = (
        None if second_predictions is None else _as_label_array(second_predictions, "second_predictions", len(images))
    )
    count, columns, rows = _grid_layout(count, columns, len(images))
    if count == 0:
        return _message_figure("no examples", title)
    one_class = len(np.unique(true[:count])) == 1
    lines = 2 + (0 if one_class else 1)
    # Seven columns about a page wide keep the 10-point captions at 7 points or more in print.
    fig = ReportFigure(figsize=(1.35 * columns, (1.35 + 0.3 * lines) * rows + 0.5), layout="constrained")
    vmin, vmax = _pixel_range(images)
    for position, ax in enumerate(_image_axes(fig, count, columns)):
        ax.imshow(images[position], cmap=IMAGE_CMAP, vmin=vmin, vmax=vmax)
        names = config.CLASS_NAMES
        if second is None:
            caption = ["predicted:", names[first[position]]]
        else:
            caption = [
                f"{model_names[0]}: {names[first[position]]}",
                f"{model_names[1]}: {names[second[position]]}",
            ]
        if not one_class:
            caption.insert(0, f"true: {names[true[position]]}")
        ax.set_title("\n".join(caption), fontsize=10)
    heading = title or "Predictions"
    if one_class:
        heading = f"{heading} (true class: {config.CLASS_NAMES[true[0]]})"
    shown = f"{count} of {len(images)}" if count < len(images) else f"{count}"
    fig.suptitle(f"{heading}; {shown} shown", fontsize=11)
    names = config.CLASS_NAMES
    predicted = (
        f"predicted: {_counted([names[label] for label in first[:count]])}"
        if second is None
        else f"{model_names[0]} predicted {_counted([names[label] for label in first[:count]])}; "
        f"{model_names[1]} predicted {_counted([names[label] for label in second[:count]])}"
    )
    truth = "" if one_class else f"; true classes {_counted([names[label] for label in true[:count]])}"
    description = f"{heading}: {shown} images shown, {predicted}{truth}."
    return finish_figure(fig, description)


def plot_model_comparison(per_class: dict[str, pd.DataFrame], *, metric: str = "f1") -> Figure:
    """Grouped bars of one per-class metric for several models, e.g. {"MLP": df, "CNN": df, "Soft vote": df}."""
    if not per_class:
        raise ValueError("per_class is empty: give at least one model's per-class metrics.")
    frames = list(per_class.items())
    classes = list(frames[0][1].index)
    for model_name, frame in frames:
        if metric not in frame.columns:
            raise ValueError(f"per_class[{model_name!r}] lacks column {metric!r}; it has {list(frame.columns)}.")
        if list(frame.index) != classes:
            raise ValueError(f"per_class[{model_name!r}] is indexed by other classes than {frames[0][0]!r}.")
    fig = ReportFigure(figsize=(12, 5), layout="constrained")
    ax = fig.subplots()
    positions = np.arange(len(classes))
    width = 0.8 / len(frames)
    colours = sns.color_palette(MODEL_PALETTE, len(frames))
    for offset, ((model_name, frame), colour) in enumerate(zip(frames, colours, strict=True)):
        shift = (offset - (len(frames) - 1) / 2) * width
        bars = ax.bar(positions + shift, frame[metric].astype(float), width=width, label=model_name, color=colour)
        # Models often differ in the second decimal: print the values, since bar lengths cannot show it.
        ax.bar_label(bars, fmt="%.3f", rotation=90, padding=2, fontsize=7)
    # The bars start at zero so that their lengths stay honest; the legend sits outside the bars.
    ax.margins(y=0.15)
    label = "F1" if metric == "f1" else metric.replace("_", " ").capitalize()
    ax.set_xticks(positions, classes, rotation=45, ha="right")
    ax.set_ylabel(label)
    ax.set_title(f"{label} per class and model")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0))
    lowest = "; ".join(
        f"{model_name}: lowest {frame[metric].astype(float).idxmin()} ({frame[metric].astype(float).min():.3f}), "
        f"highest {frame[metric].astype(float).idxmax()} ({frame[metric].astype(float).max():.3f})"
        for model_name, frame in frames
    )
    return finish_figure(
        fig, f"Bars of the {label} of each of {len(classes)} classes for {len(frames)} models. {lowest}."
    )
