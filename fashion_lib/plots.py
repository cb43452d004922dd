"""Figures of the report: each function takes data and returns a `matplotlib.figure.Figure`.

Figures are built directly (not through `pyplot`), so they are not registered with pyplot's
global figure manager: a notebook shows a returned figure once (no duplicate from the inline
backend's end-of-cell flush), and a pipeline that makes many figures leaks none. They are
`ReportFigure`s, a `Figure` that also renders itself as PNG for IPython, because a Figure made
outside pyplot is otherwise shown as its text repr unless pyplot's inline backend was activated.
Nothing here shows or saves a figure; callers display it (last expression of a cell, or
`IPython.display.display(fig)`) or call `fig.savefig(...)`.
"""

from __future__ import annotations

import io
import math
import shutil
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib.image as mpimg
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib import colormaps
from matplotlib.colors import ListedColormap, to_rgba
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from fashion_lib import config
from fashion_lib.calibration import table_calibration_error

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


class ReportFigure(Figure):
    """A `matplotlib.figure.Figure` that IPython displays as a PNG even when pyplot was never used."""

    def _repr_png_(self) -> bytes:
        """PNG bytes for IPython's display machinery (used when no inline-backend formatter is set)."""
        buffer = io.BytesIO()
        self.savefig(buffer, format="png", bbox_inches="tight")
        return buffer.getvalue()


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
    fig = ReportFigure(figsize=(1.3 * columns, 1.5 * rows + (0.4 if title else 0.0)), layout="constrained")
    vmin, vmax = _pixel_range(images)
    for ax, image, label in zip(_image_axes(fig, count, columns), images, labels, strict=False):
        ax.imshow(image, cmap=IMAGE_CMAP, vmin=vmin, vmax=vmax)
        name = config.CLASS_NAMES[label]
        ax.set_title(name, fontsize=8, color=CLASS_COLOURS[name])
    if title:
        fig.suptitle(title)
    return fig


def plot_class_frequencies(train_labels: Any, test_labels: Any) -> Figure:
    """Number of examples of each class in the training and test sets, side by side (seed Figure 2)."""
    fig = ReportFigure(figsize=(12, 4.5), layout="constrained")
    axes = fig.subplots(1, 2)
    colours = [CLASS_COLOURS[name] for name in config.CLASS_NAMES]
    # Separate axes per split: the test set is six times smaller, and one shared y-axis would flatten it.
    for ax, (split, labels) in zip(axes, (("Train", train_labels), ("Test", test_labels)), strict=True):
        labels = np.asarray(labels)
        label_array = _as_label_array(labels, f"{split.lower()}_labels", len(labels))
        counts = np.bincount(label_array, minlength=config.NUM_CLASSES)
        bars = ax.bar(config.CLASS_NAMES, counts, color=colours)
        ax.bar_label(bars, fontsize=8)
        ax.set_title(f"{split} set ({len(label_array):,} images)")
        ax.set_xlabel("Class")
        ax.set_ylabel("Number of images")
        ax.tick_params(axis="x", labelrotation=45)
        ax.margins(y=0.1)
    fig.suptitle("Frequency of each class in the data")
    return fig


def graphviz_available() -> bool:
    """Whether `keras.utils.plot_model` can draw: pydot importable and Graphviz's `dot` on the PATH."""
    try:
        import pydot  # noqa: F401
    except ImportError:
        return False
    return shutil.which("dot") is not None


def _architecture_image(model: Any, *, rankdir: str, dpi: int) -> np.ndarray | None:
    """The Keras `plot_model` drawing of `model` as an image array, or None when it cannot be drawn."""
    import keras

    with tempfile.TemporaryDirectory() as directory:
        target = Path(directory) / "model.png"
        try:
            keras.utils.plot_model(
                model,
                to_file=str(target),
                show_shapes=True,
                show_layer_names=True,
                show_layer_activations=True,
                rankdir=rankdir,
                dpi=dpi,
            )
        except Exception as error:
            # A missing or broken pydot/Graphviz raises anything from ImportError to pydot's own
            # exceptions; the drawing is a nicety the table replaces, so warn and fall back.
            warnings.warn(f"plot_model failed ({error}); showing the layer table instead.", stacklevel=3)
            return None
        # Inside IPython, plot_model prints a message and returns without writing when Graphviz is missing.
        if not target.is_file() or target.stat().st_size == 0:
            return None
        return mpimg.imread(target)


def _layer_rows(model: Any) -> list[list[str]]:
    """One row per layer: name, type, output shape, number of parameters."""
    rows = []
    for layer in model.layers:
        try:
            shape = str(tuple(layer.output.shape))
        except (AttributeError, ValueError):
            # A layer that has not been called has no output yet; say so rather than guess.
            shape = "?"
        parameters = layer.count_params() if layer.built else 0
        rows.append([layer.name, type(layer).__name__, shape, f"{parameters:,}"])
    return rows


