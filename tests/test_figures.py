"""Figures: each function returns a Figure holding the expected axes, images and texts, on real images."""

from __future__ import annotations

import io

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.image import AxesImage
from matplotlib.patches import Rectangle

from fashion_lib import scores
from fashion_lib.analysis import figures
from fashion_lib.analysis.figures.base import BEST_COLOUR, CLASS_COLOURS, printed_text_size
from fashion_lib.config import CLASS_NAMES, NUM_CLASSES, SHIRT
from fashion_lib.data import FashionMNIST, scale_images


@pytest.fixture(scope="module")
def tiny_model():
    """A small untrained CNN, built directly with Keras (no training)."""
    keras = pytest.importorskip("keras")
    return keras.Sequential(
        [
            keras.Input(shape=(28, 28, 1)),
            keras.layers.Conv2D(4, 3, activation="relu", name="conv"),
            keras.layers.MaxPooling2D(name="pool"),
            keras.layers.Flatten(name="flatten"),
            keras.layers.Dense(10, activation="softmax", name="output"),
        ],
        name="tiny_cnn",
    )


@pytest.fixture()
def history() -> pd.DataFrame:
    """Five epochs with the best validation accuracy at epoch 3 and the lowest validation loss at epoch 4."""
    return pd.DataFrame(
        {
            "epoch": [1, 2, 3, 4, 5],
            "accuracy": [0.70, 0.80, 0.85, 0.88, 0.90],
            "loss": [0.9, 0.6, 0.45, 0.35, 0.30],
            "val_accuracy": [0.75, 0.82, 0.87, 0.86, 0.85],
            "val_loss": [0.8, 0.55, 0.42, 0.40, 0.41],
            "learning_rate": [0.01, 0.01, 0.01, 0.005, 0.0025],
        }
    )


@pytest.fixture()
def confusion_and_scores() -> tuple[pd.DataFrame, pd.DataFrame]:
    """A confusion matrix from synthetic labels and per-class scores with known best and worst cells."""
    y_true = np.repeat(np.arange(NUM_CLASSES), 10)
    y_pred = np.where(np.arange(len(y_true)) % 10 == 0, (y_true + 1) % NUM_CLASSES, y_true)
    per_class = scores.per_class_metrics(y_true, y_pred)
    # Precision: best Bag, worst Shirt; recall: best Trouser, worst Shirt; F1: best Trouser, worst Pullover.
    per_class["precision"] = 0.9
    per_class.loc[["Bag", "Shirt"], "precision"] = [0.99, 0.6]
    per_class["recall"] = 0.9
    per_class.loc[["Trouser", "Shirt"], "recall"] = [0.98, 0.7]
    per_class["f1"] = 0.85
    per_class.loc[["Trouser", "Pullover"], "f1"] = [0.97, 0.65]
    return scores.confusion_matrix_frame(y_true, y_pred), per_class


def image_axes(fig: Figure) -> list:
    """The axes of `fig` that show an image."""
    return [ax for ax in fig.axes if any(isinstance(artist, AxesImage) for artist in ax.get_images())]


def test_image_grid_titles_are_class_names(fashion: FashionMNIST) -> None:
    fig = figures.plot_image_grid(fashion.train_images, fashion.train_labels)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 50 and len(image_axes(fig)) == 50
    assert [ax.get_title() for ax in fig.axes] == [CLASS_NAMES[label] for label in fashion.train_labels[:50]]
    np.testing.assert_array_equal(fig.axes[0].get_images()[0].get_array(), fashion.train_images[0])
    # Dark ink: several class colours are too pale to read as text on white.
    assert {to_rgb(ax.title.get_color()) for ax in fig.axes} == {(0.0, 0.0, 0.0)}
    assert printed_text_size(fig) >= 7.0


def test_image_grid_accepts_scaled_flat_images_and_drops_surplus_cells(fashion: FashionMNIST) -> None:
    flat = scale_images(fashion.test_images[:13]).reshape(13, -1)
    fig = figures.plot_image_grid(flat, fashion.test_labels[:13], count=13, columns=5, title="Test")
    assert len(fig.axes) == 13
    assert fig.get_suptitle() == "Test"


def test_image_grid_rejects_wrong_image_shape() -> None:
    with pytest.raises(ValueError, match="shape"):
        figures.plot_image_grid(np.zeros((3, 27, 27)), [0, 1, 2])


def test_class_frequencies_bars_are_counts(fashion: FashionMNIST) -> None:
    fig = figures.plot_class_frequencies(fashion.train_labels, fashion.test_labels)
    train_ax, test_ax = fig.axes
    assert [bar.get_height() for bar in train_ax.patches] == [6000] * NUM_CLASSES
    assert [bar.get_height() for bar in test_ax.patches] == [1000] * NUM_CLASSES
    assert [label.get_text() for label in train_ax.get_xticklabels()] == list(CLASS_NAMES)
    assert train_ax.patches[SHIRT].get_facecolor()[:3] == pytest.approx(CLASS_COLOURS["Shirt"])


