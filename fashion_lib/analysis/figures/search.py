"""Figures of the hyperparameter searches: each trial's score in the order run with the best score so far
(notebooks 02 and 03), and the best-so-far curves of several search strategies together, Bayesian optimisation
against random search (notebook 04)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.figure import Figure

from fashion_lib.analysis.figures.base import MODEL_PALETTE, ReportFigure, _message_figure, finish_figure


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
