"""Figures of the report: each function takes data and returns a `matplotlib.figure.Figure`.

Figures are built directly (not through `pyplot`), so they are not registered with pyplot's
global figure manager: a notebook shows a returned figure once (no duplicate from the inline
backend's end-of-cell flush), and a pipeline that makes many figures leaks none. They are
`ReportFigure`s, a `Figure` that also renders itself as PNG for IPython, because a Figure made
outside pyplot is otherwise shown as its text repr unless pyplot's inline backend was activated.
Nothing here shows or saves a figure; callers display it (last expression of a cell, or
`IPython.display.display(fig)`) or call `fig.savefig(...)`. Every figure carries a `description` in words,
computed from its data, which the report's pages give its image as alternative text for screen readers.

The report prints a figure at most a page wide (`PRINT_WIDTH_INCHES`), so a figure's type sizes are chosen
for that width: `printed_text_size` gives the smallest size a figure's text prints at.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib import colormaps
from matplotlib.colors import ListedColormap, to_rgba
from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch, Rectangle
from matplotlib.text import Text

from fashion_lib import config
from fashion_lib.analysis.calibration import table_calibration_error

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


def _keras_layers(model: Any) -> Any:
    """`model` as it is saved: fashion_lib's fast training layers replaced by the Keras layers they stand for."""
    from fashion_lib.models import layers

    if any(type(layer) in layers.KERAS_EQUIVALENTS for layer in model.layers):
        return layers.with_keras_layers(model)
    return model


def _shape(shape: Any) -> str:
    """An output shape without its batch axis: (None, 14, 14, 32) as "14×14×32"."""
    return "×".join(str(size) for size in tuple(shape)[1:])


def _layer_summary(layer: Any) -> tuple[str, str]:
    """A layer's kind with its main settings ("Conv2D: 32 filters 3×3, relu"), and its output and parameters."""
    settings = layer.get_config()
    details = []
    if "filters" in settings:
        details.append(f"{settings['filters']} filters {'×'.join(map(str, settings['kernel_size']))}")
    if "units" in settings:
        details.append(f"{settings['units']:,} units")
    if "pool_size" in settings:
        details.append(f"pool {'×'.join(map(str, settings['pool_size']))}")
    if "rate" in settings:
        details.append(f"rate {settings['rate']:g}")
    activation = settings.get("activation")
    if isinstance(activation, str) and activation != "linear":
        details.append(activation)
    kind = type(layer).__name__ + (f": {', '.join(details)}" if details else "")
    try:
        output = _shape(layer.output.shape)
    except (AttributeError, ValueError):
        # A layer that has not been called has no output yet; say so rather than guess.
        output = "?"
    parameters = layer.count_params() if layer.built else 0
    return kind, f"→ {output}, {parameters:,} parameters"


def _layer_rows(model: Any) -> list[list[str]]:
    """One row per layer: name, type, output shape, number of parameters."""
    rows = []
    for layer in model.layers:
        try:
            shape = str(tuple(layer.output.shape))
        except (AttributeError, ValueError):
            shape = "?"
        parameters = layer.count_params() if layer.built else 0
        rows.append([layer.name, type(layer).__name__, shape, f"{parameters:,}"])
    return rows


def _architecture_table(model: Any, title: str) -> Figure:
    """The layers of `model` as a table: name, type, output shape, parameters."""
    rows = _layer_rows(model)
    fig = ReportFigure(figsize=(8, 0.3 * (len(rows) + 1) + 0.8), layout="constrained")
    ax = fig.subplots()
    ax.set_axis_off()
    table = ax.table(
        cellText=rows or [["(no layers)", "", "", ""]],
        colLabels=["Layer", "Type", "Output shape", "Parameters"],
        loc="center",
        cellLoc="left",
    )
    table.auto_set_font_size(False)
    table.set_fontsize(9)
    table.scale(1.0, 1.3)
    for (row, _), cell in table.get_celld().items():
        if row == 0:
            cell.set_text_props(fontweight="bold")
    ax.set_title(title)
    return fig