def plot_architecture(
    model: Any,
    *,
    prefer_table: bool = False,
    title: str | None = None,
    rankdir: str = "TB",
    dpi: int = 96,
) -> Figure:
    """A built Keras model's architecture (seed Figures 3 and 8).

    Draws Keras' `plot_model` graph when pydot and Graphviz are available, otherwise (or with
    `prefer_table=True`) a table of layers: name, type, output shape and number of parameters.
    """
    if not getattr(model, "built", False):
        raise ValueError("The model is not built: call model.build(input_shape) or give it an Input first.")
    title = title or f"Architecture of {model.name} ({model.count_params():,} parameters)"
    image = None
    if not prefer_table and graphviz_available():
        image = _architecture_image(model, rankdir=rankdir, dpi=dpi)
    if image is not None:
        height, width = image.shape[:2]
        # Show the drawing near its natural size, capped so a deep model still fits on one printed page.
        scale = min(1.0, 9.0 / (height / dpi), 12.0 / (width / dpi))
        fig = ReportFigure(figsize=(max(width / dpi * scale, 4.0), height / dpi * scale + 0.5), layout="constrained")
        ax = fig.subplots()
        ax.imshow(image)
        ax.set_axis_off()
        ax.set_title(title)
        return fig
    rows = _layer_rows(model)
    fig = ReportFigure(figsize=(10, 0.35 * (len(rows) + 1) + 0.8), layout="constrained")
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
    ax.axvline(best_epoch, color="grey", linestyle=":", linewidth=1)
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
    return fig


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
    return fig


def _message_figure(message: str, title: str | None) -> Figure:
    """A small figure that states `message`, for selections with nothing to draw."""
    fig = ReportFigure(figsize=(6, 1.5), layout="constrained")
    ax = fig.subplots()
    ax.set_axis_off()
    ax.text(0.5, 0.5, message, ha="center", va="center", fontsize=12, transform=ax.transAxes)
    if title:
        ax.set_title(title)
    return fig


def plot_gallery(
    images: Any,
    true_labels: Any,
    predicted_labels: Any,
    *,
    title: str | None = None,
    count: int = 20,
    columns: int = 10,
    second_predictions: Any | None = None,
    model_names: tuple[str, str] = ("MLP", "CNN"),
) -> Figure:
    """A gallery of (typically misclassified) images titled with their predictions (seed Figures 7, 12, 13).

    Each image is titled "predicted: X", or "MLP: X / CNN: Y" (one per line) when `second_predictions`
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
    lines = (1 if second is None else 2) + (0 if one_class else 1)
    fig = ReportFigure(figsize=(1.45 * columns, (1.45 + 0.25 * lines) * rows + 0.5), layout="constrained")
    vmin, vmax = _pixel_range(images)
    for position, ax in enumerate(_image_axes(fig, count, columns)):
        ax.imshow(images[position], cmap=IMAGE_CMAP, vmin=vmin, vmax=vmax)
        names = config.CLASS_NAMES
        if second is None:
            caption = [f"predicted: {names[first[position]]}"]
        else:
            caption = [
                f"{model_names[0]}: {names[first[position]]}",
                f"{model_names[1]}: {names[second[position]]}",
            ]
        if not one_class:
            caption.insert(0, f"true: {names[true[position]]}")
        ax.set_title("\n".join(caption), fontsize=7)
    heading = title or "Predictions"
    if one_class:
        heading = f"{heading} (true class: {config.CLASS_NAMES[true[0]]})"
    shown = f"{count} of {len(images)}" if count < len(images) else f"{count}"
    fig.suptitle(f"{heading}; {shown} shown")
    return fig


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
    return fig


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
    return fig


def _check_interval_frame(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    """`frame` if it has estimate, lower and upper columns, else ValueError."""
    missing = [column for column in ("estimate", "lower", "upper") if column not in frame.columns]
    if missing:
        raise ValueError(
            f"{name} lacks column(s) {missing}; it has {list(frame.columns)} (see fashion_lib.statistics)."
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
        ax.errorbar(value, position, xerr=error[:, None], fmt="o", color=colour, capsize=4, markersize=7)
        ax.annotate(
            f"{value:.2%}", (value, position), xytext=(0, 8), textcoords="offset points", ha="center", fontsize=8
        )
    for (label, value), style in zip((references or {}).items(), ("--", ":", "-."), strict=False):
        ax.axvline(value, color="grey", linestyle=style, linewidth=1.2, label=f"{label}: {value:.1%}")
    ax.set_yticks(positions, list(intervals.index))
    ax.set_xlabel(f"Test accuracy (points) with {confidence:.0%} bootstrap interval (bars)")
    ax.xaxis.set_major_formatter(lambda value, _: f"{value:.0%}")
    ax.margins(y=0.2)
    ax.grid(axis="x", alpha=0.3)
    if references:
        ax.legend(loc="lower left", fontsize=8)
    ax.set_title(title or "Test accuracy of every model")
    return fig


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
    return fig


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
    return fig


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
    return fig


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
    return fig


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
    return fig


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
    return fig
