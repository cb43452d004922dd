"""fashion_lib.models.layers compute what Keras' BatchNormalization and Dropout compute."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from fashion_lib.models import builders, layers


def _train_step(layer: keras.layers.Layer, inputs: np.ndarray) -> tuple[np.ndarray, list[np.ndarray]]:
    inputs = tf.constant(inputs)
    with tf.GradientTape() as tape:
        tape.watch(inputs)
        outputs = layer(inputs, training=True)
        # A loss that weighs every output differently, so that wrong gradients cannot cancel out.
        loss = tf.reduce_sum(outputs * tf.reshape(tf.range(tf.size(outputs), dtype=tf.float32), tf.shape(outputs)))
    gradients = tape.gradient(loss, [inputs, *layer.trainable_variables])
    return outputs.numpy(), [g.numpy() for g in gradients]


@pytest.mark.parametrize(
    ("shape", "options"),
    [
        ((64, 30), {}),
        ((16, 7, 7, 12), {}),
        ((64, 30), {"center": False, "scale": False}),
        ((8, 5, 6), {}),  # rank 3: handed to the Keras layer
    ],
    ids=["dense", "convolution", "no-offset-no-scale", "rank-3"],
)
def test_fused_batch_normalization_trains_and_infers_as_keras(shape, options):
    rng = np.random.default_rng(0)
    inputs = rng.normal(2.0, 3.0, shape).astype(np.float32)
    keras_layer = keras.layers.BatchNormalization(momentum=0.9, **options)
    fused_layer = layers.FusedBatchNormalization(momentum=0.9, **options)
    for layer in (keras_layer, fused_layer):
        layer.build(shape)
    for keras_weight, fused_weight in zip(keras_layer.weights, fused_layer.weights, strict=True):
        value = rng.normal(1.0, 0.5, keras_weight.shape).astype(np.float32)
        keras_weight.assign(np.abs(value) if "variance" in keras_weight.path else value)
        fused_weight.assign(keras_weight.numpy())

    keras_outputs, keras_gradients = _train_step(keras_layer, inputs)
    fused_outputs, fused_gradients = _train_step(fused_layer, inputs)

    np.testing.assert_allclose(fused_outputs, keras_outputs, rtol=1e-4, atol=1e-4)
    for fused_gradient, keras_gradient in zip(fused_gradients, keras_gradients, strict=True):
        np.testing.assert_allclose(fused_gradient, keras_gradient, rtol=1e-3, atol=1e-2)
    np.testing.assert_allclose(fused_layer.moving_mean.numpy(), keras_layer.moving_mean.numpy(), rtol=1e-5)
    np.testing.assert_allclose(fused_layer.moving_variance.numpy(), keras_layer.moving_variance.numpy(), rtol=1e-5)
    np.testing.assert_allclose(
        fused_layer(inputs, training=False).numpy(), keras_layer(inputs, training=False).numpy(), rtol=1e-5, atol=1e-5
    )


def test_fast_dropout_drops_at_the_rate_and_keeps_the_expected_value():
    inputs = np.ones((1000, 1001), np.float32)  # an odd count: the last random word is used by half
    outputs = layers.FastDropout(0.2, seed=3)(inputs, training=True).numpy()
    dropped = outputs == 0
    assert abs(dropped.mean() - 0.2) < 0.002
    kept_value = 2**16 / (2**16 - round(0.2 * 2**16))
    np.testing.assert_allclose(outputs[~dropped], kept_value)
    assert abs(outputs.mean() - 1.0) < 0.005
    # Dropped positions must not repeat along rows or columns, as they would if the mask were reused.
    assert not (dropped[0] == dropped[1]).all() and not (dropped[:, 0] == dropped[:, 1]).all()


def test_fast_dropout_repeats_with_the_seed_and_changes_between_steps():
    inputs = np.ones((64, 100), np.float32)

    def two_steps() -> list[np.ndarray]:
        keras.utils.set_random_seed(7)
        layer = layers.FastDropout(0.3)
        return [layer(inputs, training=True).numpy() for _ in range(2)]

    first, second = two_steps(), two_steps()
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])
    assert not np.array_equal(first[0], first[1])


@pytest.mark.parametrize("rate", [0.0, 0.5, 1.0])
def test_fast_dropout_at_inference_and_at_the_extreme_rates(rate):
    inputs = np.full((8, 9), 2.0, np.float32)
    layer = layers.FastDropout(rate)
    np.testing.assert_array_equal(layer(inputs, training=False).numpy(), inputs)
    if rate in (0.0, 1.0):
        np.testing.assert_array_equal(layer(inputs, training=True).numpy(), inputs * (1 - rate))


def test_models_with_the_fast_layers_save_and_load(tmp_path):
    model = builders.build_cnn(conv_blocks=1, filters=4, dropout_rate=0.2)
    images = np.random.default_rng(0).random((5, 28, 28), np.float32)
    path = tmp_path / "cnn.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert {type(layer) for layer in loaded.layers} >= {layers.FusedBatchNormalization, layers.FastDropout}
    np.testing.assert_allclose(loaded.predict(images, verbose=0), model.predict(images, verbose=0), rtol=1e-5)


def test_the_copy_for_saving_has_keras_layers_the_same_weights_and_predictions():
    model = builders.build_mlp(hidden_units=(32, 16), dropout_rates=0.3)
    images = np.random.default_rng(1).random((8, 28, 28), np.float32)
    model.fit(images, np.arange(8) % 10, epochs=1, verbose=0)
    copy = layers.with_keras_layers(model)
    kinds = {type(layer) for layer in copy.layers}
    assert {keras.layers.BatchNormalization, keras.layers.Dropout} <= kinds
    assert not kinds & {layers.FusedBatchNormalization, layers.FastDropout}
    assert [layer.name for layer in copy.layers] == [layer.name for layer in model.layers]
    for copied, original in zip(copy.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(copied, original)
    # The optimizer's state comes along, so training can go on from where it was.
    for copied, original in zip(copy.optimizer.variables, model.optimizer.variables, strict=True):
        np.testing.assert_array_equal(copied.numpy(), original.numpy())
    np.testing.assert_array_equal(copy.predict(images, verbose=0), model.predict(images, verbose=0))