def plot_architecture(model: Any, *, prefer_table: bool = False, title: str | None = None, rows: int = 8) -> Figure:
    """A built Keras model's architecture (seed Figures 3 and 8), with the layers it is saved with.

    Draws the layers as numbered boxes in order, top to bottom and then the next column, each with its kind,
    main settings, output shape and parameters; or, with `prefer_table=True`, a table of the layers. The
    fast training layers of fashion_lib.models.layers appear as the Keras layers a saved model holds instead.
    """
    if not getattr(model, "built", False):
        raise ValueError("The model is not built: call model.build(input_shape) or give it an Input first.")
    model = _keras_layers(model)
    title = title or f"Architecture of {model.name} ({model.count_params():,} parameters)"
    # A functional model lists its input as a layer; a Sequential one built from an input shape does not.
    summaries = [
        ("Input", f"→ {_shape(layer.output.shape)}") if type(layer).__name__ == "InputLayer" else _layer_summary(layer)
        for layer in model.layers
    ]
    if not model.layers or type(model.layers[0]).__name__ != "InputLayer":
        summaries.insert(0, ("Input", f"→ {_shape(model.input_shape)}"))
    layer_count = sum(type(layer).__name__ != "InputLayer" for layer in model.layers)
    description = (
        f"{title}: {layer_count} layers, in order: " + "; ".join(f"{kind} {output}" for kind, output in summaries) + "."
    )
    if prefer_table:
        fig = _architecture_table(model, title)
        return finish_figure(fig, description)
    if rows < 1:
        raise ValueError(f"rows must be positive, got {rows}.")
    columns = math.ceil(len(summaries) / rows)
    rows = math.ceil(len(summaries) / columns)
    # About a page wide, so the 10-point labels print at 7 points or more.
    fig = ReportFigure(figsize=(min(10.0, 3.4 * columns), 0.62 * rows + 0.6), layout="constrained")
    ax = fig.subplots()
    ax.set_axis_off()
    ax.set_xlim(0, columns)
    ax.set_ylim(rows, 0)
    for position, (kind, output) in enumerate(summaries):
        column, row = divmod(position, rows)
        ax.add_patch(
            FancyBboxPatch(
                (column + 0.04, row + 0.1),
                0.92,
                0.72,
                boxstyle="round,pad=0,rounding_size=0.08",
                facecolor="#eef3fa",
                edgecolor="#4a6f9c",
                linewidth=1,
            )
        )
        ax.text(column + 0.08, row + 0.33, f"{position + 1}. {kind}", fontsize=10, fontweight="bold", va="center")
        ax.text(column + 0.08, row + 0.62, output, fontsize=10, va="center", color="#333333")
        if position + 1 < len(summaries) and row + 1 < rows:
            ax.annotate(
                "", xy=(column + 0.5, row + 1.1), xytext=(column + 0.5, row + 0.82), arrowprops={"arrowstyle": "->"}
            )
    ax.set_title(title, fontsize=11)
    return finish_figure(fig, description)


def _best_epoch(history: pd.DataFrame, column: str) -> int:
    """Row position of the best value of `column`: lowest for losses, highest for everything else."""
    values = history[column]
    return int(np.nanargmin(values) if "loss" in column else np.nanargmax(values))


def plot_history(history: pd.DataFrame, *, metric: str = "accuracy", title: str | None = None) -> Figure:
    """Training and validation `metric` by epoch, with the best validation epoch marked (seed Figures 4/5/9/10)."""
    validation = f"val_{metric}"
    missing = [column for column in ("epoch", metric, validation) if column not in history.columns]
    if missing:
        raise ValueError(
            f"history lacks column(s) {missing}; it has {list(history.columns)}. "
            f"Pass a metric whose training and val_ columns were recorded."
        )
    if history.empty:
        raise ValueError("history is empty: the model was not trained for any epoch.")
    fig = ReportFigure(figsize=(8, 4.5), layout="constrained")
    ax = fig.subplots()
    ax.plot(history["epoch"], history[metric], label="training", color="tab:blue")
    ax.plot(history["epoch"], history[validation], label="validation", color="tab:orange")
    best = _best_epoch(history, validation)
    best_epoch = history["epoch"].iloc[best]
    best_value = history[validation].iloc[best]
    # The best epoch is a marker and a legend entry only: a line through it would cross the curves' ends.
    ax.plot(
        [best_epoch],
        [best_value],
        marker="o",
        linestyle="none",
        color="tab:red",
        label=f"best validation: {best_value:.4f} at epoch {best_epoch}",
    )
    ax.set_xlabel("Epoch")
    ax.set_ylabel(metric.replace("_", " ").capitalize())
    ax.set_title(title or f"Model {metric.replace('_', ' ')}")
    ax.grid(alpha=0.3)
    ax.legend()
    name = metric.replace("_", " ")
    description = (
        f"{title or 'Model ' + name}: training and validation {name} over {len(history)} epochs; the best validation "
        f"{name} is {best_value:.4f} at epoch {best_epoch}; at the last epoch training {history[metric].iloc[-1]:.4f}, "
        f"validation {history[validation].iloc[-1]:.4f}."
    )
    return finish_figure(fig, description)


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