def table_texts(fig: Figure) -> list[str]:
    """Every cell text of the figure's tables."""
    return [cell.get_text().get_text() for ax in fig.axes for table in ax.tables for cell in table.get_celld().values()]


def test_architecture_table(tiny_model) -> None:
    fig = figures.plot_architecture(tiny_model, prefer_table=True)
    texts = table_texts(fig)
    assert not image_axes(fig)
    for layer in tiny_model.layers:
        assert layer.name in texts
        assert f"{layer.count_params():,}" in texts
    assert "(None, 26, 26, 4)" in texts  # the convolution's output shape
    assert "Dense" in texts
    assert f"{tiny_model.count_params():,}" in fig.axes[0].get_title()


def figure_texts(fig: Figure) -> list[str]:
    """Every visible text of the figure's axes."""
    return [text.get_text() for ax in fig.axes for text in ax.texts if text.get_text()]


def test_architecture_drawing_numbers_every_layer_with_its_output_and_parameters(tiny_model) -> None:
    fig = figures.plot_architecture(tiny_model)
    texts = figure_texts(fig)
    assert texts[0] == "1. Input" and texts[1] == "→ 28×28×1"
    assert "2. Conv2D: 4 filters 3×3, relu" in texts and "→ 26×26×4, 40 parameters" in texts
    assert texts[-2:] == ["5. Dense: 10 units, softmax", f"→ 10, {tiny_model.layers[-1].count_params():,} parameters"]
    assert not image_axes(fig) and not table_texts(fig)


def test_architecture_shows_the_keras_layers_a_saved_model_holds() -> None:
    from fashion_lib.models.builders import build_cnn

    model = build_cnn(conv_blocks=2, filters=8, dropout_rate=0.2)
    assert {type(layer).__name__ for layer in model.layers} & {"FusedBatchNormalization", "FastDropout"}
    text = " ".join(figure_texts(figures.plot_architecture(model)))
    assert "BatchNormalization" in text and "Dropout: rate 0.2" in text
    assert "Fused" not in text and "FastDropout" not in text


def test_architecture_of_a_deep_model_wraps_into_columns_that_print_readably() -> None:
    keras = pytest.importorskip("keras")
    layers = [keras.Input(shape=(64,))] + [keras.layers.Dense(8, name=f"dense_{index}") for index in range(20)]
    fig = figures.plot_architecture(keras.Sequential(layers))
    assert len(figure_texts(fig)) == 2 * 21
    assert printed_text_size(fig) >= 7.0
    assert fig.get_figheight() < 7.0


@pytest.mark.parametrize(("metric", "best_epoch", "best_value"), [("accuracy", 3, 0.87), ("loss", 4, 0.40)])
def test_history_marks_best_validation_epoch(
    history: pd.DataFrame, metric: str, best_epoch: int, best_value: float
) -> None:
    fig = figures.plot_history(history, metric=metric)
    (ax,) = fig.axes
    lines = {line.get_label(): line for line in ax.get_lines()}
    np.testing.assert_array_equal(lines["training"].get_ydata(), history[metric])
    np.testing.assert_array_equal(lines["validation"].get_ydata(), history[f"val_{metric}"])
    best = next(line for label, line in lines.items() if label.startswith("best validation"))
    assert (best.get_xdata()[0], best.get_ydata()[0]) == (best_epoch, pytest.approx(best_value))
    assert f"epoch {best_epoch}" in best.get_label()


def test_history_draws_no_line_through_the_best_epochs_marker(history: pd.DataFrame) -> None:
    (ax,) = figures.plot_history(history).axes
    assert [line.get_label() for line in ax.get_lines()][:2] == ["training", "validation"]
    assert len(ax.get_lines()) == 3


def test_reference_lines_run_beneath_the_markers_and_their_value_labels() -> None:
    intervals = pd.DataFrame({"estimate": [0.835], "lower": [0.83], "upper": [0.84]}, index=["Pixels"])
    fig = figures.plot_accuracy_intervals(intervals, references={"human": 0.835})
    (ax,) = fig.axes
    reference = next(line for line in ax.get_lines() if line.get_label().startswith("human"))
    (label,) = ax.texts
    assert label.get_text() == "83.50%" and label.get_zorder() > reference.get_zorder()
    assert label.get_bbox_patch().get_facecolor()[:3] == (1.0, 1.0, 1.0)
    assert all(line.get_zorder() > reference.get_zorder() for line in ax.get_lines() if line is not reference)
    assert "Reference lines: human 83.5%." in fig.description


