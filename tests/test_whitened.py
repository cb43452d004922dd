"""The whitened CNN (issue 27): its frozen first convolution whitens real image patches, and it saves and
loads with Keras alone."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from fashion_lib.analysis.compute import forward_flops
from fashion_lib.models.whitened import build_whitened_cnn, whitening_kernel


def test_the_kernel_is_the_patch_covariances_scaled_eigenvectors_and_their_negatives(small_split):
    images = small_split["train_x"][:300]
    kernel = whitening_kernel(images)
    assert kernel.shape == (2, 2, 1, 8)
    windows = np.lib.stride_tricks.sliding_window_view(images, (2, 2), axis=(1, 2)).reshape(-1, 4)
    eigenvalues, eigenvectors = np.linalg.eigh(np.cov(windows.astype(np.float64), rowvar=False))
    filters = kernel.reshape(4, 8)
    np.testing.assert_allclose(filters[:, :4], eigenvectors / np.sqrt(eigenvalues + 5e-4), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(filters[:, 4:], -filters[:, :4])


def test_the_first_layer_whitens_the_training_patches_and_stays_frozen(small_split):
    images = small_split["train_x"]
    model = build_whitened_cnn(whitening_kernel(images), widths=(8, 16))
    stem = model.get_layer("whitening")
    assert not stem.trainable and stem.trainable_weights == []
    responses = keras.Model(model.input, stem.output)(images[:200]).numpy().reshape(-1, 8)
    # Unit variance along each eigenvector, shrunk a little where the epsilon matters (near-flat directions).
    assert np.all((responses.std(axis=0) > 0.8) & (responses.std(axis=0) < 1.05))


def test_it_trains_saves_and_loads_with_keras_alone(small_split, tmp_path):
    model = build_whitened_cnn(whitening_kernel(small_split["train_x"]), widths=(8, 16), steps_per_execution=1)
    frozen = model.get_layer("whitening").get_weights()[0].copy()
    model.fit(small_split["train_x"][:256], small_split["train_y"][:256], epochs=1, batch_size=64, verbose=0)
    np.testing.assert_array_equal(model.get_layer("whitening").get_weights()[0], frozen)
    model.save(tmp_path / "whitened.keras")
    loaded = keras.saving.load_model(tmp_path / "whitened.keras")
    np.testing.assert_allclose(
        loaded.predict(small_split["val_x"][:50], verbose=0), model.predict(small_split["val_x"][:50], verbose=0)
    )
    assert loaded.optimizer.nesterov


def test_its_forward_pass_costs_less_than_a_learned_full_resolution_block():
    kernel = np.zeros((2, 2, 1, 8), dtype=np.float32)
    # The stem: 27 x 27 positions x 8 filters x 4 weights x 2.
    stem = 2 * 27 * 27 * 8 * 4
    first_conv = 2 * 27 * 27 * 48 * 8 * 9
    assert (
        forward_flops(build_whitened_cnn(kernel, widths=(48,)))
        == stem + first_conv + 2 * 13 * 13 * 48 * 48 * 9 + 2 * 48 * 10
    )


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="greyscale images"):
        whitening_kernel(np.zeros((0, 28, 28)))
    with pytest.raises(ValueError, match="widths must be one or more"):
        build_whitened_cnn(np.zeros((2, 2, 1, 8)), widths=())


def test_a_model_built_without_a_kernel_gets_it_from_the_images_train_model_trains_on(small_split):
    from fashion_lib.training.fit import train_model

    model = build_whitened_cnn(widths=(8,), steps_per_execution=1)
    assert not model.get_layer("whitening").get_weights()[0].any()
    train_model(
        model, small_split["train_x"][:128], small_split["train_y"][:128], small_split["val_x"][:64],
        small_split["val_y"][:64], epochs=1, batch_size=64, progress=False,
    )  # fmt: skip
    np.testing.assert_allclose(
        model.get_layer("whitening").get_weights()[0], whitening_kernel(small_split["train_x"][:128]), rtol=1e-5
    )


def test_adapting_from_a_dataset_reads_its_images_and_a_model_without_the_layer_is_left_alone(small_split):
    import tensorflow as tf

    from fashion_lib.models.builders import build_mlp
    from fashion_lib.models.whitened import adapt_whitening

    images = small_split["train_x"][:300]
    dataset = tf.data.Dataset.from_tensor_slices((images, small_split["train_y"][:300])).batch(64)
    model = build_whitened_cnn(widths=(8,))
    assert adapt_whitening(model, dataset)
    np.testing.assert_allclose(model.get_layer("whitening").get_weights()[0], whitening_kernel(images), rtol=1e-5)
    assert not adapt_whitening(build_mlp(hidden_units=(16,), dropout_rates=(0.1,), l2_factors=(0.0,)), images)


def test_the_whitened_space_is_searched_and_rebuilt_like_the_others(small_split, tmp_path):
    from fashion_lib.models.hypermodels import WHITENED_WEIGHT_DECAY, make_hypermodel
    from fashion_lib.models.search_space import build_from_hyperparameters, declare_search_space, default_values

    hypermodel = make_hypermodel("cnn", "whitened")
    assert default_values(declare_search_space(hypermodel)) == {"width": 48, "learning_rate": 0.05}
    model = build_from_hyperparameters("cnn", {"width": 32, "learning_rate": 0.02}, space="whitened")
    assert [model.get_layer(f"block_{i}_conv_1").filters for i in range(3)] == [32, 64, 128]
    assert float(model.optimizer.learning_rate) == pytest.approx(0.02)
    assert model.optimizer.weight_decay == pytest.approx(WHITENED_WEIGHT_DECAY) and WHITENED_WEIGHT_DECAY > 0
    # A trial's fit sets the stem from its training images before training.
    import keras_tuner

    hp = keras_tuner.HyperParameters()
    hp.values.update({"width": 32, "learning_rate": 0.02})
    x, y = small_split["train_x"][:128], small_split["train_y"][:128]
    hypermodel.fit(hp, model, x, y, epochs=1, batch_size=64, verbose=0)
    np.testing.assert_allclose(model.get_layer("whitening").get_weights()[0], whitening_kernel(x), rtol=1e-5)
    with pytest.raises(ValueError, match="'whitened' search space is the CNN's"):
        make_hypermodel("mlp", "whitened")