def plot_trials(trials: pd.DataFrame, *, title: str | None = None, higher_is_better: bool = True) -> Figure:
    """Each tuning trial's score in the order run, with the best score so far as a step line."""
    missing = [column for column in ("trial_id", "score") if column not in trials.columns]
    if missing:
        raise ValueError(f"trials lacks column(s) {missing}; it has {list(trials.columns)}.")
    if trials.empty:
        return _message_figure("no trials", title)
    scores = trials["score"].astype(float).reset_index(drop=True)
    order = np.arange(1, len(scores) + 1)
    # Failed trials have no score: cummax skips them and forward filling carries the best so far across.
    best_so_far = (scores.cummax() if higher_is_better else scores.cummin()).ffill()
    fig = ReportFigure(figsize=(8, 4.5), layout="constrained")
    ax = fig.subplots()
    ax.plot(order, scores, marker="o", linestyle="none", color="tab:blue", label="trial score")
    ax.step(order, best_so_far, where="post", color="tab:red", label="best so far")
    if scores.notna().any():
        best = int(scores.idxmax() if higher_is_better else scores.idxmin())
        ax.annotate(
            f"trial {trials['trial_id'].iloc[best]}: {scores.iloc[best]:.4f}",
            xy=(order[best], scores.iloc[best]),
            xytext=(0, 10),
            textcoords="offset points",
            ha="center",
            fontsize=8,
        )
    ax.set_xlabel("Trial (in the order run)")
    ax.set_ylabel("Score (best epoch's objective)")
    ax.set_xticks(order)
    ax.margins(y=0.15)  # Room for the best trial's label below the title.
    ax.set_title(title or "Hyperparameter search")
    ax.grid(alpha=0.3)
    ax.legend()
    best_words = (
        f"the best is trial {trials['trial_id'].iloc[best]} with {scores.iloc[best]:.4f}"
        if scores.notna().any()
        else "no trial has a score"
    )
    return finish_figure(
        fig, f"{title or 'Hyperparameter search'}: the score of each of {len(scores)} trials in order; {best_words}."
    )


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


def _check_interval_frame(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    """`frame` if it has estimate, lower and upper columns, else ValueError."""
    missing = [column for column in ("estimate", "lower", "upper") if column not in frame.columns]
    if missing:
        raise ValueError(
            f"{name} lacks column(s) {missing}; it has {list(frame.columns)} (see fashion_lib.analysis.statistics)."
        )
    return frame


def plot_accuracy_intervals(
    intervals: pd.DataFrame,
    *,
    references: dict[str, float] | None = None,
    title: str | None = None,
    confidence: float = 0.95,
) -> Figure:
    """Test accuracy of each model as a point with its confidence interval, and dashed reference lines.

    `intervals` is indexed by model label with columns estimate, lower and upper; `references` maps a
    label (e.g. a quoted human accuracy) to a value drawn as a vertical line.
    """
    _check_interval_frame(intervals, "intervals")
    if intervals.empty:
        return _message_figure("no models", title)
    fig = ReportFigure(figsize=(9, 0.5 * len(intervals) + 1.8), layout="constrained")
    ax = fig.subplots()
    positions = np.arange(len(intervals))[::-1]
    colours = sns.color_palette(MODEL_PALETTE, len(intervals))
    estimate = intervals["estimate"].to_numpy(dtype=float)
    errors = np.vstack(
        [estimate - intervals["lower"].to_numpy(dtype=float), intervals["upper"].to_numpy(dtype=float) - estimate]
    )
    for position, value, error, colour in zip(positions, estimate, errors.T, colours, strict=True):
        ax.errorbar(value, position, xerr=error[:, None], fmt="o", color=colour, capsize=4, markersize=7, zorder=3)
        # The value sits on a white patch above the marker, so a reference line never runs through its digits.
        ax.annotate(
            f"{value:.2%}",
            (value, position),
            xytext=(0, 9),
            textcoords="offset points",
            ha="center",
            fontsize=9,
            zorder=4,
            bbox={"boxstyle": "square,pad=0.1", "facecolor": "white", "edgecolor": "none"},
        )
    for (label, value), style in zip((references or {}).items(), ("--", ":", "-."), strict=False):
        # Drawn beneath the markers and their intervals.
        ax.axvline(value, color="grey", linestyle=style, linewidth=1.2, label=f"{label}: {value:.1%}", zorder=1)
    ax.set_yticks(positions, list(intervals.index))
    ax.set_xlabel(f"Test accuracy (points) with {confidence:.0%} bootstrap interval (bars)")
    ax.xaxis.set_major_formatter(lambda value, _: f"{value:.0%}")
    ax.margins(y=0.2)
    ax.grid(axis="x", alpha=0.3)
    if references:
        # Below the axis label, where no marker can sit under it.
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), fontsize=9, frameon=False)
    ax.set_title(title or "Test accuracy of every model")
    shown = "; ".join(
        f"{label} {row['estimate']:.2%} ({row['lower']:.2%}–{row['upper']:.2%})" for label, row in intervals.iterrows()
    )
    lines = "; ".join(f"{label} {value:.1%}" for label, value in (references or {}).items())
    return finish_figure(
        fig,
        f"{title or 'Test accuracy of every model'}, with {confidence:.0%} bootstrap intervals: {shown}."
        + (f" Reference lines: {lines}." if lines else ""),
    )


