"""Every figure of the report, in one module per stage of the study it shows: each function takes data and returns
a `ReportFigure` (see `figures.base`) that describes itself in words, and neither shows nor saves it. Notebooks
write `from fashion_lib.analysis import figures` and `figures.plot_history(...)`."""

from fashion_lib.analysis.figures.architecture import plot_architecture
from fashion_lib.analysis.figures.base import ReportFigure, finish_figure
from fashion_lib.analysis.figures.compute import plot_accuracy_against_compute
from fashion_lib.analysis.figures.data import plot_class_frequencies, plot_image_grid
from fashion_lib.analysis.figures.evaluation import plot_confusion_matrix, plot_gallery, plot_model_comparison
from fashion_lib.analysis.figures.explanations import plot_embedding, plot_gradcam
from fashion_lib.analysis.figures.search import plot_search_strategies, plot_trials
from fashion_lib.analysis.figures.statistics import (
    plot_accuracy_intervals,
    plot_per_class_intervals,
    plot_reliability,
    plot_vote_weights,
)
from fashion_lib.analysis.figures.training import plot_history

__all__ = [
    "ReportFigure",
    "finish_figure",
    "plot_accuracy_against_compute",
    "plot_accuracy_intervals",
    "plot_architecture",
    "plot_class_frequencies",
    "plot_confusion_matrix",
    "plot_embedding",
    "plot_gallery",
    "plot_gradcam",
    "plot_history",
    "plot_image_grid",
    "plot_model_comparison",
    "plot_per_class_intervals",
    "plot_reliability",
    "plot_search_strategies",
    "plot_trials",
    "plot_vote_weights",
]
