"""Explanations of a Keras model: Grad-CAM heatmaps and a t-SNE map of its penultimate-layer features."""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import pandas as pd
import tensorflow as tf
from sklearn.decomposition import PCA
from sklearn.manifold import TSNE
from sklearn.neighbors import NearestNeighbors

from fashion_lib import config


def last_conv_layer(model: keras.Model) -> keras.layers.Conv2D:
    """The model's last Conv2D layer, found by type so that layer names do not matter."""
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    if not convs:
        raise ValueError(f"Model {model.name!r} has no Conv2D layer: Grad-CAM needs a convolutional model (the CNN).")
    return convs[-1]


def _class_scores(model: keras.Model) -> tuple[keras.Model, Any]:
    """A model from the inputs to (last conv output, features of the last layer), and a function giving logits.

    Grad-CAM differentiates the class score before softmax: softmax saturates near probability 1, which
    would make a confidently classified image's gradients, and so its heatmap, vanish.
    """
    conv = last_conv_layer(model)
    head = model.layers[-1]
    if isinstance(head, keras.layers.Dense):
        inner = keras.Model(model.input, [conv.output, head.input])

        def logits(features: tf.Tensor) -> tf.Tensor:
            return tf.matmul(features, head.kernel) + (head.bias if head.use_bias else 0.0)

        return inner, logits
    if isinstance(head, keras.layers.Activation) and head.get_config()["activation"] == "softmax":
        # A separate softmax layer (the whitened CNN's): what it receives are the logits.
        return keras.Model(model.input, [conv.output, head.input]), lambda outputs: outputs
    # A model ending in neither: fall back to its output scores.
    return keras.Model(model.input, [conv.output, model.output]), lambda outputs: outputs


def grad_cam(model: keras.Model, images: Any, *, class_indices: Any | None = None, batch_size: int = 64) -> np.ndarray:
    """Grad-CAM heatmaps (Selvaraju et al., 2017) at the last Conv2D layer, one per image.

    Each heatmap is ReLU(sum_k alpha_k A_k), with A_k the k-th feature map of the last convolution and
    alpha_k the spatial mean of d(class score)/d(A_k), resized to the image size and scaled so that its
    maximum is 1 (an all-zero heatmap stays zero).

    Args:
        model: a Keras functional model with at least one Conv2D layer.
        images: (n, 28, 28) images scaled as the model expects.
        class_indices: the class explained for each image; default: the model's predicted class.
        batch_size: images per gradient computation.

    Returns:
        A float32 array of shape (n, 28, 28) with values in [0, 1].
    """
    images = np.asarray(images, dtype=np.float32)
    if images.ndim != 3 or images.shape[1:] != config.IMAGE_SHAPE:
        raise ValueError(f"images must have shape (n, 28, 28), got {images.shape}.")
    inner, logits = _class_scores(model)
    if class_indices is not None:
        class_indices = np.asarray(class_indices, dtype=np.int64)
        if class_indices.shape != (len(images),):
            raise ValueError(f"class_indices must hold one class per image ({len(images)}), got {class_indices.shape}.")
    heatmaps = []
    for start in range(0, len(images), batch_size):
        batch = tf.convert_to_tensor(images[start : start + batch_size])
        with tf.GradientTape() as tape:
            feature_maps, features = inner(batch, training=False)
            scores = logits(features)
            chosen = (
                tf.argmax(scores, axis=1)
                if class_indices is None
                else tf.constant(class_indices[start : start + batch_size])
            )
            target = tf.gather(scores, chosen, axis=1, batch_dims=1)
        gradients = tape.gradient(target, feature_maps)
        weights = tf.reduce_mean(gradients, axis=(1, 2), keepdims=True)
        cam = tf.nn.relu(tf.reduce_sum(weights * feature_maps, axis=-1, keepdims=True))
        cam = tf.image.resize(cam, config.IMAGE_SHAPE, method="bilinear")[..., 0].numpy()
        peak = cam.max(axis=(1, 2), keepdims=True)
        heatmaps.append(np.divide(cam, peak, out=np.zeros_like(cam), where=peak > 0))
    if not heatmaps:
        return np.zeros((0, *config.IMAGE_SHAPE), dtype=np.float32)
    return np.concatenate(heatmaps).astype(np.float32)


def penultimate_features(model: keras.Model, images: Any, *, batch_size: int = 512) -> np.ndarray:
    """What the model's last Dense layer receives (its learned representation), one row per image; for a model
    without one, what its last layer receives."""
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    extractor = keras.Model(model.input, (dense[-1] if dense else model.layers[-1]).input)
    features = extractor.predict(np.asarray(images, dtype=np.float32), batch_size=batch_size, verbose=0)
    return features.reshape(len(features), -1)


def tsne_embedding(
    features: Any, *, seed: int, perplexity: float = config.TSNE_PERPLEXITY, pca_components: int = 50
) -> np.ndarray:
    """A 2-D t-SNE map of `features`, after PCA to `pca_components` dimensions (fast, and denoises).

    Returns an (n, 2) array. t-SNE keeps neighbourhoods, not distances: clusters mean something, the
    gaps between them and their sizes do not.
    """
    array = np.asarray(features, dtype=np.float32)
    if array.ndim != 2 or len(array) < 5:
        raise ValueError(f"features must be an (n, d) array with at least 5 rows, got shape {array.shape}.")
    if not 0 < perplexity < len(array):
        raise ValueError(f"perplexity must lie between 0 and the number of rows ({len(array)}), got {perplexity}.")
    components = min(pca_components, array.shape[1], len(array))
    reduced = PCA(n_components=components, random_state=seed).fit_transform(array)
    tsne = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed)
    return tsne.fit_transform(reduced)


def neighbour_class_share(embedding: Any, labels: Any, *, neighbours: int = 10) -> pd.Series:
    """Per class, the mean share of each point's `neighbours` nearest points in `embedding` that share its class.

    A number to go with a t-SNE map: near 1, the class forms its own cluster; low, it is mixed with others.
    """
    points = np.asarray(embedding, dtype=np.float64)
    classes = np.asarray(labels, dtype=np.int64)
    if points.ndim != 2 or len(points) != len(classes) or len(points) <= neighbours:
        raise ValueError(
            f"embedding ({points.shape}) and labels ({classes.shape}) must have the same number of rows, "
            f"more than neighbours={neighbours}."
        )
    # The nearest point to each point is itself: ask for one more and drop it.
    _, index = NearestNeighbors(n_neighbors=neighbours + 1).fit(points).kneighbors(points)
    same = (classes[index[:, 1:]] == classes[:, None]).mean(axis=1)
    shares = pd.Series(same).groupby(classes).mean()
    return shares.reindex(range(config.NUM_CLASSES)).set_axis(pd.Index(config.CLASS_NAMES, name="class"))