def plot_per_class_intervals(
    per_model: dict[str, pd.DataFrame], *, metric_label: str = "F1", confidence: float = 0.95
) -> Figure:
    """Per-class scores with confidence intervals, one marker colour per model, e.g. {"MLP": df, "CNN": df}."""
    if not per_model:
        raise ValueError("per_model is empty: give at least one model's per-class intervals.")
    frames = {name: _check_interval_frame(frame, f"per_model[{name!r}]") for name, frame in per_model.items()}
    classes = list(next(iter(frames.values())).index)
    fig = ReportFigure(figsize=(12, 4.8), layout="constrained")
    ax = fig.subplots()
    positions = np.arange(len(classes))
    width = 0.6 / len(frames)
    colours = sns.color_palette(MODEL_PALETTE, len(frames))
    for offset, ((name, frame), colour) in enumerate(zip(frames.items(), colours, strict=True)):
        if list(frame.index) != classes:
            raise ValueError(f"per_model[{name!r}] is indexed by other classes than the first model's.")
        shift = (offset - (len(frames) - 1) / 2) * width
        estimate = frame["estimate"].to_numpy(dtype=float)
        errors = np.vstack([estimate - frame["lower"].to_numpy(float), frame["upper"].to_numpy(float) - estimate])
        ax.errorbar(positions + shift, estimate, yerr=errors, fmt="o", color=colour, capsize=3, label=name)
    ax.set_xticks(positions, classes, rotation=45, ha="right")
    ax.set_ylabel(metric_label)
    ax.set_title(f"{metric_label} per class with {confidence:.0%} bootstrap intervals")
    ax.grid(axis="y", alpha=0.3)
    ax.legend()
    extremes = "; ".join(
        f"{name}: lowest {frame['estimate'].astype(float).idxmin()} ({frame['estimate'].astype(float).min():.3f}), "
        f"highest {frame['estimate'].astype(float).idxmax()} ({frame['estimate'].astype(float).max():.3f})"
        for name, frame in frames.items()
    )
    return finish_figure(
        fig,
        f"{metric_label} of each of {len(classes)} classes with {confidence:.0%} bootstrap intervals for "
        f"{', '.join(frames)}. {extremes}.",
    )


def plot_vote_weights(table: pd.DataFrame, *, weight_column: str, chosen: float, model_label: str) -> Figure:
    """Validation accuracy of the soft vote against one model's weight (two models), the chosen weight marked."""
    missing = [column for column in (weight_column, "validation_accuracy") if column not in table.columns]
    if missing:
        raise ValueError(f"table lacks column(s) {missing}; it has {list(table.columns)}.")
    ordered = table.sort_values(weight_column)
    fig = ReportFigure(figsize=(8, 4.2), layout="constrained")
    ax = fig.subplots()
    ax.plot(ordered[weight_column], ordered["validation_accuracy"], marker="o", markersize=4, color="tab:blue")
    ax.axvline(chosen, color="tab:red", linestyle=":", label=f"chosen weight: {chosen:.2f}")
    ax.set_xlabel(f"Weight of the {model_label} (the other model gets 1 minus it)")
    ax.set_ylabel("Validation accuracy")
    ax.yaxis.set_major_formatter(lambda value, _: f"{value:.1%}")
    ax.set_title("Choosing the soft vote's weights on the validation split")
    ax.grid(alpha=0.3)
    ax.legend()
    best = ordered.loc[ordered["validation_accuracy"].idxmax()]
    return finish_figure(
        fig,
        f"Validation accuracy of the soft vote for {len(ordered)} weights of the {model_label} from "
        f"{ordered[weight_column].min():.2f} to {ordered[weight_column].max():.2f}: highest "
        f"{best['validation_accuracy']:.2%} at {best[weight_column]:.2f}; the chosen weight is {chosen:.2f}.",
    )