def test_history_rejects_missing_metric(history: pd.DataFrame) -> None:
    with pytest.raises(ValueError, match="val_top5"):
        figures.plot_history(history, metric="top5")


def test_confusion_matrix_counts_and_highlights(confusion_and_scores) -> None:
    confusion, per_class = confusion_and_scores
    fig = figures.plot_confusion_matrix(confusion, per_class, title="MLP")
    count_ax, metric_ax = fig.axes
    assert sorted(int(text.get_text()) for text in count_ax.texts) == sorted(confusion.to_numpy().ravel())
    assert len(metric_ax.texts) == 3 * NUM_CLASSES
    outlines = [patch for patch in metric_ax.patches if isinstance(patch, Rectangle)]
    by_colour: dict[str, set[tuple[int, int]]] = {"best": set(), "worst": set()}
    for patch in outlines:
        kind = "best" if patch.get_edgecolor()[:3] == pytest.approx(to_rgb(BEST_COLOUR)) else "worst"
        by_colour[kind].add((int(patch.get_x()), int(patch.get_y())))
    # Cells are (column, row): columns precision, recall, F1; rows follow CLASS_NAMES.
    row = {name: CLASS_NAMES.index(name) for name in ("Trouser", "Pullover", "Shirt", "Bag")}
    assert by_colour["best"] == {(0, row["Bag"]), (1, row["Trouser"]), (2, row["Trouser"])}
    assert by_colour["worst"] == {(0, row["Shirt"]), (1, row["Shirt"]), (2, row["Pullover"])}
    assert fig.get_suptitle() == "MLP"


def test_confusion_matrix_rejects_mismatched_classes(confusion_and_scores) -> None:
    confusion, per_class = confusion_and_scores
    with pytest.raises(ValueError, match="same classes"):
        figures.plot_confusion_matrix(confusion, per_class.iloc[::-1])


def test_gallery_titles_show_predictions(fashion: FashionMNIST) -> None:
    shirts = np.flatnonzero(fashion.test_labels == SHIRT)[:25]
    predicted = np.resize([0, 2, 4, 3], 25)
    fig = figures.plot_gallery(fashion.test_images[shirts], fashion.test_labels[shirts], predicted, title="MLP errors")
    assert len(image_axes(fig)) == 20
    assert [ax.get_title() for ax in fig.axes] == [f"predicted:\n{CLASS_NAMES[p]}" for p in predicted[:20]]
    assert "Shirt" in fig.get_suptitle() and "20 of 25" in fig.get_suptitle()


def test_gallery_with_two_models(fashion: FashionMNIST) -> None:
    images = fashion.test_images[:3]
    fig = figures.plot_gallery(images, [SHIRT] * 3, [0, 2, 4], second_predictions=[SHIRT] * 3)
    assert [ax.get_title() for ax in fig.axes] == [f"MLP: {CLASS_NAMES[p]}\nCNN: Shirt" for p in (0, 2, 4)]


def test_gallery_names_true_class_when_classes_differ(fashion: FashionMNIST) -> None:
    fig = figures.plot_gallery(fashion.test_images[:2], [0, 1], [1, 0], model_names=("A", "B"))
    assert fig.axes[0].get_title() == "true: T-shirt/top\npredicted:\nTrouser"


def test_gallery_empty_selection_says_so() -> None:
    fig = figures.plot_gallery(np.zeros((0, 28, 28), np.uint8), [], [], title="CNN corrects MLP")
    assert not image_axes(fig)
    assert [text.get_text() for text in fig.axes[0].texts] == ["no examples"]


def test_trials_best_so_far() -> None:
    trials = pd.DataFrame({"trial_id": ["00", "01", "02", "03", "04"], "score": [0.80, 0.85, np.nan, 0.83, 0.88]})
    fig = figures.plot_trials(trials)
    (ax,) = fig.axes
    lines = {line.get_label(): line for line in ax.get_lines()}
    np.testing.assert_allclose(lines["best so far"].get_ydata(), [0.80, 0.85, 0.85, 0.85, 0.88])
    np.testing.assert_allclose(lines["trial score"].get_ydata(), trials["score"])
    assert any("trial 04" in text.get_text() for text in ax.texts)


def test_model_comparison_grouped_bars(confusion_and_scores) -> None:
    _, per_class = confusion_and_scores
    other = per_class.assign(f1=np.linspace(0.5, 0.95, NUM_CLASSES))
    fig = figures.plot_model_comparison({"MLP": per_class, "CNN": other, "Soft vote": other})
    (ax,) = fig.axes
    assert len(ax.patches) == 3 * NUM_CLASSES
    heights = [bar.get_height() for bar in ax.patches]
    np.testing.assert_allclose(heights[:NUM_CLASSES], per_class["f1"])
    np.testing.assert_allclose(heights[NUM_CLASSES : 2 * NUM_CLASSES], other["f1"])
    assert [text.get_text() for text in ax.get_legend().get_texts()] == ["MLP", "CNN", "Soft vote"]


