"""Figures of how certain the results are (notebook 04), drawn from `fashion_lib.analysis.statistics`'s and
`calibration`'s tables: each model's test accuracy with its bootstrap interval, per-class scores with their
intervals, the soft vote's validation accuracy against one model's weight, and reliability diagrams with each
model's expected calibration error."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from fashion_lib.analysis.calibration import table_calibration_error
from fashion_lib.analysis.figures.base import MODEL_PALETTE, ReportFigure, _message_figure, finish_figure


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
