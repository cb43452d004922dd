"""What the accuracy cost: test accuracy against training compute, each model a point, references as lines
(the counting is fashion_lib.analysis.compute's)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from matplotlib import colormaps

from fashion_lib.analysis.figures.base import MODEL_PALETTE, ReportFigure, finish_figure


def plot_accuracy_against_compute(
    points: Sequence[Mapping[str, Any]], references: Sequence[Mapping[str, Any]], *, title: str | None = None
) -> ReportFigure:
    """Test accuracy against training FLOPs (log scale), one marker per model and run, references as lines."""
    if not points:
        raise ValueError("No model to draw: give at least one point with training_flops and test_accuracy.")
    fig = ReportFigure(figsize=(9.5, 5.2), layout="constrained")
    ax = fig.add_subplot()
    colours = colormaps[MODEL_PALETTE].colors
    runs = list(dict.fromkeys(point.get("run_label", "this run") for point in points))
    markers = "osD^v"
    for point in points:
        run = point.get("run_label", "this run")
        colour = colours[0] if point["label"] == "MLP" else colours[1] if point["label"] == "CNN" else colours[2]
        ax.scatter(
            point["training_flops"],
            point["test_accuracy"] * 100,
            s=70,
            color=colour,
            marker=markers[runs.index(run) % len(markers)],
            edgecolor="black",
            zorder=3,
        )
        ax.annotate(
            f"{point['label']}, {run}: {point['test_accuracy']:.2%}",
            (point["training_flops"], point["test_accuracy"] * 100),
            xytext=(6, 4),
            textcoords="offset points",
        )
    accuracies = [point["test_accuracy"] * 100 for point in points] + [r["test_accuracy"] * 100 for r in references]
    low, high = min(accuracies) - 1, max(accuracies) + 0.8
    # Labels of references closer than a text line apart stack upwards, each a line above the one before.
    stacked, previous = [], None
    for reference in sorted(references, key=lambda reference: reference["test_accuracy"]):
        value = reference["test_accuracy"] * 100
        close = previous is not None and value - previous < (high - low) * 0.04
        stacked.append((reference, value, stacked[-1][2] + 1 if close else 0))
        previous = value
    high += max((level for _, _, level in stacked), default=0) * (high - low) * 0.04
    for reference, value, level in stacked:
        ax.axhline(value, color="grey", linestyle="--", linewidth=1, zorder=1)
        ax.annotate(
            f"{reference['label']}: {reference['figure']}",
            (0.01, value),
            xycoords=("axes fraction", "data"),
            xytext=(0, 2 + 11 * level),
            textcoords="offset points",
            color="dimgrey",
        )
    flops = [point["training_flops"] for point in points]
    ax.set_xscale("log")
    ax.set_xlim(min(flops) / 3, max(flops) * 30)
    ax.set_ylim(low, high)
    ax.set_xlabel("training FLOPs of the final model (one seed; log scale)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(title or "Test accuracy against training compute")
    ax.grid(alpha=0.3)
    best = max(points, key=lambda point: point["test_accuracy"])
    description = (
        f"Test accuracy against training FLOPs for {len(points)} models; the most accurate is the "
        f"{best['label']} of {best.get('run_label', 'this run')} at {best['test_accuracy']:.2%} after "
        f"{best['training_flops'] / 1e12:.1f} TFLOPs. Dashed lines: "
        + "; ".join(f"{r['label']} {r['figure']}" for r in references)
        + "."
    )
    return finish_figure(fig, description)