def test_model_comparison_rejects_missing_metric(confusion_and_scores) -> None:
    _, per_class = confusion_and_scores
    with pytest.raises(ValueError, match="auc"):
        figures.plot_model_comparison({"MLP": per_class}, metric="auc")


def test_figures_render_and_stay_out_of_pyplot(
    fashion: FashionMNIST, history, confusion_and_scores, tiny_model
) -> None:
    from fashion_lib.analysis import calibration

    open_before = plt.get_fignums()
    confusion, per_class = confusion_and_scores
    generator = np.random.default_rng(0)
    intervals = pd.DataFrame(
        {"estimate": [0.79, 0.835], "lower": [0.78, 0.82], "upper": [0.80, 0.85]}, index=["MLP", "CNN"]
    )
    per_class_intervals = pd.DataFrame(
        {"estimate": per_class["f1"], "lower": per_class["f1"] - 0.02, "upper": per_class["f1"] + 0.02}
    )
    probabilities = generator.dirichlet(np.full(NUM_CLASSES, 0.3), size=200)
    reliability = calibration.reliability_table(generator.integers(0, NUM_CLASSES, 200), probabilities, bins=10)
    trials = pd.DataFrame({"trial_id": ["a", "b", "c"], "score": [0.5, 0.7, 0.6]})
    drawn = [
        figures.plot_image_grid(fashion.train_images, fashion.train_labels, count=20),
        figures.plot_class_frequencies(fashion.train_labels, fashion.test_labels),
        figures.plot_architecture(tiny_model),
        figures.plot_history(history),
        figures.plot_confusion_matrix(confusion, per_class),
        figures.plot_gallery(fashion.test_images[:4], [0, 0, 0, 0], [1, 2, 3, 4], second_predictions=[0, 0, 1, 1]),
        figures.plot_trials(pd.DataFrame({"trial_id": ["a", "b"], "score": [0.5, 0.6]})),
        figures.plot_model_comparison({"MLP": per_class}),
        figures.plot_accuracy_intervals(intervals, references={"human": 0.835}),
        figures.plot_per_class_intervals({"MLP": per_class_intervals, "CNN": per_class_intervals}),
        figures.plot_vote_weights(
            pd.DataFrame({"mlp": [0.0, 0.5, 1.0], "validation_accuracy": [0.8, 0.85, 0.82]}),
            weight_column="mlp",
            chosen=0.5,
            model_label="MLP",
        ),
        figures.plot_reliability({"MLP": reliability, "CNN": reliability}),
        figures.plot_gradcam(fashion.test_images[:8], generator.random((8, 28, 28)), [SHIRT] * 8, [SHIRT, 0] * 4),
        figures.plot_embedding(generator.normal(size=(40, 2)), np.arange(40) % NUM_CLASSES),
        figures.plot_search_strategies({"Bayesian": trials, "random": trials}),
    ]
    for fig in drawn:
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=40)
        assert buffer.getvalue().startswith(b"\x89PNG")
        # Every figure says in words what it shows, and its text stays readable on a printed page.
        assert len(fig.description) > 40 and "nan" not in fig.description
        assert printed_text_size(fig) >= 7.0
    # Figures are not registered with pyplot, so notebooks show each once and nothing leaks.
    assert plt.get_fignums() == open_before
    # Without pyplot's inline backend, IPython displays a figure through its own PNG repr, the description
    # as the image's alternative text.
    assert drawn[3]._repr_png_().startswith(b"\x89PNG")
    data, metadata = drawn[3]._repr_mimebundle_()
    assert data["image/png"].startswith(b"\x89PNG") and data["text/plain"] == drawn[3].description
    assert metadata == {"image/png": {"alt": drawn[3].description}}


def test_reliability_panels_are_titled_with_the_calibration_modules_ece() -> None:
    from fashion_lib.analysis import calibration

    generator = np.random.default_rng(0)
    probabilities = generator.dirichlet(np.full(NUM_CLASSES, 0.3), size=400)
    labels = generator.integers(0, NUM_CLASSES, size=400)
    table = calibration.reliability_table(labels, probabilities, bins=10)
    figure = figures.plot_reliability({"MLP": table})
    expected = calibration.expected_calibration_error(labels, probabilities, bins=10)
    assert figure.axes[0].get_title() == f"MLP\nECE {expected:.2%}"
