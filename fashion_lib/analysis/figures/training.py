"""The figure of a final training (notebooks 02 and 03): the training and validation curves of one metric by
epoch, with the best validation epoch marked (seed Figures 4, 5, 9 and 10)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from fashion_lib.analysis.figures.base import ReportFigure, finish_figure


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
