"""The figure of a model's architecture (notebooks 02 and 03, seed Figures 3 and 8): a built Keras model's layers
as numbered boxes with their main settings, output shapes and parameters, or as a table; fashion_lib's fast
training layers appear as the Keras layers a saved model holds."""

from __future__ import annotations

import math
from typing import Any

from matplotlib.figure import Figure
from matplotlib.patches import FancyBboxPatch

from fashion_lib.analysis.figures.base import ReportFigure, finish_figure

# Columns of boxes that fit a page with their 10-point labels (each box about 3.4 inches wide).
MAX_COLUMNS = 3


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
    # A layer whose weights training leaves alone (the whitened CNN's stem) says so.
    frozen = ", frozen" if parameters and not layer.trainable else ""
    return kind, f"→ {output}, {parameters:,} parameters{frozen}"


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
    # At most MAX_COLUMNS columns: more would squeeze each box below its labels' width on a page.
    columns = min(math.ceil(len(summaries) / rows), MAX_COLUMNS)
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
