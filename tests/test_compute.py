"""Training compute: FLOPs counted from the layers, the run's record, and the accuracy-against-compute figure."""

from __future__ import annotations

import json

import keras
import pandas as pd
import pytest

from fashion_lib.analysis import compute, replication
from fashion_lib.models.builders import build_cnn, build_mlp
from fashion_lib.report import landing


def small_cnn() -> keras.Model:
    inputs = keras.Input((28, 28, 1))
    x = keras.layers.Conv2D(8, 3, padding="same")(inputs)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.DepthwiseConv2D(3, padding="same")(x)
    x = keras.layers.Flatten()(x)
    return keras.Model(inputs, keras.layers.Dense(10)(x))


def test_forward_flops_count_two_per_multiply_add_of_each_convolution_and_dense_layer():
    conv = 2 * 28 * 28 * 8 * 1 * 9
    depthwise = 2 * 14 * 14 * 8 * 9
    dense = 2 * (14 * 14 * 8) * 10
    assert compute.forward_flops(small_cnn()) == conv + depthwise + dense
    # The default MLP: 784 -> 512 -> 10.
    assert compute.forward_flops(build_mlp()) == 2 * (784 * 512 + 512 * 10)


def test_a_wider_cnn_costs_more():
    assert compute.forward_flops(build_cnn(filters=16)) > compute.forward_flops(build_cnn(filters=8))


def test_training_costs_three_forward_passes_per_image_and_epoch():
    assert compute.training_flops(1_000, images=50, epochs=4) == 3 * 1_000 * 50 * 4
    assert compute.search_flops([10, 20], images=5, epochs_per_trial=2) == 3 * (10 + 20) * 5 * 2
    with pytest.raises(ValueError, match="images and epochs must be 0 or more"):
        compute.training_flops(1_000, images=-1, epochs=4)


def test_each_completed_trial_is_rebuilt_from_its_row():
    trials = pd.DataFrame(
        {
            "trial_id": ["0", "1", "2"],
            "status": ["COMPLETED", "COMPLETED", "FAILED"],
            "score": [0.8, 0.82, None],
            "num_layers": pd.array([1, 2, 1], dtype="Int64"),
            "units_0": pd.array([256, 512, 256], dtype="Int64"),
            "units_1": pd.array([pd.NA, 256, pd.NA], dtype="Int64"),
            "dropout_0": [0.1, 0.1, 0.1],
            "dropout_1": [float("nan"), 0.2, float("nan")],
            "l2_0": [0.01, 0.01, 0.01],
            "l2_1": [float("nan"), 0.001, float("nan")],
            "learning_rate": [0.01, 0.01, 0.01],
            "momentum": [0.9, 0.9, 0.9],
        }
    )
    assert compute.trial_forwards(trials, "mlp", "seed") == [
        2 * (784 * 256 + 256 * 10),
        2 * (784 * 512 + 512 * 256 + 256 * 10),
    ]


def test_a_models_record_and_the_quoted_runs(tmp_path):
    summary = {"label": "MLP", "test_accuracy": 0.88, "epochs_trained": 30, "seed_runs": [{}, {}, {}]}
    summary |= {"epochs_per_trial": 5, "search_images": 1_000}
    record = compute.model_compute(build_mlp(), summary, train_images=54_000, search_forwards=[100, 200])
    forward = 2 * (784 * 512 + 512 * 10)
    assert record["training_flops"] == 3 * forward * 54_000 * 30
    assert record["search_flops"] == 3 * 300 * 1_000 * 5
    assert record["training_seeds"] == 3
    published = {"run": {"id": "20261203-1"}, "compute": {"models": {"mlp": record}}}
    (tmp_path / "standard").mkdir()
    (tmp_path / "standard" / "metrics.json").write_text(json.dumps(published))
    (tmp_path / "quick").mkdir()
    (tmp_path / "quick" / "metrics.json").write_text(json.dumps(published))
    quoted = compute.quoted_points(tmp_path, current_profile="quick")
    assert [point["run_label"] for point in quoted] == ["standard run 20261203-1"]
    assert compute.quoted_points(tmp_path, current_profile="standard") == []
    table = compute.compute_table({"mlp": record}, quoted)
    assert list(table["run"]) == ["this run", "standard run 20261203-1"]
    assert table["training TFLOPs (one seed)"].iloc[0] == round(record["training_flops"] / 1e12, 2)


def test_the_figure_and_the_landing_page_draw_the_runs_record():
    models = {
        "mlp": {"label": "MLP", "test_accuracy": 0.885, "training_flops": 2e12, "forward_flops": 8e5},
        "cnn": {"label": "CNN", "test_accuracy": 0.931, "training_flops": 9e12, "forward_flops": 4e6},
    }
    for model in models.values():
        model |= {"epochs_trained": 20, "train_images": 54_000}
    references = compute.seed_references(replication.CLAIMS_BY_KEY) + list(compute.REFERENCES)
    assert [r["label"] for r in references[:2]] == ["seed report's MLP", "seed report's CNN"]
    assert [r["figure"] for r in references[:2]] == ["88.1%", "92.6%"]
    record = compute.compute_record(models, [], references)
    fig = compute.figure_of_record(record)
    assert "the most accurate is the CNN of this run at 93.10%" in fig.description
    assert fig.axes[0].get_xscale() == "log"
    assert len(fig.axes[0].lines) == len(references)
    assert "4.5× the MLP's" in compute.describe_costs(models)
    page = landing._compute_html({"compute": record})
    assert page.count("<svg") == 1 and "What the accuracy cost" in page
    assert landing._compute_html({}) == ""
