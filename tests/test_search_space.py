"""The search spaces read back through Keras Tuner: tables, conditions, and models built from values."""

from __future__ import annotations

import keras
import keras_tuner
import numpy as np
import pytest

from fashion_lib.models.builders import build_cnn, build_mlp
from fashion_lib.models.hypermodels import CNNHyperModel, MLPHyperModel, make_hypermodel
from fashion_lib.models.search_space import build_from_hyperparameters, declare_search_space, search_space_table


def _layers(model: keras.Model, kind: type) -> list[keras.layers.Layer]:
    return [layer for layer in model.layers if isinstance(layer, kind)]


def test_seed_mlp_search_space_is_the_seed_reports() -> None:
    table = search_space_table(MLPHyperModel("seed"))
    expected = [("num_layers", "Int", "1 - 3", "")]
    for index, condition in enumerate(["num_layers in {1, 2, 3}", "num_layers in {2, 3}", "num_layers in {3}"]):
        expected += [
            (f"units_{index}", "Choice", "256, 512, 1024", condition),
            (f"l2_{index}", "Choice", "0.01, 0.001", condition),
            (f"dropout_{index}", "Float", "0.1 - 0.3", condition),
        ]
    expected += [("learning_rate", "Choice", "0.01, 0.001", ""), ("momentum", "Float", "0.5 - 0.9", "")]
    assert list(table.itertuples(index=False, name=None)) == expected


def test_seed_cnn_search_space_is_the_seed_reports() -> None:
    table = search_space_table(CNNHyperModel("seed"))
    assert list(table.itertuples(index=False, name=None)) == [
        ("conv_blocks", "Int", "1 - 3", ""),
        ("filters", "Choice", "8, 16", ""),
        ("dropout", "Float", "0 - 0.2", ""),
        ("learning_rate", "Choice", "0.01, 0.001", ""),
    ]


def test_extended_spaces_make_optimizer_extras_conditional() -> None:
    for model_name in ("mlp", "cnn"):
        table = search_space_table(make_hypermodel(model_name, "extended")).set_index("name")
        assert table.loc["optimizer", "values"] == "sgd, adam, adamw"
        assert table.loc["momentum", "condition"] == "optimizer in {sgd}"
        assert table.loc["weight_decay", "condition"] == "optimizer in {adamw}"
        assert table.loc["learning_rate", "values"].endswith("(log)")
    cnn = search_space_table(make_hypermodel("cnn", "extended")).set_index("name")
    assert cnn.loc["dense_dropout", "condition"] == "dense_units in {128, 256}"
    assert cnn.loc["augment", "kind"] == "Boolean"
    assert cnn.loc["convs_per_block", "condition"] == "filters in {16}"


def test_extended_cnn_stacks_two_convolutions_only_with_16_filters() -> None:
    base = {
        "conv_blocks": 2,
        "dropout": 0.1,
        "dense_units": 0,
        "augment": False,
        "optimizer": "adam",
        "learning_rate": 0.001,
    }
    wide = build_from_hyperparameters("cnn", base | {"filters": 32}, space="extended")
    assert [layer.filters for layer in _layers(wide, keras.layers.Conv2D)] == [32, 64]
    with pytest.raises(ValueError, match="convs_per_block"):
        build_from_hyperparameters("cnn", base | {"filters": 16}, space="extended")


def test_layer_hyperparameters_exist_only_when_the_layer_does() -> None:
    hypermodel = MLPHyperModel("seed")
    hp = keras_tuner.HyperParameters()
    hp.values["num_layers"] = 2
    arguments = hypermodel.builder_arguments(hp)
    assert len(arguments["hidden_units"]) == 2
    assert {"units_0", "units_1"} <= set(hp.values)
    assert "units_2" not in hp.values and not hp.is_active("units_2")
    # The inactive layer's hyperparameters are still declared, so the oracle knows the whole space.
    assert "units_2" in {parameter.name for parameter in hp.space}


@pytest.mark.parametrize("model_name", ["mlp", "cnn"])
def test_hypermodel_build_is_the_plain_builder(model_name: str) -> None:
    hypermodel = make_hypermodel(model_name, "extended")
    hp = declare_search_space(hypermodel)
    builder = build_mlp if model_name == "mlp" else build_cnn
    from_hypermodel = hypermodel.build(hp)
    from_builder = builder(**hypermodel.builder_arguments(hp))
    assert from_hypermodel.get_config() == from_builder.get_config()


def test_build_from_hyperparameters_builds_the_described_mlp() -> None:
    values = {
        "num_layers": 2,
        "units_0": 1024,
        "l2_0": 0.001,
        "dropout_0": 0.25,
        "units_1": 256,
        "l2_1": 0.01,
        "dropout_1": 0.1,
        "learning_rate": 0.001,
        "momentum": 0.6,
        # A row of the trials table also carries the absent third layer as NaN.
        "units_2": np.nan,
    }
    model = build_from_hyperparameters("mlp", values)
    hidden = _layers(model, keras.layers.Dense)[:-1]
    assert [layer.units for layer in hidden] == [1024, 256]
    assert [float(layer.kernel_regularizer.l2) for layer in hidden] == pytest.approx([0.001, 0.01])
    assert [layer.rate for layer in _layers(model, keras.layers.Dropout)] == pytest.approx([0.25, 0.1])
    assert float(model.optimizer.learning_rate) == pytest.approx(0.001)
    assert model.optimizer.momentum == pytest.approx(0.6)


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "adamw"])
def test_build_from_hyperparameters_builds_extended_cnns(optimizer: str) -> None:
    values = {
        "conv_blocks": 2,
        "filters": 16,
        "convs_per_block": 2,
        "dropout": 0.2,
        "dense_units": 128,
        "dense_dropout": 0.4,
        "augment": True,
        "optimizer": optimizer,
        "learning_rate": 0.002,
        "momentum": 0.9,
        "weight_decay": 0.01,
    }
    model = build_from_hyperparameters("cnn", values, space="extended")
    assert [layer.filters for layer in _layers(model, keras.layers.Conv2D)] == [16, 16, 32, 32]
    assert model.get_layer("dense_dropout").rate == pytest.approx(0.4)
    assert type(model.optimizer).__name__.lower() == optimizer


def test_build_from_hyperparameters_rejects_unknown_and_missing_values() -> None:
    complete = {"conv_blocks": 1, "filters": 8, "dropout": 0.1, "learning_rate": 0.01}
    with pytest.raises(ValueError, match="kernel"):
        build_from_hyperparameters("cnn", {**complete, "kernel": 5})
    with pytest.raises(ValueError, match="filters"):
        build_from_hyperparameters("cnn", {k: v for k, v in complete.items() if k != "filters"})
