"""Grad-CAM, penultimate features and t-SNE on tiny constructed Keras models."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from fashion_lib.analysis import explain
from fashion_lib.config import IMAGE_SHAPE, NUM_CLASSES
from fashion_lib.models import builders


def signal_detector() -> keras.Model:
    """A model whose class-3 score is the image's mean brightness seen through one 1x1 convolution.

    Its last convolution's feature map is the image itself, so Grad-CAM for class 3 must be bright exactly
    where the image is bright. Two convolutions with odd names check that the last one is found by type.
    """
    inputs = keras.Input(shape=IMAGE_SHAPE)
    x = keras.layers.Reshape((*IMAGE_SHAPE, 1))(inputs)
    x = keras.layers.Conv2D(1, 1, use_bias=False, name="zz_first", kernel_initializer="ones")(x)
    x = keras.layers.Conv2D(1, 1, use_bias=False, name="aa_second", kernel_initializer="ones")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    head = keras.layers.Dense(NUM_CLASSES, activation="softmax", name="head")
    outputs = head(x)
    model = keras.Model(inputs, outputs)
    kernel = np.zeros((1, NUM_CLASSES), dtype=np.float32)
    kernel[0, 3] = 10.0
    head.set_weights([kernel, np.zeros(NUM_CLASSES, dtype=np.float32)])
    return model


def square_images(count: int = 3) -> np.ndarray:
    """Black images with a bright 6x6 square at a different place in each."""
    images = np.zeros((count, *IMAGE_SHAPE), dtype=np.float32)
    for index in range(count):
        top = 3 + 7 * index
        images[index, top : top + 6, 4 + 6 * index : 10 + 6 * index] = 1.0
    return images


def test_last_conv_layer_is_found_by_type_not_name() -> None:
    assert explain.last_conv_layer(signal_detector()).name == "aa_second"
    with pytest.raises(ValueError, match="no Conv2D layer"):
        explain.last_conv_layer(builders.build_mlp(hidden_units=8))


def test_grad_cam_highlights_where_the_signal_is() -> None:
    images = square_images()
    heatmaps = explain.grad_cam(signal_detector(), images, class_indices=[3, 3, 3])
    assert heatmaps.shape == (3, *IMAGE_SHAPE) and heatmaps.dtype == np.float32
    assert heatmaps.min() >= 0.0
    np.testing.assert_allclose(heatmaps.max(axis=(1, 2)), 1.0, rtol=1e-6)
    inside = images > 0
    for heatmap, mask in zip(heatmaps, inside, strict=True):
        assert heatmap[mask].mean() > 0.9
        # Bilinear resizing is the identity at full resolution, so nothing leaks outside the square.
        assert heatmap[~mask].max() < 1e-6


def test_grad_cam_defaults_to_the_predicted_class_and_is_zero_against_the_evidence() -> None:
    model = signal_detector()
    images = square_images(2)
    np.testing.assert_allclose(explain.grad_cam(model, images), explain.grad_cam(model, images, class_indices=[3, 3]))
    # Class 0's score does not depend on the image: no gradient, an all-zero (not NaN) heatmap.
    assert not np.any(explain.grad_cam(model, images, class_indices=[0, 0]))


def test_grad_cam_on_the_project_cnn_has_the_image_shape() -> None:
    cnn = builders.build_cnn(conv_blocks=2, filters=4)
    heatmaps = explain.grad_cam(cnn, np.random.default_rng(0).random((5, *IMAGE_SHAPE)), batch_size=2)
    assert heatmaps.shape == (5, *IMAGE_SHAPE)
    assert np.all((heatmaps >= 0) & (heatmaps <= 1))


def test_grad_cam_rejects_flat_images() -> None:
    with pytest.raises(ValueError, match=r"shape \(n, 28, 28\)"):
        explain.grad_cam(signal_detector(), np.zeros((2, 784)))


def test_penultimate_features_are_what_the_last_layer_receives() -> None:
    cnn = builders.build_cnn(conv_blocks=1, filters=4, dense_units=12)
    features = explain.penultimate_features(cnn, np.zeros((3, *IMAGE_SHAPE)))
    assert features.shape == (3, 12)


def test_the_whitened_cnn_is_explained_from_its_logits_and_its_pooled_features(small_split) -> None:
    from fashion_lib.models.whitened import build_whitened_cnn, whitening_kernel

    model = build_whitened_cnn(whitening_kernel(small_split["train_x"]), widths=(4, 8))
    images = small_split["val_x"][:3]
    # What the softmax layer receives, not the probabilities: Grad-CAM needs scores that do not saturate.
    scores_model, logits = explain._class_scores(model)
    _, scores = scores_model(images)
    np.testing.assert_allclose(keras.ops.softmax(logits(scores)).numpy(), model.predict(images, verbose=0), rtol=1e-4)
    assert explain.grad_cam(model, images).shape == (3, *IMAGE_SHAPE)
    # The features are the global pooling's 8 channels that the dense layer reads, not the 10 logits.
    assert explain.penultimate_features(model, images).shape == (3, 8)


def test_tsne_embedding_separates_two_distant_clusters() -> None:
    rng = np.random.default_rng(0)
    features = np.vstack([rng.normal(0, 1, (40, 20)), rng.normal(30, 1, (40, 20))])
    embedding = explain.tsne_embedding(features, seed=1, perplexity=10)
    assert embedding.shape == (80, 2)
    first, second = embedding[:40].mean(axis=0), embedding[40:].mean(axis=0)
    spread = max(embedding[:40].std(axis=0).max(), embedding[40:].std(axis=0).max())
    assert np.linalg.norm(first - second) > 3 * spread
    np.testing.assert_allclose(explain.tsne_embedding(features, seed=1, perplexity=10), embedding)


def test_neighbour_class_share_is_one_for_separate_clusters_and_lower_when_mixed() -> None:
    rng = np.random.default_rng(0)
    separate = np.vstack([rng.normal(0, 1, (30, 2)), rng.normal(50, 1, (30, 2))])
    labels = np.repeat([0, 6], 30)
    shares = explain.neighbour_class_share(separate, labels, neighbours=5)
    assert shares["T-shirt/top"] == 1.0 and shares["Shirt"] == 1.0 and shares.isna().sum() == NUM_CLASSES - 2
    mixed = explain.neighbour_class_share(rng.normal(0, 1, (60, 2)), labels, neighbours=5)
    assert mixed["Shirt"] < 0.8