def plot_reliability(tables: dict[str, pd.DataFrame], *, columns: int = 2) -> Figure:
    """Reliability diagrams: per confidence bin, accuracy against mean confidence, one panel per entry.

    Each table is `calibration.reliability_table`'s; the panel title carries the ECE computed from it.
    A perfectly calibrated model's bars touch the diagonal.
    """
    if not tables:
        raise ValueError("tables is empty: give at least one reliability table.")
    columns = max(1, min(columns, len(tables)))
    rows = math.ceil(len(tables) / columns)
    fig = ReportFigure(figsize=(4.6 * columns, 4.2 * rows), layout="constrained")
    axes = fig.subplots(rows, columns, squeeze=False).ravel()
    for ax in axes[len(tables) :]:
        fig.delaxes(ax)
    errors = []
    for ax, (label, table) in zip(axes, tables.items(), strict=False):
        missing = {"lower", "upper", "count", "confidence", "accuracy"} - set(table.columns)
        if missing:
            raise ValueError(f"tables[{label!r}] lacks {sorted(missing)}: pass calibration.reliability_table's result.")
        filled = table[table["count"] > 0]
        ece = table_calibration_error(table)
        width = (table["upper"] - table["lower"]).to_numpy(float)
        ax.bar(
            filled["lower"],
            filled["accuracy"],
            width=width[filled.index],
            align="edge",
            color="tab:blue",
            edgecolor="white",
            label="accuracy",
        )
        # The gap is drawn as a hatched outline between accuracy and confidence, whichever is higher,
        # so an underconfident bin (accuracy above confidence) reads as clearly as an overconfident one.
        ax.bar(
            filled["lower"],
            np.abs(filled["confidence"] - filled["accuracy"]),
            bottom=np.minimum(filled["confidence"], filled["accuracy"]),
            width=width[filled.index],
            align="edge",
            fill=False,
            edgecolor="tab:red",
            hatch="//",
            linewidth=0.8,
            label="gap to confidence",
        )
        ax.plot([0, 1], [0, 1], color="grey", linestyle="--", linewidth=1, label="perfect calibration")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel("Confidence (largest class probability)")
        ax.set_ylabel("Accuracy")
        ax.set_title(f"{label}\nECE {ece:.2%}", fontsize=10)
        ax.legend(loc="upper left", fontsize=7)
        errors.append(f"{' '.join(label.split())}: ECE {ece:.2%}")
    return finish_figure(
        fig,
        f"{len(tables)} reliability diagrams, accuracy against confidence per confidence bin, with the diagonal of "
        f"perfect calibration: {'; '.join(errors)}.",
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


def plot_search_strategies(trials: dict[str, pd.DataFrame], *, title: str | None = None) -> Figure:
    """Best validation accuracy so far after each trial, one step line per search strategy."""
    if not trials:
        raise ValueError("trials is empty: give at least one strategy's trials table.")
    fig = ReportFigure(figsize=(8, 4.5), layout="constrained")
    ax = fig.subplots()
    colours = sns.color_palette(MODEL_PALETTE, len(trials))
    for (label, table), colour in zip(trials.items(), colours, strict=True):
        if "score" not in table.columns:
            raise ValueError(f"trials[{label!r}] lacks a score column; pass a SearchResult.trials table.")
        scores = table["score"].astype(float).reset_index(drop=True)
        order = np.arange(1, len(scores) + 1)
        ax.step(order, scores.cummax().ffill(), where="post", color=colour, label=f"{label}: best so far")
        ax.plot(order, scores, marker="o", linestyle="none", color=colour, alpha=0.5)
    ax.set_xlabel("Trial (in the order run)")
    ax.set_ylabel("Validation accuracy")
    ax.yaxis.set_major_formatter(lambda value, _: f"{value:.1%}")
    ax.set_title(title or "Bayesian optimisation against random search")
    ax.grid(alpha=0.3)
    ax.legend()
    bests = "; ".join(
        f"{label}: best {table['score'].astype(float).max():.2%} after {len(table)} trials"
        for label, table in trials.items()
    )
    return finish_figure(
        fig,
        f"{title or 'Bayesian optimisation against random search'}: best validation accuracy so far after each "
        f"trial. {bests}.",
    )
