"""Model builders, optimizers and the hypermodels on top of them."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from fashion_lib import config
from fashion_lib.models.builders import STEPS_PER_EXECUTION, build_cnn, build_mlp, make_optimizer
from fashion_lib.models.hypermodels import CNNHyperModel, MLPHyperModel, make_hypermodel


def _layers(model: keras.Model, kind: type) -> list[keras.layers.Layer]:
    return [layer for layer in model.layers if isinstance(layer, kind)]


@pytest.mark.parametrize(
    ("name", "kind"),
    [("sgd", keras.optimizers.SGD), ("SGD", keras.optimizers.SGD), ("adam", keras.optimizers.Adam)],
)
def test_make_optimizer_returns_the_named_optimizer(name: str, kind: type) -> None:
    optimizer = make_optimizer(name, 0.02, momentum=0.5)
    assert type(optimizer) is kind
    assert float(optimizer.learning_rate) == pytest.approx(0.02)


def test_make_optimizer_gives_sgd_its_momentum_and_adamw_its_decay() -> None:
    assert make_optimizer("sgd", 0.01, momentum=0.7).momentum == pytest.approx(0.7)
    adamw = make_optimizer("adamw", 0.001, weight_decay=0.05)
    assert isinstance(adamw, keras.optimizers.AdamW)
    assert adamw.weight_decay == pytest.approx(0.05)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"name": "rmsprop", "learning_rate": 0.01}, "'sgd', 'adam', 'adamw'"),
        ({"name": "sgd", "learning_rate": 0.0}, "learning_rate"),
        ({"name": "sgd", "learning_rate": 0.01, "momentum": 1.0}, "momentum"),
        ({"name": "adamw", "learning_rate": 0.01, "weight_decay": -1.0}, "weight_decay"),
    ],
)
def test_make_optimizer_rejects_bad_arguments(arguments: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make_optimizer(**arguments)


def test_build_mlp_has_one_regularised_block_per_layer() -> None:
    model = build_mlp(hidden_units=(256, 128), dropout_rates=(0.1, 0.3), l2_factors=0.01, momentum=0.8)
    assert model.input_shape == (None, *config.IMAGE_SHAPE)
    hidden = _layers(model, keras.layers.Dense)[:-1]
    assert [layer.units for layer in hidden] == [256, 128]
    assert [float(layer.kernel_regularizer.l2) for layer in hidden] == pytest.approx([0.01, 0.01])
    assert not any(layer.use_bias for layer in hidden)  # the batch normalisation after each has an offset
    assert [layer.rate for layer in _layers(model, keras.layers.Dropout)] == pytest.approx([0.1, 0.3])
    assert len(_layers(model, keras.layers.BatchNormalization)) == 2
    assert [layer.activation.__name__ for layer in _layers(model, keras.layers.Activation)] == ["selu", "selu"]
    output = model.layers[-1]
    assert output.units == config.NUM_CLASSES and output.activation.__name__ == "softmax"
    assert isinstance(model.optimizer, keras.optimizers.SGD)
    assert model.optimizer.momentum == pytest.approx(0.8)


def test_steps_per_execution_changes_no_number(small_split: dict) -> None:
    """Looping steps inside the graph only saves dispatches: the same seed gives the same weights and
    history, also when the last call of an epoch has fewer steps (10 batches in calls of 8)."""
    from fashion_lib.seeding import set_global_seed

    results = []
    for steps in (1, 8):
        set_global_seed(3)
        model = build_mlp(hidden_units=(32,), steps_per_execution=steps)
        assert model.steps_per_execution == steps
        history = model.fit(
            small_split["train_x"][:320], small_split["train_y"][:320], batch_size=32, epochs=2, verbose=0
        ).history
        results.append((history, [weight.numpy() for weight in model.weights]))
    assert build_mlp(hidden_units=(32,)).steps_per_execution == STEPS_PER_EXECUTION == 8
    (history_one, weights_one), (history_eight, weights_eight) = results
    assert history_one == history_eight
    for one, eight in zip(weights_one, weights_eight, strict=True):
        np.testing.assert_array_equal(one, eight)
    with pytest.raises(ValueError, match="steps_per_execution"):
        build_cnn(steps_per_execution=0)


def test_build_mlp_is_compiled_with_sparse_crossentropy_and_accuracy(small_split: dict) -> None:
    model = build_mlp(hidden_units=(32,))
    assert model.loss == "sparse_categorical_crossentropy"
    scores = model.evaluate(small_split["val_x"][:8], small_split["val_y"][:8], verbose=0, return_dict=True)
    assert set(scores) == {"loss", "accuracy"}


@pytest.mark.parametrize(
    "arguments",
    [
        {"hidden_units": (64, 32), "dropout_rates": (0.1, 0.2, 0.3)},
        {"hidden_units": (64,), "l2_factors": (0.01, 0.01)},
        {"hidden_units": (64,), "dropout_rates": 1.5},
        {"hidden_units": (0,)},
    ],
)
def test_build_mlp_rejects_inconsistent_layers(arguments: dict) -> None:
    with pytest.raises(ValueError):
        build_mlp(**arguments)


def test_build_cnn_doubles_the_filters_in_each_block() -> None:
    model = build_cnn(conv_blocks=3, filters=8, convs_per_block=2, kernel_size=5, dense_units=64, dense_dropout=0.3)
    convolutions = _layers(model, keras.layers.Conv2D)
    assert [layer.filters for layer in convolutions] == [8, 8, 16, 16, 32, 32]
    assert {layer.kernel_size for layer in convolutions} == {(5, 5)}
    assert len(_layers(model, keras.layers.MaxPooling2D)) == 3
    assert [layer.units for layer in _layers(model, keras.layers.Dense)] == [64, config.NUM_CLASSES]
    assert model.output_shape == (None, config.NUM_CLASSES)


def test_build_cnn_relu_after_pooling_computes_relu_then_pooling(small_split: dict) -> None:
    import tensorflow as tf

    model = build_cnn(conv_blocks=2, filters=4, convs_per_block=2, dropout_rate=0.0)
    images = tf.constant(small_split["train_x"][:16])

    def relu_then_pool(x: tf.Tensor) -> tf.Tensor:
        # The textbook order, through the model's own layers (and so its weights).
        x = model.get_layer("add_channel")(x)
        for block in range(2):
            for conv in range(2):
                x = model.get_layer(f"conv_{block}_{conv}")(x)
                x = model.get_layer(f"batch_norm_{block}_{conv}")(x, training=True)
                x = tf.nn.relu(x)
            x = model.get_layer(f"max_pool_{block}")(x)
        return model.get_layer("class_probabilities")(model.get_layer("flatten")(x))

    results = []
    for forward in (lambda x: model(x, training=True), relu_then_pool):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.math.log(forward(images)[:, 0]))
        results.append([loss, *tape.gradient(loss, model.trainable_variables)])
    for ours, textbook in zip(*results, strict=True):
        np.testing.assert_allclose(ours.numpy(), textbook.numpy(), rtol=1e-5, atol=1e-6)


def test_build_cnn_takes_28_by_28_images_and_returns_probabilities(small_split: dict) -> None:
    model = build_cnn(conv_blocks=1, filters=4)
    assert model.input_shape == (None, *config.IMAGE_SHAPE)
    probabilities = model.predict(small_split["test_x"][:5], verbose=0)
    assert probabilities.shape == (5, config.NUM_CLASSES)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


def test_build_cnn_augmentation_is_inactive_at_inference(small_split: dict) -> None:
    model = build_cnn(conv_blocks=1, filters=4, augment=True)
    assert any(isinstance(layer, keras.layers.RandomFlip) for layer in model.layers)
    assert any(isinstance(layer, keras.layers.RandomTranslation) for layer in model.layers)
    images = small_split["test_x"][:4]
    first = keras.ops.convert_to_numpy(model(images, training=False))
    second = keras.ops.convert_to_numpy(model(images, training=False))
    np.testing.assert_array_equal(first, second)


@pytest.mark.parametrize(
    "arguments", [{"conv_blocks": 0}, {"conv_blocks": 5}, {"dropout_rate": -0.1}, {"optimizer": "lbfgs"}]
)
def test_build_cnn_rejects_bad_arguments(arguments: dict) -> None:
    with pytest.raises(ValueError):
        build_cnn(**arguments)


@pytest.mark.parametrize("hypermodel_class", [MLPHyperModel, CNNHyperModel])
def test_hypermodels_reject_unknown_spaces(hypermodel_class: type) -> None:
    with pytest.raises(ValueError, match="'seed', 'extended'"):
        hypermodel_class("huge")


def test_make_hypermodel_picks_the_model_and_space() -> None:
    hypermodel = make_hypermodel("cnn", "extended")
    assert isinstance(hypermodel, CNNHyperModel) and hypermodel.space == "extended"
    assert isinstance(make_hypermodel("mlp"), MLPHyperModel)
    with pytest.raises(ValueError, match="'mlp', 'cnn'"):
        make_hypermodel("rnn")
